package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"corral.io/corral/internal/kubetest"
)

// One API server for the package: starting one costs seconds. Tests use
// distinct node names.
var (
	envOnce sync.Once
	env     *kubetest.Env
	envErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if env != nil {
		env.Stop()
	}
	os.Exit(code)
}

func cluster(t *testing.T) *kubetest.Env {
	t.Helper()
	kubetest.SkipIfShort(t)
	envOnce.Do(func() { env, envErr = kubetest.Start(kubetest.Options{}) })
	if errors.Is(envErr, kubetest.ErrMissingBinaries) {
		t.Skip(envErr.Error())
	}
	if envErr != nil {
		t.Fatalf("start Kubernetes API server: %v", envErr)
	}
	return env
}

// restricted is the reconciler's own credential, from Bootstrap.
func restricted(t *testing.T, e *kubetest.Env) kubernetes.Interface {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg, err := Bootstrap(ctx, e.Config)
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, cfg)
}

func clientFor(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// kubelet is a node's own client: it creates its Node as a kubelet does,
// so the Node authorizer and NodeRestriction apply.
func kubelet(t *testing.T, e *kubetest.Env, name string) kubernetes.Interface {
	t.Helper()
	cfg, err := e.KubeletConfig(name)
	if err != nil {
		t.Fatal(err)
	}
	return clientFor(t, cfg)
}

func registerNode(t *testing.T, kc kubernetes.Interface, name string, labels map[string]string, ready bool) {
	t.Helper()
	ctx := context.Background()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	created, err := kc.CoreV1().Nodes().Create(ctx, n, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("kubelet creates its Node: %v", err)
	}
	setReady(t, kc, created.Name, ready)
}

func setReady(t *testing.T, kc kubernetes.Interface, name string, ready bool) {
	t.Helper()
	ctx := context.Background()
	n, err := kc.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: status, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if _, err := kc.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("kubelet updates its Node status: %v", err)
	}
}

// desired is a Desired the test changes.
type desired struct {
	mu sync.Mutex
	ms map[string]Machine
}

func (d *desired) Machines() ([]Machine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Collect(maps.Values(d.ms)), nil
}

func (d *desired) set(m Machine) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.ms[m.Name] = m
}

func (d *desired) drop(name string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	delete(d.ms, name)
}

// readiness records what the reconciler reports.
type readiness struct {
	mu   sync.Mutex
	last map[string]bool
}

func (r *readiness) NodeReady(id string, ready bool, _ string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.last[id] = ready
}

func (r *readiness) get(id string) (bool, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	v, ok := r.last[id]
	return v, ok
}

func startReconciler(t *testing.T, cs kubernetes.Interface, d Desired, s Sink) *Reconciler {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := New(cs, d, s, Options{Logger: log})
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("reconciler: %v", err)
		}
	})
	select {
	case <-r.Synced():
	case err := <-done:
		t.Fatalf("reconciler ended: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("reconciler did not sync in 30 s")
	}
	return r
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

var _ io.Writer = testWriter{}

// eventually polls cond until it holds or 20 s pass.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last string
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not reached in 20 s; last: %s", what, last)
}

// nodeIs waits until the Node has exactly these labels (besides
// kubernetes.io/hostname-like ones the test does not list, which must be
// absent) and taints.
func nodeIs(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string, taints []corev1.Taint) {
	t.Helper()
	eventually(t, "node "+name+" labels and taints", func() (bool, string) {
		n, err := cs.CoreV1().Nodes().Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err.Error()
		}
		var got []corev1.Taint
		for _, tt := range n.Spec.Taints {
			got = append(got, corev1.Taint{Key: tt.Key, Value: tt.Value, Effect: tt.Effect})
		}
		d := cmp.Diff(labels, n.Labels) + cmp.Diff(taints, got)
		return d == "", d
	})
}

