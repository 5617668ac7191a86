package kube

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"time"

	"golang.org/x/oauth2"
	authnv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport"
)

// RBACManifest is the controller's least-privilege access: a ServiceAccount
// in corral-system, a ClusterRole for Nodes, pod listing and eviction, and a
// Role for secrets in kube-system only.
//
//go:embed rbac.yaml
var RBACManifest []byte

// The ServiceAccount rbac.yaml creates.
const (
	ServiceAccountNamespace = "corral-system"
	ServiceAccountName      = "corral-controller"
)

// The restricted client's request rate limit.
const (
	ClientQPS   = 200
	ClientBurst = 400
)

// tokenLifetime is how long each requested token is valid; tokens are
// renewed a few minutes before they expire.
const tokenLifetime = time.Hour

// Bootstrap applies RBACManifest with the administrator's credential and
// returns a configuration authenticated as the controller's ServiceAccount
// (tokens from the TokenRequest API, renewed before they expire using admin).
// Everything the reconciler does afterwards goes through that restricted
// configuration.
func Bootstrap(ctx context.Context, admin *rest.Config) (*rest.Config, error) {
	cs, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	objs, err := decodeManifest(RBACManifest)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		if err := apply(ctx, cs, o); err != nil {
			return nil, err
		}
	}
	ts := &saTokens{cs: cs}
	if _, err := ts.Token(); err != nil { // fail now, not on first use
		return nil, err
	}
	cfg := rest.AnonymousClientConfig(admin) // server and CA, no credential
	// client-go's default (5/s, bursts of 10) would take minutes to label
	// a thousand Nodes after a profile change.
	cfg.QPS, cfg.Burst = ClientQPS, ClientBurst
	cfg.UserAgent = "corral-controller"
	cfg.WrapTransport = transport.ResettableTokenSourceWrapTransport(transport.NewCachedTokenSource(ts))
	return cfg, nil
}

// saTokens asks the TokenRequest API for the ServiceAccount's tokens.
type saTokens struct{ cs kubernetes.Interface }

func (s *saTokens) Token() (*oauth2.Token, error) {
	sec := int64(tokenLifetime.Seconds())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr, err := s.cs.CoreV1().ServiceAccounts(ServiceAccountNamespace).CreateToken(ctx, ServiceAccountName,
		&authnv1.TokenRequest{Spec: authnv1.TokenRequestSpec{ExpirationSeconds: &sec}}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("request a token for %s/%s: %w", ServiceAccountNamespace, ServiceAccountName, err)
	}
	exp := tr.Status.ExpirationTimestamp.Time
	// Renew early: a token must not expire while a request is on its way.
	if early := exp.Add(-5 * time.Minute); early.After(time.Now()) {
		exp = early
	}
	return &oauth2.Token{AccessToken: tr.Status.Token, TokenType: "Bearer", Expiry: exp}, nil
}

func decodeManifest(b []byte) ([]runtime.Object, error) {
	r := utilyaml.NewYAMLReader(bufioReader(b))
	var out []runtime.Object
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read rbac.yaml: %w", err)
		}
		if len(bytes.TrimSpace(stripComments(doc))) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			return nil, fmt.Errorf("decode rbac.yaml: %w", err)
		}
		out = append(out, obj)
	}
}

// apply creates the object, or replaces the existing one's contents.
func apply(ctx context.Context, cs kubernetes.Interface, obj runtime.Object) error {
	var err error
	var name string
	switch o := obj.(type) {
	case *corev1.Namespace:
		name = "namespace " + o.Name
		_, err = cs.CoreV1().Namespaces().Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	case *corev1.ServiceAccount:
		name = "serviceaccount " + o.Namespace + "/" + o.Name
		_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, metav1.CreateOptions{})
		if apierrors.IsAlreadyExists(err) {
			err = nil
		}
	case *rbacv1.ClusterRole:
		name = "clusterrole " + o.Name
		c := cs.RbacV1().ClusterRoles()
		if _, err = c.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.ClusterRole
			if cur, err = c.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Rules = o.Rules
				_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.ClusterRoleBinding:
		name = "clusterrolebinding " + o.Name
		c := cs.RbacV1().ClusterRoleBindings()
		if _, err = c.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.ClusterRoleBinding
			if cur, err = c.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Subjects = o.Subjects // roleRef is immutable
				_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.Role:
		name = "role " + o.Namespace + "/" + o.Name
		c := cs.RbacV1().Roles(o.Namespace)
		if _, err = c.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.Role
			if cur, err = c.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Rules = o.Rules
				_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	case *rbacv1.RoleBinding:
		name = "rolebinding " + o.Namespace + "/" + o.Name
		c := cs.RbacV1().RoleBindings(o.Namespace)
		if _, err = c.Create(ctx, o, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
			var cur *rbacv1.RoleBinding
			if cur, err = c.Get(ctx, o.Name, metav1.GetOptions{}); err == nil {
				cur.Subjects = o.Subjects
				_, err = c.Update(ctx, cur, metav1.UpdateOptions{})
			}
		}
	default:
		return fmt.Errorf("rbac.yaml: unexpected object %T", obj)
	}
	if err != nil {
		return fmt.Errorf("apply %s: %w (is the kubeconfig a cluster administrator's?)", name, err)
	}
	return nil
}

func bufioReader(b []byte) *bufio.Reader { return bufio.NewReader(bytes.NewReader(b)) }

// stripComments drops YAML comment lines, so a document of only comments is
// seen as empty.
func stripComments(doc []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(doc, []byte("\n")) {
		if t := bytes.TrimSpace(l); len(t) > 0 && t[0] != '#' {
			out = append(out, l...)
			out = append(out, '\n')
		}
	}
	return out
}
