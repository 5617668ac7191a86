// Package kube keeps the controller's Kubernetes cluster in step with the
// registry: every Node that belongs to a registered machine carries the
// machine's role label (node-role.kubernetes.io/<role>), its profile's labels
// and taints — the ones a kubelet may not set on itself, and those that
// change after the node joined — and nothing Corral set that is no longer
// wanted. Ownership is tracked in annotations on the Node (OwnedLabelsAnnotation,
// OwnedTaintsAnnotation): labels and taints others set are never touched.
//
// Node readiness flows back through a Sink. Decommission cordons, drains and
// deletes a Node; ForgetNodePassword removes k3s' node-password secret so a
// re-imaged machine with the same hostname can join again. Bootstrap gives
// the reconciler a least-privilege credential (rbac.yaml). See docs/kube.md.
package kube

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// Machine is what Corral wants for one registered machine's Node.
type Machine struct {
	// ID is the registry's node id; Sink calls carry it.
	ID string
	// Name is the Kubernetes node name: the machine's hostname.
	Name string
	// Role gives the label node-role.kubernetes.io/<Role>=true; empty for none.
	Role string
	// Labels are the profile's (and the operator's) labels.
	Labels map[string]string
	// Taints are the profile's taints.
	Taints []corev1.Taint
	// Unknown: the desired state could not be computed (e.g. the profile
	// does not resolve); the Node is left as it is, only its readiness is
	// reported.
	Unknown bool
}

// Desired gives the desired state of every registered machine that should
// be a Kubernetes node. The reconciler asks again whenever Changed is called.
type Desired interface {
	Machines() ([]Machine, error)
}

// Sink receives a machine's Node readiness when it or its reason changes:
// ready is the Node's Ready condition (false also when the Node does not
// exist); reason is "Reason: message" with Reason one CamelCase word: the
// Ready condition's own reason (e.g. KubeletNotReady: <its message>),
// NodeMissing, or NoReadyCondition.
type Sink interface {
	NodeReady(id string, ready bool, reason string)
}

// Options configure a Reconciler.
type Options struct {
	// Workers is how many Nodes are patched at once; default 16 (one
	// patch takes tens of milliseconds, so fewer workers, not the rate
	// limit, would bound a fleet-wide change).
	Workers int
	// Resync re-reads the desired state and re-checks every Node this
	// often, in case a change notification was missed; default 5 min.
	Resync time.Duration
	Logger *slog.Logger
}

// Reconciler applies Desired to the cluster's Nodes.
type Reconciler struct {
	client  kubernetes.Interface
	desired Desired
	sink    Sink
	log     *slog.Logger
	opts    Options
	trigger chan struct{}
	queue   workqueue.TypedRateLimitingInterface[string]
	nodes   listersv1.NodeLister
	synced  chan struct{}

	mu     sync.Mutex
	want   map[string]*Machine // by node name
	ready  map[string]readyState
	loaded bool
}

type readyState struct {
	id    string
	ready bool
	why   string
}

// New returns a reconciler; Run starts it.
func New(client kubernetes.Interface, desired Desired, sink Sink, opts Options) *Reconciler {
	if opts.Workers <= 0 {
		opts.Workers = 16
	}
	if opts.Resync <= 0 {
		opts.Resync = 5 * time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{
		client: client, desired: desired, sink: sink, log: opts.Logger, opts: opts,
		trigger: make(chan struct{}, 1),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "corral-nodes"}),
		synced: make(chan struct{}),
		want:   map[string]*Machine{},
		ready:  map[string]readyState{},
	}
}

// Changed tells the reconciler the desired state changed (a profile, an
// assignment, a label, a machine's state). It never blocks; changes that
// arrive while one is being handled are folded into the next.
func (r *Reconciler) Changed() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// Synced is closed once the Node informer has its first full list and the
// desired state was read once.
func (r *Reconciler) Synced() <-chan struct{} { return r.synced }

// Run watches Nodes and reconciles until ctx ends.
func (r *Reconciler) Run(ctx context.Context) error {
	defer r.queue.ShutDown()
	factory := informers.NewSharedInformerFactoryWithOptions(r.client, 0)
	inf := factory.Core().V1().Nodes()
	r.nodes = inf.Lister()
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { r.nodeEvent(obj) },
		UpdateFunc: func(_, obj any) { r.nodeEvent(obj) },
		DeleteFunc: func(obj any) { r.nodeDeleted(obj) },
	}); err != nil {
		return fmt.Errorf("watch nodes: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("nodes informer did not sync: can the controller's credential list and watch nodes?")
	}
	if err := r.reload(); err != nil {
		r.log.Warn("read desired node state", "err", err)
	}
	close(r.synced)
	r.log.Info("kubernetes reconciler running", "nodes", len(r.want))

	var wg sync.WaitGroup
	for range r.opts.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r.next(ctx) {
			}
		}()
	}
	tick := time.NewTicker(r.opts.Resync)
	defer tick.Stop()
	// Reading the desired state costs O(machines) (≈0.1 s for 1,000 with
	// the shipped profiles): after each read, wait twice as long before
	// the next, so a burst of registry events uses at most a third of a
	// core, and a small fleet reacts at once.
	var next time.Time
	for {
		select {
		case <-ctx.Done():
			r.queue.ShutDown()
			wg.Wait()
			return nil
		case <-r.trigger:
			if wait := time.Until(next); wait > 0 {
				select {
				case <-ctx.Done():
					continue
				case <-time.After(wait):
				}
				select { // changes meanwhile are in this read
				case <-r.trigger:
				default:
				}
			}
		case <-tick.C:
			r.enqueueAll()
		}
		start := time.Now()
		if err := r.reload(); err != nil {
			r.log.Warn("read desired node state", "err", err)
		}
		next = time.Now().Add(2 * time.Since(start))
	}
}