func TestReconcilerLabelsTaintsAndCleansUp(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	ctx := context.Background()

	// The kubelet registers with what it may set on itself.
	registerNode(t, kubelet(t, e, "w1"), "w1", map[string]string{"corral.io/hw": "x", "kubernetes.io/hostname": "w1"}, false)
	// An operator adds a label and a taint of their own.
	n, err := admin.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Labels["example.com/team"] = "a"
	others := corev1.Taint{Key: "example.com/maintenance", Effect: corev1.TaintEffectNoSchedule}
	n.Spec.Taints = append(n.Spec.Taints, others)
	// The API server's TaintNodesByCondition admission gave the new Node
	// this one: another taint Corral must leave alone.
	notReady := corev1.Taint{Key: "node.kubernetes.io/not-ready", Effect: corev1.TaintEffectNoSchedule}
	if _, err := admin.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}

	gpu := corev1.Taint{Key: "nvidia.com/gpu", Value: "true", Effect: corev1.TaintEffectNoSchedule}
	d := &desired{ms: map[string]Machine{}}
	d.set(Machine{ID: "id-w1", Name: "w1", Role: "gpu", Labels: map[string]string{"corral.io/profile": "gpu", "node.kubernetes.io/pool": "p1"}, Taints: []corev1.Taint{gpu}})
	sink := &readiness{last: map[string]bool{}}
	r := startReconciler(t, cs, d, sink)

	base := map[string]string{"corral.io/hw": "x", "kubernetes.io/hostname": "w1", "example.com/team": "a"}
	with := func(extra map[string]string) map[string]string {
		out := maps.Clone(base)
		maps.Copy(out, extra)
		return out
	}
	t.Run("applies role, profile labels and taints", func(t *testing.T) {
		nodeIs(t, admin, "w1", with(map[string]string{"corral.io/profile": "gpu", "node.kubernetes.io/pool": "p1", "node-role.kubernetes.io/gpu": "true"}),
			[]corev1.Taint{notReady, others, gpu})
	})
	t.Run("reports readiness", func(t *testing.T) {
		eventually(t, "NotReady reported", func() (bool, string) {
			v, ok := sink.get("id-w1")
			return ok && !v, fmt.Sprint(v, ok)
		})
		setReady(t, kubelet(t, e, "w1"), "w1", true)
		eventually(t, "Ready reported", func() (bool, string) {
			v, ok := sink.get("id-w1")
			return ok && v, fmt.Sprint(v, ok)
		})
	})
	t.Run("follows a profile change and removes only what it owns", func(t *testing.T) {
		d.set(Machine{ID: "id-w1", Name: "w1", Role: "compute", Labels: map[string]string{"corral.io/profile": "compute"},
			Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "false", Effect: corev1.TaintEffectNoSchedule}}})
		r.Changed()
		nodeIs(t, admin, "w1", with(map[string]string{"corral.io/profile": "compute", "node-role.kubernetes.io/compute": "true"}),
			[]corev1.Taint{notReady, others, {Key: "nvidia.com/gpu", Value: "false", Effect: corev1.TaintEffectNoSchedule}})
	})
	t.Run("puts back a label someone removed", func(t *testing.T) {
		patch := []byte(`{"metadata":{"labels":{"node-role.kubernetes.io/compute":null}}}`)
		if _, err := admin.CoreV1().Nodes().Patch(ctx, "w1", "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		nodeIs(t, admin, "w1", with(map[string]string{"corral.io/profile": "compute", "node-role.kubernetes.io/compute": "true"}),
			[]corev1.Taint{notReady, others, {Key: "nvidia.com/gpu", Value: "false", Effect: corev1.TaintEffectNoSchedule}})
	})
	t.Run("a machine no longer registered loses everything Corral set, nothing else", func(t *testing.T) {
		d.drop("w1")
		r.Changed()
		nodeIs(t, admin, "w1", base, []corev1.Taint{notReady, others})
		n, err := admin.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range []string{OwnedLabelsAnnotation, OwnedTaintsAnnotation} {
			if v, ok := n.Annotations[a]; ok {
				t.Errorf("annotation %s=%q left behind", a, v)
			}
		}
	})
}

func TestKubeletCannotSetRoleLabels(t *testing.T) {
	// Why the controller must apply role labels: NodeRestriction refuses them
	// from the kubelet, and the harness enforces that like a real cluster.
	e := cluster(t)
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w-self", Labels: map[string]string{"node-role.kubernetes.io/gpu": "true"}}}
	_, err := kubelet(t, e, "w-self").CoreV1().Nodes().Create(context.Background(), n, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Fatalf("kubelet creating its Node with a role label: got %v, want Forbidden", err)
	}
}

