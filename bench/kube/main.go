// Command kube is `make bench-kube`: the Node reconciler (controller/kube)
// against a real kube-apiserver (internal/kubetest: etcd from Debian,
// kube-apiserver v1.31.6 built by hack/kube/build.sh), on this machine.
//
// 1. Profile change across N Nodes (default 1,000). N Nodes are created,
// each by its own kubelet credential (CN=system:node:<name>, so the Node
// authorizer and NodeRestriction apply). The reconciler runs with the
// least-privilege credential Bootstrap makes, and labels and taints them all
// (the initial labelling is timed too). Then, -rounds times, the profile's
// label value changes and the reconciler is told (Changed); an informer of
// the benchmark's own records when each Node is first seen carrying the new
// value. Latency per Node = that moment − the change. Printed: p50, p99, max
// (= total: every Node carries the change) per round.
//
// 2. Approved → Node registered (-join machines, default 100). A real
// registry on disk; the Desired source lists its approved machines; the
// registry's Watch tells the reconciler. Per machine: the registry
// transition to approved (one fsynced write), then at once its fake kubelet
// creates its Node (what k3s' agent does once it has joined), then the
// reconciler applies the role label. Printed: approved → Node created, and
// approved → Node carries its role label, p50/p99/max. k3s itself cannot
// run here, so the agent's k3s start-up time is not in these numbers.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/kube"
	"corral.io/corral/controller/registry"
	"corral.io/corral/internal/kubetest"
)

const revLabel = "bench.corral.io/rev"

var qps int

// restrictedClient is the reconciler's least-privilege client, with the
// rate limit of -qps.
func restrictedClient(ctx context.Context, env *kubetest.Env) (kubernetes.Interface, error) {
	cfg, err := kube.Bootstrap(ctx, env.Config)
	if err != nil {
		return nil, err
	}
	cfg.QPS, cfg.Burst = float32(qps), 2*qps
	return kubernetes.NewForConfig(cfg)
}

func main() {
	nodes := flag.Int("nodes", 1000, "Nodes for the profile-change benchmark")
	rounds := flag.Int("rounds", 3, "profile changes to time")
	join := flag.Int("join", 100, "machines for approved → Node registered (0 skips it)")
	workers := flag.Int("workers", 16, "reconciler workers (the controller uses 16)")
	verbose := flag.Bool("v", false, "log the reconciler and the API server")
	flag.IntVar(&qps, "qps", kube.ClientQPS, "the reconciler's client rate limit (requests/s; burst twice that); the controller uses kube.ClientQPS")
	flag.Parse()
	if err := run(*nodes, *rounds, *join, *workers, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "bench-kube:", err)
		os.Exit(1)
	}
}

type desired struct {
	mu sync.Mutex
	ms []kube.Machine
}

func (d *desired) Machines() ([]kube.Machine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.ms), nil
}

