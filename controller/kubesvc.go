package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/kube"
	"corral.io/corral/controller/registry"
	"corral.io/corral/profiles"
)

// passwordCleanupTimeout bounds the synchronous node-password cleanup that
// runs while a re-booted node is fetching its configuration.
const passwordCleanupTimeout = 2 * time.Second

// addKube starts the Kubernetes Node reconciler when kube.kubeconfig is set
// (docs/kube.md), and makes a node's readiness depend on its Node's.
func (d *Daemon) addKube(cfg *config.Controller, reg *registry.Store, ps *profileSet) error {
	if !cfg.Kube.Enabled() {
		d.log.Info("kubernetes reconciliation disabled: kube.kubeconfig is not set, so Nodes get no role labels from Corral and a node is ready on its agent's report alone (docs/kube.md)")
		return nil
	}
	s := &kubeService{
		kubeconfig: cfg.Kube.Kubeconfig,
		drain:      cfg.Kube.DrainTimeout.Duration,
		reg:        reg,
		desired:    kubeDesired{reg: reg, profiles: ps, log: d.log.With("svc", "kube")},
		log:        d.log.With("svc", "kube"),
	}
	reg.RequireKubeReady()
	reg.Watch(s.registryEvent)
	d.services = append(d.services, namedService{"kube", s})
	return nil
}

// kubeService connects to the cluster (waiting for the kubeconfig, which
// k3s writes at its first start), sets up the controller's own
// least-privilege credential and runs the reconciler, again after a failure.
type kubeService struct {
	kubeconfig string
	drain      time.Duration
	reg        *registry.Store
	desired    kube.Desired
	log        *slog.Logger

	mu     sync.Mutex
	ctx    context.Context
	client kubernetes.Interface // restricted; nil until connected
	rec    *kube.Reconciler
}

func (s *kubeService) Run(ctx context.Context) error {
	s.mu.Lock()
	s.ctx = ctx
	s.mu.Unlock()
	backoff := time.Second
	for {
		err := s.runOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		s.log.Warn("kubernetes reconciler stopped; retrying", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Minute)
	}
}

func (s *kubeService) runOnce(ctx context.Context) error {
	if _, err := os.Stat(s.kubeconfig); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("kube.kubeconfig %s does not exist yet (k3s writes it at its first start)", s.kubeconfig)
	}
	admin, err := clientcmd.BuildConfigFromFlags("", s.kubeconfig)
	if err != nil {
		return fmt.Errorf("kube.kubeconfig %s: %w", s.kubeconfig, err)
	}
	restricted, err := kube.Bootstrap(ctx, admin)
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(restricted)
	if err != nil {
		return err
	}
	rec := kube.New(cs, s.desired, kubeSink{reg: s.reg, log: s.log}, kube.Options{Logger: s.log})
	s.mu.Lock()
	s.client, s.rec = cs, rec
	s.mu.Unlock()
	s.log.Info("connected to kubernetes", "host", admin.Host, "as", kube.ServiceAccountNamespace+"/"+kube.ServiceAccountName)
	return rec.Run(ctx)
}

func (s *kubeService) connected() (context.Context, kubernetes.Interface, *kube.Reconciler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ctx, s.client, s.rec
}