func TestRestrictedCredentialIsRefusedWhatItDoesNotNeed(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	ctx := context.Background()
	secret := func(ns, name string) *corev1.Secret {
		return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, StringData: map[string]string{"k": "v"}}
	}
	if _, err := admin.CoreV1().Secrets("default").Create(ctx, secret("default", "app"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		call func() error
	}{
		{"create a secret in kube-system", func() error {
			_, err := cs.CoreV1().Secrets("kube-system").Create(ctx, secret("kube-system", "x"), metav1.CreateOptions{})
			return err
		}},
		{"read a secret outside kube-system", func() error {
			_, err := cs.CoreV1().Secrets("default").Get(ctx, "app", metav1.GetOptions{})
			return err
		}},
		{"delete a secret outside kube-system", func() error {
			return cs.CoreV1().Secrets("default").Delete(ctx, "app", metav1.DeleteOptions{})
		}},
		{"list secrets in kube-system", func() error {
			_, err := cs.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{})
			return err
		}},
		{"delete a namespace", func() error {
			return cs.CoreV1().Namespaces().Delete(ctx, "default", metav1.DeleteOptions{})
		}},
		{"create a node", func() error {
			_, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rogue"}}, metav1.CreateOptions{})
			return err
		}},
		{"update a node's status", func() error {
			_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "rogue"}}, metav1.UpdateOptions{})
			return err
		}},
		{"create a pod", func() error {
			p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
			_, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{})
			return err
		}},
		{"delete a pod (eviction only)", func() error {
			return cs.CoreV1().Pods("default").Delete(ctx, "p", metav1.DeleteOptions{})
		}},
		{"change its own RBAC", func() error {
			return cs.RbacV1().ClusterRoles().Delete(ctx, "corral-controller", metav1.DeleteOptions{})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !apierrors.IsForbidden(err) {
				t.Errorf("got %v, want Forbidden", err)
			}
		})
	}
	t.Run("allowed: read a kube-system secret, list nodes and pods", func(t *testing.T) {
		if _, err := cs.CoreV1().Secrets("kube-system").Get(ctx, "none", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("get kube-system secret: %v, want NotFound", err)
		}
		if _, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list nodes: %v", err)
		}
		if _, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{}); err != nil {
			t.Errorf("list pods: %v", err)
		}
	})
}

func TestForgetNodePassword(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	ctx := context.Background()
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: NodePasswordSecret("w2")}, StringData: map[string]string{"hash": "x"}}
	if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, s, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := ForgetNodePassword(ctx, cs, "w2"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Secrets("kube-system").Get(ctx, s.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("secret still there: %v", err)
	}
	if err := ForgetNodePassword(ctx, cs, "w2"); err != nil {
		t.Fatalf("second time (nothing to delete): %v", err)
	}
}