func run(n, rounds, join, workers int, verbose bool) error {
	var logw io.Writer
	log := slog.New(slog.DiscardHandler)
	if verbose {
		logw = os.Stderr
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	load, _ := os.ReadFile("/proc/loadavg")
	fmt.Printf("Corral kube reconciler benchmark — %s\n", time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Printf("machine:  %d CPUs, GOMAXPROCS %d; load %s\n", runtime.NumCPU(), runtime.GOMAXPROCS(0), strings.Join(strings.Fields(string(load))[:3], " "))
	t0 := time.Now()
	env, err := kubetest.Start(kubetest.Options{Log: logw})
	if err != nil {
		return err
	}
	defer env.Stop()
	fmt.Printf("setup:    etcd + kube-apiserver %s started in %s (%s)\n", kubetest.Version, time.Since(t0).Round(time.Millisecond), env.Host)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	cs, err := restrictedClient(ctx, env)
	if err != nil {
		return err
	}
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	fmt.Printf("reconciler: %d workers, restricted ServiceAccount credential, client rate limit %d/s (burst %d; the controller's: %d/s)\n", workers, qps, 2*qps, kube.ClientQPS)

	// The benchmark's own view: when was each Node first seen with a value.
	obs := newObserver()
	factory := informers.NewSharedInformerFactory(admin, 0)
	inf := factory.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { obs.see(o.(*corev1.Node)) },
		UpdateFunc: func(_, o any) { obs.see(o.(*corev1.Node)) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()

	// Create the Nodes, each with its kubelet's credential.
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("bench-%04d", i)
	}
	t0 = time.Now()
	if err := parallel(16, names, func(name string) error { return createNode(ctx, env, name) }); err != nil {
		return err
	}
	fmt.Printf("nodes:    %d created by their kubelets (own client certificates) in %s\n\n", n, time.Since(t0).Round(time.Millisecond))

	d := &desired{}
	setRev := func(rev int) {
		d.mu.Lock()
		defer d.mu.Unlock()
		d.ms = d.ms[:0]
		for i, name := range names {
			d.ms = append(d.ms, kube.Machine{
				ID: fmt.Sprint("id-", i), Name: name, Role: "gpu",
				Labels: map[string]string{"corral.io/profile": "gpu-worker", revLabel: fmt.Sprint(rev)},
				Taints: []corev1.Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: corev1.TaintEffectNoSchedule}},
			})
		}
	}
	setRev(1)
	rec := kube.New(cs, d, nil, kube.Options{Workers: workers, Logger: log})
	start := time.Now()
	recDone := make(chan error, 1)
	go func() { recDone <- rec.Run(ctx) }()

	fmt.Printf("%-34s %6s %10s %10s %10s %10s\n", "what", "nodes", "p50", "p99", "max=total", "patches/s")
	row := func(what string, lat []time.Duration) {
		slices.Sort(lat)
		total := lat[len(lat)-1]
		fmt.Printf("%-34s %6d %10s %10s %10s %10.0f\n", what, len(lat), ms(pct(lat, 50)), ms(pct(lat, 99)), ms(total), float64(len(lat))/total.Seconds())
	}
	lat, err := obs.wait(ctx, names, "1", start, 5*time.Minute)
	if err != nil {
		return err
	}
	row("initial labelling (start → rev 1)", lat)
	for r := 2; r <= rounds+1; r++ {
		setRev(r)
		start := time.Now()
		rec.Changed()
		lat, err := obs.wait(ctx, names, fmt.Sprint(r), start, 5*time.Minute)
		if err != nil {
			return err
		}
		row(fmt.Sprintf("profile change %d (rev %d → %d)", r-1, r-1, r), lat)
	}
	cancel()
	if err := <-recDone; err != nil {
		return err
	}
	if join > 0 {
		// The join benchmark starts from an empty cluster.
		if err := admin.CoreV1().Nodes().DeleteCollection(context.Background(), metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
			return err
		}
		fmt.Println()
		if err := benchJoin(env, join, workers, log); err != nil {
			return err
		}
	}
	fmt.Println("\nnote: one machine runs etcd, kube-apiserver, the reconciler and the observer; latencies include the")
	fmt.Println("      observer's watch delivery. k3s' own server is not used (it cannot be downloaded here).")
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000) }

func pct(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p+99)/100 - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func createNode(ctx context.Context, env *kubetest.Env, name string) error {
	cfg, err := env.KubeletConfig(name)
	if err != nil {
		return err
	}
	kc, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = kc.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"kubernetes.io/hostname": name}}}, metav1.CreateOptions{})
	if err != nil {
		return fmt.Errorf("kubelet of %s creates its Node: %w", name, err)
	}
	return nil
}