// reload reads the desired state and queues every Node whose wish changed.
func (r *Reconciler) reload() error {
	ms, err := r.desired.Machines()
	if err != nil {
		return err
	}
	want := make(map[string]*Machine, len(ms))
	for i := range ms {
		if ms[i].Name != "" {
			want[ms[i].Name] = &ms[i]
		}
	}
	r.mu.Lock()
	var dirty []string
	for name, m := range want {
		if old, ok := r.want[name]; !ok || !sameMachine(old, m) {
			dirty = append(dirty, name)
		}
	}
	for name := range r.want {
		if _, ok := want[name]; !ok {
			dirty = append(dirty, name)
		}
	}
	first := !r.loaded
	r.want, r.loaded = want, true
	r.mu.Unlock()
	if first {
		r.enqueueAll()
		return nil
	}
	for _, n := range dirty {
		r.queue.Add(n)
	}
	return nil
}

func sameMachine(a, b *Machine) bool {
	return a.ID == b.ID && a.Unknown == b.Unknown && a.Role == b.Role && maps.Equal(a.Labels, b.Labels) && reflect.DeepEqual(a.Taints, b.Taints)
}

func (r *Reconciler) enqueueAll() {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		r.queue.Add(n.Name)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for name := range r.want {
		r.queue.Add(name)
	}
}

func (r *Reconciler) nodeEvent(obj any) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		return
	}
	r.queue.Add(n.Name)
}

func (r *Reconciler) nodeDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	if n, ok := obj.(*corev1.Node); ok {
		r.queue.Add(n.Name)
	}
}

func (r *Reconciler) next(ctx context.Context) bool {
	name, quit := r.queue.Get()
	if quit {
		return false
	}
	defer r.queue.Done(name)
	if err := r.reconcile(ctx, name); err != nil {
		if apierrors.IsConflict(err) {
			r.log.Debug("node changed meanwhile; retrying", "node", name)
		} else {
			r.log.Warn("reconcile node", "node", name, "err", err)
		}
		r.queue.AddRateLimited(name)
		return true
	}
	r.queue.Forget(name)
	return true
}

// reconcile brings one Node to its desired labels and taints and reports its
// readiness.
func (r *Reconciler) reconcile(ctx context.Context, name string) error {
	r.mu.Lock()
	want := r.want[name]
	r.mu.Unlock()
	node, err := r.nodes.Get(name)
	if apierrors.IsNotFound(err) {
		r.report(name, want, false, "NodeMissing: no Kubernetes node "+name)
		return nil
	}
	if err != nil {
		return err
	}
	ready, why := nodeReady(node)
	r.report(name, want, ready, why)
	if want != nil && want.Unknown {
		return nil
	}
	if want == nil && node.Annotations[OwnedLabelsAnnotation] == "" && node.Annotations[OwnedTaintsAnnotation] == "" {
		return nil // not ours, never was
	}
	c, err := diff(node, want)
	if err != nil || c.patch == nil {
		return err
	}
	if _, err := r.client.CoreV1().Nodes().Patch(ctx, name, types.MergePatchType, c.patch, metav1.PatchOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("patch node %s: %w", name, err)
	}
	r.log.Info("node updated", "node", name, "changes", c.summary)
	return nil
}

// FieldManager names Corral's writes in the Nodes' managedFields.
const FieldManager = "corral-controller"

// report tells the sink about a change of a machine's Node readiness.
func (r *Reconciler) report(name string, want *Machine, ready bool, why string) {
	if r.sink == nil {
		return
	}
	r.mu.Lock()
	old, had := r.ready[name]
	var id string
	if want != nil {
		id = want.ID
		r.ready[name] = readyState{id: id, ready: ready, why: why}
	} else {
		delete(r.ready, name)
	}
	r.mu.Unlock()
	if id == "" || (had && old.id == id && old.ready == ready && old.why == why) {
		return
	}
	r.sink.NodeReady(id, ready, why)
}

// nodeReady reads the Node's Ready condition.
func nodeReady(n *corev1.Node) (bool, string) {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			ready := c.Status == corev1.ConditionTrue
			reason := c.Reason
			if reason == "" || strings.ContainsAny(reason, " :") {
				reason = "NodeNotReady"
				if ready {
					reason = "NodeReady"
				}
			}
			msg := c.Message
			if msg == "" {
				msg = "kubernetes node " + n.Name + " Ready=" + string(c.Status)
			}
			return ready, reason + ": " + msg
		}
	}
	return false, "NoReadyCondition: kubernetes node " + n.Name + " has no Ready condition yet"
}