func TestDecommissionDrainsAndDeletes(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	kc := kubelet(t, e, "w3")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	registerNode(t, kc, "w3", nil, true)
	defaultServiceAccount(t, admin)
	pod := func(name string, owner *metav1.OwnerReference) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
			Spec:       corev1.PodSpec{NodeName: "w3", Containers: []corev1.Container{{Name: "c", Image: "x"}}},
		}
		if owner != nil {
			p.OwnerReferences = []metav1.OwnerReference{*owner}
		}
		return p
	}
	yes := true
	ds := &metav1.OwnerReference{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "0000", Controller: &yes}
	for _, p := range []*corev1.Pod{pod("app", nil), pod("ds-agent", ds)} {
		if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		_ = admin.CoreV1().Pods("default").Delete(context.Background(), "ds-agent", *metav1.NewDeleteOptions(0))
	})
	if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: NodePasswordSecret("w3")}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The kubelet finishes evicted pods: a terminating pod is removed at once.
	go func() {
		for ctx.Err() == nil {
			pods, err := kc.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: "spec.nodeName=w3"})
			if err == nil {
				for _, p := range pods.Items {
					if p.DeletionTimestamp != nil {
						_ = kc.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, *metav1.NewDeleteOptions(0))
					}
				}
			}
			time.Sleep(100 * time.Millisecond)
		}
	}()
	if err := Decommission(ctx, cs, "w3", DrainOptions{Timeout: 30 * time.Second, Poll: 100 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Nodes().Get(ctx, "w3", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node still there: %v", err)
	}
	if _, err := admin.CoreV1().Pods("default").Get(ctx, "app", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("pod app not evicted: %v", err)
	}
	if _, err := admin.CoreV1().Pods("default").Get(ctx, "ds-agent", metav1.GetOptions{}); err != nil {
		t.Errorf("DaemonSet pod must be left alone: %v", err)
	}
	if _, err := admin.CoreV1().Secrets("kube-system").Get(ctx, NodePasswordSecret("w3"), metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node-password secret still there: %v", err)
	}
	t.Run("a Node that is already gone is not an error", func(t *testing.T) {
		if err := Decommission(ctx, cs, "w3", DrainOptions{Timeout: time.Second}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestDecommissionTimesOutOnAStuckPod(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	ctx := context.Background()
	registerNode(t, kubelet(t, e, "w4"), "w4", nil, true)
	defaultServiceAccount(t, admin)
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "stuck", Namespace: "default"}, Spec: corev1.PodSpec{NodeName: "w4", Containers: []corev1.Container{{Name: "c", Image: "x"}}}}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.CoreV1().Pods("default").Delete(context.Background(), "stuck", *metav1.NewDeleteOptions(0))
	})
	// No kubelet finishes the eviction: the pod stays terminating.
	err := Decommission(ctx, cs, "w4", DrainOptions{Timeout: 2 * time.Second, Poll: 100 * time.Millisecond})
	if err == nil {
		t.Fatal("want an error naming the pod left behind")
	}
	t.Logf("error (expected): %v", err)
	if _, err := admin.CoreV1().Nodes().Get(ctx, "w4", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("node must be deleted after the timeout all the same: %v", err)
	}
}

// defaultServiceAccount creates what kube-controller-manager (not run by the
// harness) would: the ServiceAccount pods in "default" get.
func defaultServiceAccount(t *testing.T, admin kubernetes.Interface) {
	t.Helper()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "default"}}
	if _, err := admin.CoreV1().ServiceAccounts("default").Create(context.Background(), sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		t.Fatal(err)
	}
}

func TestDecommissionRespectsDisruptionBudgets(t *testing.T) {
	e := cluster(t)
	cs := restricted(t, e)
	admin := clientFor(t, e.Config)
	ctx := context.Background()
	registerNode(t, kubelet(t, e, "w5"), "w5", nil, true)
	defaultServiceAccount(t, admin)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "default", Labels: map[string]string{"app": "guarded"}},
		Spec:       corev1.PodSpec{NodeName: "w5", Containers: []corev1.Container{{Name: "c", Image: "x"}}},
	}
	if _, err := admin.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.CoreV1().Pods("default").Delete(context.Background(), "guarded", *metav1.NewDeleteOptions(0))
	})
	// Its kubelet reports it running and ready (an unready pod may be
	// evicted whatever the budget says).
	kc := kubelet(t, e, "w5")
	cur, err := kc.CoreV1().Pods("default").Get(ctx, "guarded", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cur.Status.Phase = corev1.PodRunning
	cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := kc.CoreV1().Pods("default").UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err != nil {
		t.Fatalf("kubelet reports its pod ready: %v", err)
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: "guarded", Namespace: "default"},
		Spec:       policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
	}
	if _, err := admin.PolicyV1().PodDisruptionBudgets("default").Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.PolicyV1().PodDisruptionBudgets("default").Delete(context.Background(), "guarded", metav1.DeleteOptions{})
	})
	err = Decommission(ctx, cs, "w5", DrainOptions{Timeout: 2 * time.Second, Poll: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "default/guarded") {
		t.Fatalf("got %v, want the drain to stop at the budget and name the pod", err)
	}
	t.Logf("error (expected): %v", err)
	got, gerr := admin.CoreV1().Pods("default").Get(ctx, "guarded", metav1.GetOptions{})
	if gerr != nil || got.DeletionTimestamp != nil {
		t.Errorf("the budget's pod must not be evicted: %v, deletion %v", gerr, got.DeletionTimestamp)
	}
}