// parallel runs fn over items with at most n at once; the first error wins.
func parallel(n int, items []string, fn func(string) error) error {
	sem := make(chan struct{}, n)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			if err := fn(it); err != nil {
				mu.Lock()
				first = cmpErr(first, err)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// observer records when each Node was first seen with each rev value, and
// with its role label.
type observer struct {
	mu     sync.Mutex
	seen   map[string]map[string]time.Time // node → rev → first seen
	role   map[string]time.Time
	notify chan struct{}
}

func newObserver() *observer {
	return &observer{seen: map[string]map[string]time.Time{}, role: map[string]time.Time{}, notify: make(chan struct{}, 1)}
}

func (o *observer) see(n *corev1.Node) {
	now := time.Now()
	o.mu.Lock()
	defer o.mu.Unlock()
	if v, ok := n.Labels[revLabel]; ok {
		m := o.seen[n.Name]
		if m == nil {
			m = map[string]time.Time{}
			o.seen[n.Name] = m
		}
		if _, had := m[v]; !had {
			m[v] = now
		}
	}
	if _, ok := n.Labels[kube.RoleLabelPrefix+"worker"]; ok {
		if _, had := o.role[n.Name]; !had {
			o.role[n.Name] = now
		}
	}
	select {
	case o.notify <- struct{}{}:
	default:
	}
}

// wait returns, once every node was seen with rev, each one's latency
// since start.
func (o *observer) wait(ctx context.Context, names []string, rev string, start time.Time, timeout time.Duration) ([]time.Duration, error) {
	deadline := time.After(timeout)
	for {
		o.mu.Lock()
		var lat []time.Duration
		for _, name := range names {
			if t, ok := o.seen[name][rev]; ok {
				lat = append(lat, t.Sub(start))
			}
		}
		o.mu.Unlock()
		if len(lat) == len(names) {
			return lat, nil
		}
		select {
		case <-o.notify:
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			return nil, fmt.Errorf("only %d of %d Nodes carry %s=%s after %s", len(lat), len(names), revLabel, rev, timeout)
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (o *observer) roleSeen(name string) (time.Time, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	t, ok := o.role[name]
	return t, ok
}

// registryDesired: approved machines with a hostname are Nodes with the
// worker role.
type registryDesired struct{ reg *registry.Store }

func (r registryDesired) Machines() ([]kube.Machine, error) {
	nodes, err := r.reg.List()
	if err != nil {
		return nil, err
	}
	var out []kube.Machine
	for _, n := range nodes {
		if n.State == registry.Approved && n.Hostname != "" {
			out = append(out, kube.Machine{ID: n.ID, Name: n.Hostname, Role: "worker"})
		}
	}
	return out, nil
}

func benchJoin(env *kubetest.Env, count, workers int, log *slog.Logger) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dir, err := os.MkdirTemp("", "bench-kube-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	reg, err := registry.Open(filepath.Join(dir, "registry.db"))
	if err != nil {
		return err
	}
	defer reg.Close()
	cs, err := restrictedClient(ctx, env)
	if err != nil {
		return err
	}
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		return err
	}
	rec := kube.New(cs, registryDesired{reg}, nil, kube.Options{Workers: workers, Logger: log})
	reg.Watch(func(registry.Event) { rec.Changed() })
	done := make(chan error, 1)
	go func() { done <- rec.Run(ctx) }()
	<-rec.Synced()
	obs := newObserver()
	factory := informers.NewSharedInformerFactory(admin, 0)
	inf := factory.Core().V1().Nodes().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { obs.see(o.(*corev1.Node)) },
		UpdateFunc: func(_, o any) { obs.see(o.(*corev1.Node)) },
	}); err != nil {
		return err
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

	// Machines registered and named, waiting for approval.
	var ids []string
	for i := range count {
		id := fmt.Sprintf("join-%04d", i)
		if _, _, err := reg.Register(&v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: id}}); err != nil {
			return err
		}
		if _, err := reg.Update(id, func(n *registry.Node) (*registry.Event, error) { n.Hostname = id; return nil, nil }); err != nil {
			return err
		}
		ids = append(ids, id)
	}
	var mu sync.Mutex
	var created, labelled []time.Duration
	err = parallel(8, ids, func(id string) error {
		start := time.Now()
		if _, err := reg.Transition(id, registry.Approved, "bench"); err != nil {
			return err
		}
		if err := createNode(ctx, env, id); err != nil {
			return err
		}
		c := time.Since(start)
		deadline := time.Now().Add(time.Minute)
		for {
			if t, ok := obs.roleSeen(id); ok {
				mu.Lock()
				created = append(created, c)
				labelled = append(labelled, t.Sub(start))
				mu.Unlock()
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: no role label after a minute", id)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	cancel()
	if rerr := <-done; err == nil {
		err = rerr
	}
	if err != nil {
		return err
	}
	fmt.Printf("%-34s %6s %10s %10s %10s\n", "approved → (8 machines at a time)", "nodes", "p50", "p99", "max")
	for _, r := range []struct {
		what string
		lat  []time.Duration
	}{{"Node created by its kubelet", created}, {"Node carries its role label", labelled}} {
		slices.Sort(r.lat)
		fmt.Printf("%-34s %6d %10s %10s %10s\n", r.what, len(r.lat), ms(pct(r.lat, 50)), ms(pct(r.lat, 99)), ms(r.lat[len(r.lat)-1]))
	}
	return nil
}