// registryEvent reacts to committed registry events: every change may
// change a Node's desired labels; a known machine booting again (given its
// credential, or fetching its configuration with it: the registry knows it
// is the same machine) gets its stale k3s node-password secret removed
// before it starts k3s; a decommissioned node is drained and deleted.
func (s *kubeService) registryEvent(e registry.Event) {
	ctx, cs, rec := s.connected()
	if rec != nil {
		rec.Changed()
	}
	if cs == nil {
		if e.Type == v1alpha1.EventState && registry.State(e.To) == registry.Decommissioned {
			s.log.Warn("decommissioned node not drained: not connected to kubernetes", "node", e.Node)
		}
		return
	}
	// Every boot of an approved machine: credential issued (its enrollment
	// token checked), then its configuration fetched (→ provisioning, with
	// that credential), then k3s starts.
	boot := e.Type == v1alpha1.EventCredential ||
		(e.Type == v1alpha1.EventState && registry.State(e.To) == registry.Provisioning && !strings.HasPrefix(e.Reason, registry.ReasonKubernetes))
	switch {
	case boot:
		host, ok := s.ownHostname(e.Node)
		if !ok {
			return // no hostname yet: first boot, no Node, no secret
		}
		// Synchronous: the node gets its answer (and starts k3s) only
		// after this returns.
		c, cancel := context.WithTimeout(ctx, passwordCleanupTimeout)
		defer cancel()
		if err := kube.ForgetNodePassword(c, cs, host); err != nil {
			s.log.Warn("stale k3s node password not removed; the node may be refused (Node password rejected)", "node", e.Node, "hostname", host, "err", err)
		}
	case e.Type == v1alpha1.EventState && registry.State(e.To) == registry.Decommissioned:
		host, ok := s.ownHostname(e.Node)
		if !ok {
			return
		}
		go func() {
			c, cancel := context.WithTimeout(ctx, s.drain+time.Minute)
			defer cancel()
			s.log.Info("draining and deleting the kubernetes node", "node", e.Node, "hostname", host)
			if err := kube.Decommission(c, cs, host, kube.DrainOptions{Timeout: s.drain}); err != nil {
				s.log.Warn("decommission kubernetes node", "node", e.Node, "hostname", host, "err", err)
			}
		}()
	}
}

// ownHostname is the node's hostname when no other live machine in the
// registry claims the same one (then the Kubernetes Node is this machine's).
func (s *kubeService) ownHostname(id string) (string, bool) {
	nodes, err := s.reg.List()
	if err != nil {
		return "", false
	}
	var host string
	for _, n := range nodes {
		if n.ID == id {
			host = n.Hostname
		}
	}
	if host == "" {
		return "", false
	}
	for _, n := range nodes {
		if n.ID != id && n.Hostname == host && n.State != registry.Decommissioned {
			s.log.Warn("two machines claim one hostname; leaving its kubernetes node alone", "hostname", host, "node", id, "other", n.ID)
			return "", false
		}
	}
	return host, true
}

// kubeSink writes Node readiness into the registry.
type kubeSink struct {
	reg *registry.Store
	log *slog.Logger
}

func (k kubeSink) NodeReady(id string, ready bool, reason string) {
	if _, err := k.reg.SetKubeReady(id, ready, reason); err != nil && !errors.Is(err, registry.ErrNotFound) {
		k.log.Warn("record kubernetes readiness", "node", id, "err", err)
	}
}

// kubeDesired is every enrolled machine with a hostname, with the role,
// labels and taints its profile gives (plus the operator's labels).
type kubeDesired struct {
	reg      *registry.Store
	profiles *profileSet
	log      *slog.Logger
}

func (k kubeDesired) Machines() ([]kube.Machine, error) {
	nodes, err := k.reg.List()
	if err != nil {
		return nil, err
	}
	var out []kube.Machine
	for _, n := range nodes {
		switch n.State {
		case registry.Approved, registry.Provisioning, registry.Ready, registry.Lost:
		default:
			continue
		}
		if n.Hostname == "" {
			continue
		}
		m, err := k.profiles.machine(n)
		if err != nil {
			// Leave its Node as it is rather than strip its labels.
			k.log.Warn("profile of node does not resolve; its kubernetes node is left as it is", "node", n.ID, "err", err)
			m = kube.Machine{ID: n.ID, Name: n.Hostname, Unknown: true}
		}
		out = append(out, m)
	}
	return out, nil
}

// machine is what node n's profile asks of its Kubernetes Node: every label
// (those the kubelet set at registration too, so they follow profile
// changes), the role and the taints.
func (p *profileSet) machine(n registry.Node) (kube.Machine, error) {
	d, err := profiles.Select(n.Inventory, p.set, profiles.SelectOptions{Assignment: n.AssignedProfile, Hostname: n.Hostname})
	if err != nil {
		return kube.Machine{}, err
	}
	chosen := d.Chosen(p.set)
	plan, err := profiles.Resolve(n.Inventory, chosen, profiles.ResolveOptions{Index: 1})
	if err != nil {
		return kube.Machine{}, err
	}
	m := kube.Machine{ID: n.ID, Name: n.Hostname, Role: chosen.Role, Labels: plan.Labels}
	for k, v := range n.Labels {
		m.Labels[k] = v
	}
	for _, t := range plan.Taints {
		m.Taints = append(m.Taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	return m, nil
}
