// Command registry is `make bench-registry`: the controller's API under 1,000
// simulated agents.
//
// It starts the real controller API (controller/server over a registry on
// disk, HTTPS with the controller's own CA, auto-approval) in a child
// process — this same binary, re-executed with the verb "controller" — so
// that the controller's peak RSS and CPU time are its own and not the
// agents'. Then it runs N agents in this process, each the real enrollment
// loop (agent/enroll) over its own api/client (own TLS connection, CA pinned
// by fingerprint, loopback only): register with a distinct synthetic
// inventory, collect the credential, fetch the config and heartbeat every
// -heartbeat until -duration ends. Agents start evenly over -ramp.
//
// It prints p50/p99/max latency per call, as the agents measured it (client
// side: TLS, HTTP, JSON and the registry's fsynced write), the controller's
// peak RSS (getrusage ru_maxrss of the child after it exits, cross-checked
// with VmHWM from /proc/<pid>/status just before; the child also reports its
// Go heap and goroutine peaks from runtime/metrics) and its CPU time (user +
// system, from the child's rusage), next to the targets of issue 4. The
// numbers depend on the disk under -state: every registry write is an
// fsynced bbolt transaction.
//
// Everything is bounded: N agents, one -duration, then the child is stopped.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/time/rate"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/inventory"
	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server"
)

// Targets from issue 4.
const (
	targetP99 = 100 * time.Millisecond
	targetRSS = 128 << 20
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "controller" {
		if err := controller(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench-registry controller:", err)
			os.Exit(1)
		}
		return
	}
	if err := drive(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench-registry:", err)
		os.Exit(1)
	}
}

// ready is the child's first line on stdout.
type ready struct {
	URL, Fingerprint string
}

// controller serves the API on loopback until its stdin closes (the
// driver's way to stop it) or SIGTERM.
func controller(args []string) error {
	fs := flag.NewFlagSet("controller", flag.ContinueOnError)
	state := fs.String("state", "", "state directory")
	heartbeat := fs.Duration("heartbeat", 5*time.Second, "heartbeat interval told to nodes")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the controller here")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	sigCtx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(sigCtx)
	defer cancel()
	ca, err := ctlenroll.LoadOrCreateCA(filepath.Join(*state, "pki"), []string{"127.0.0.1"}, time.Now())
	if err != nil {
		return err
	}
	reg, err := registry.Open(filepath.Join(*state, "registry.db"))
	if err != nil {
		return err
	}
	defer reg.Close()
	api := server.New(server.Options{
		Registry: reg, Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}, Profiles: server.Fallback{},
		AdminHash: ctlenroll.Hash(ctlenroll.NewSecret()), Heartbeat: *heartbeat,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		// Every simulated agent registers from 127.0.0.1: the per-source
		// limit of a real provisioning network would measure the limiter.
		RegisterRate: server.RegisterRate{PerSource: rate.Inf, Global: rate.Inf, PerSourceBurst: 1, GlobalBurst: 1},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	if err := json.NewEncoder(os.Stdout).Encode(ready{URL: "https://" + ln.Addr().String(), Fingerprint: ca.Fingerprint}); err != nil {
		return err
	}
	go func() { // the driver closes our stdin when it is done (or dies)
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	peaks := make(chan goMemory)
	go func() { peaks <- sampleGoMemory(ctx) }()
	if err := api.Serve(ctx, ln, ca.Serving); err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(<-peaks)
}

// goMemory is the controller's own view of its memory (runtime/metrics),
// peaks sampled every 250 ms, reported to the driver at exit.
type goMemory struct {
	// HeapObjects is live and not yet swept heap objects; GoTotal all
	// memory the Go runtime mapped (heap, stacks, metadata), bytes.
	HeapObjects, GoTotal uint64
	Goroutines           uint64
}

func sampleGoMemory(ctx context.Context) goMemory {
	samples := []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/sched/goroutines:goroutines"},
	}
	var peak goMemory
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		metrics.Read(samples)
		peak.HeapObjects = max(peak.HeapObjects, samples[0].Value.Uint64())
		peak.GoTotal = max(peak.GoTotal, samples[1].Value.Uint64())
		peak.Goroutines = max(peak.Goroutines, samples[2].Value.Uint64())
		select {
		case <-ctx.Done():
			return peak
		case <-t.C:
		}
	}
}

type options struct {
	agents    int
	duration  time.Duration
	ramp      time.Duration
	heartbeat time.Duration
	state     string
	invRoot   string
	profile   string
}

func drive(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("bench-registry", flag.ContinueOnError)
	fs.IntVar(&o.agents, "agents", 1000, "simulated agents")
	fs.DurationVar(&o.duration, "duration", 60*time.Second, "how long the agents run, from the first registration")
	fs.DurationVar(&o.ramp, "ramp", 10*time.Second, "agents start evenly over this time (0: all at once)")
	fs.DurationVar(&o.heartbeat, "heartbeat", 5*time.Second, "heartbeat interval the controller gives")
	fs.StringVar(&o.state, "state", "", "controller state directory (default: a new temporary directory, removed after)")
	fs.StringVar(&o.profile, "cpuprofile", "", "write a CPU profile of the controller to this file")
	fs.StringVar(&o.invRoot, "inventory", "agent/inventory/testdata/qemu-q35", "machine dump the synthetic inventories are made from")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.agents < 1 || o.agents > 100000 || o.duration <= 0 || o.ramp < 0 || o.ramp >= o.duration {
		return errors.New("want 1 ≤ -agents ≤ 100000, -duration > 0 and 0 ≤ -ramp < -duration")
	}
	if o.state == "" {
		dir, err := os.MkdirTemp("", "bench-registry-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.state = dir
	}
	base, err := baseInventory(o.invRoot)
	if err != nil {
		return err
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	child := exec.Command(self, "controller", "-state", o.state, "-heartbeat", o.heartbeat.String(), "-cpuprofile", o.profile)
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		return err
	}
	if err := child.Start(); err != nil {
		return fmt.Errorf("start the controller: %w", err)
	}
	defer child.Process.Kill() // only if we return early
	var r ready
	dec := json.NewDecoder(bufio.NewReader(stdout))
	if err := dec.Decode(&r); err != nil {
		return fmt.Errorf("controller did not start: %w", err)
	}
	fmt.Fprintf(out, "Corral registry benchmark — %s\n", time.Now().UTC().Format("2006-01-02 15:04:05 UTC"))
	fmt.Fprintf(out, "machine:  %d CPUs, %s, GOMAXPROCS %d; state on %s\n", runtime.NumCPU(), kernel(), runtime.GOMAXPROCS(0), o.state)
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Fprintf(out, "load:     %s (other work on the machine competes for the same CPUs)\n", strings.Join(strings.Fields(string(b))[:3], " "))
	}
	fsyncBefore := fsyncProbe(o.state)
	fmt.Fprintf(out, "disk:     fsync of 4 KiB under the state directory, before the run: %s\n", fsyncBefore)
	fmt.Fprintf(out, "setup:    controller pid %d at %s (auto approval, fallback profile, heartbeat %v), %d agents started over %v, run %v\n",
		child.Process.Pid, r.URL, o.heartbeat, o.agents, o.ramp, o.duration)

	cpuBefore, ioBefore := pressure("cpu"), pressure("io")
	st := newStats(o.agents)
	ctx, cancel := context.WithTimeout(context.Background(), o.duration)
	defer cancel()
	var wg sync.WaitGroup
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	for i := range o.agents {
		at := start.Add(time.Duration(int64(o.ramp) * int64(i) / int64(o.agents)))
		wg.Go(func() {
			if err := (enroll.RealClock{}).Sleep(ctx, time.Until(at)); err != nil {
				return
			}
			c, err := client.New(r.URL, client.Trust{CAFingerprint: r.Fingerprint}, "")
			if err != nil {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
				return
			}
			inv := synthetic(base, i)
			err = enroll.Run(ctx, enroll.Deps{
				API:       timed{enroll.FromClient(c), st},
				Inventory: func() *v1alpha1.Inventory { return inv },
				Logger:    slog.New(errorsOnly{st}),
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				failed.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		})
	}
	// Sample the controller's memory while the agents run.
	var hwm, rssNow atomic.Int64
	sampleDone := make(chan struct{})
	go func() {
		defer close(sampleDone)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			if h, r, err := procMem(child.Process.Pid); err == nil {
				hwm.Store(h)
				rssNow.Store(r)
			}
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	wg.Wait()
	<-sampleDone
	elapsed := time.Since(start)
	if h, r, err := procMem(child.Process.Pid); err == nil {
		hwm.Store(h)
		rssNow.Store(r)
	}
	stdin.Close() // the controller stops when its stdin closes
	stuck := time.AfterFunc(30*time.Second, func() { _ = child.Process.Kill() })
	defer stuck.Stop()
	var gm goMemory
	gmErr := dec.Decode(&gm)
	if err := child.Wait(); err != nil {
		return fmt.Errorf("controller: %w", err)
	}
	ps := child.ProcessState
	ru, _ := ps.SysUsage().(*syscall.Rusage)
	cpu := ps.UserTime() + ps.SystemTime()
	nodes := countNodes(filepath.Join(o.state, "registry.db"))

	fmt.Fprintf(out, "\n%-18s %8s %8s %10s %10s %10s %8s\n", "call", "count", "errors", "p50", "p99", "max", "p99<100ms")
	allOK := true
	for _, name := range []string{"register", "credential", "config", "heartbeat", "heartbeat, steady"} {
		lat, errs := st.get(name)
		p50, p99, mx := percentile(lat, 50), percentile(lat, 99), percentile(lat, 100)
		ok := p99 < targetP99 && len(lat) > 0
		allOK = allOK && ok
		fmt.Fprintf(out, "%-18s %8d %8d %10s %10s %10s %8s\n", name, len(lat), errs, ms(p50), ms(p99), ms(mx), yes(ok))
	}
	var maxrss int64
	if ru != nil {
		maxrss = ru.Maxrss << 10 // KiB on Linux
	}
	peak := max(maxrss, hwm.Load())
	fmt.Fprintf(out, "\ncontroller (separate process, pid %d):\n", child.Process.Pid)
	fmt.Fprintf(out, "  peak RSS   %s (rusage maxrss %s, /proc VmHWM %s; VmRSS at the end %s)  target < 128 MiB: %s\n",
		mib(peak), mib(maxrss), mib(hwm.Load()), mib(rssNow.Load()), yes(peak < targetRSS))
	if gmErr == nil {
		fmt.Fprintf(out, "  Go runtime (runtime/metrics, peaks): heap objects %s, all Go-mapped memory %s, %d goroutines\n",
			mib(int64(gm.HeapObjects)), mib(int64(gm.GoTotal)), gm.Goroutines)
	}
	if fi, err := os.Stat(filepath.Join(o.state, "registry.db")); err == nil {
		fmt.Fprintf(out, "  registry.db %s (bbolt memory-maps it: its touched pages count in RSS)\n", mib(fi.Size()))
	}
	fmt.Fprintf(out, "  CPU time   %v user + %v system = %v over %v wall (%.0f %% of one core)\n",
		ps.UserTime().Round(time.Millisecond), ps.SystemTime().Round(time.Millisecond), cpu.Round(time.Millisecond),
		elapsed.Round(time.Millisecond), 100*cpu.Seconds()/elapsed.Seconds())
	fmt.Fprintf(out, "  nodes in the registry at the end: %s\n", nodes)
	if cpuBefore >= 0 && ioBefore >= 0 {
		stall := func(before int64, res string) float64 {
			return 100 * float64(pressure(res)-before) / float64(elapsed.Microseconds())
		}
		fmt.Fprintf(out, "machine:    during the run some task waited for a CPU %.0f %% of the time, for I/O %.0f %% (PSI; other work included)\n",
			stall(cpuBefore, "cpu"), stall(ioBefore, "io"))
	}
	fmt.Fprintf(out, "disk:       fsync of 4 KiB after the run: %s (before: %s)\n", fsyncProbe(o.state), fsyncBefore)
	var own syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &own) == nil {
		fmt.Fprintf(out, "agents' process CPU time: %v user + %v system\n",
			time.Duration(own.Utime.Nano()).Round(time.Millisecond), time.Duration(own.Stime.Nano()).Round(time.Millisecond))
	}
	fmt.Fprintf(out, "agents:     %d ran to the end, %d stopped early", o.agents-int(failed.Load()), failed.Load())
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(out, " (first: %v)", e)
	}
	fmt.Fprintln(out)
	if warns := st.warnings.Load(); warns > 0 {
		fmt.Fprintf(out, "agent warnings (retried calls): %d\n", warns)
	}
	fmt.Fprintln(out, "note: latencies are measured by the agents, which share the machine's CPUs with the controller;")
	fmt.Fprintln(out, "      \"heartbeat, steady\" counts only heartbeats sent after every agent had its configuration.")
	if !allOK || peak >= targetRSS || failed.Load() > 0 {
		fmt.Fprintln(out, "result: a target was missed (see above)")
	} else {
		fmt.Fprintln(out, "result: every target met")
	}
	return nil
}

// stats collects latencies per call.
type stats struct {
	// agents and configured count toward the steady state: once every
	// agent has its configuration, heartbeats are also counted apart.
	agents     int64
	configured atomic.Int64
	mu         sync.Mutex
	lat        map[string][]time.Duration
	errs       map[string]int
	warnings   atomic.Int64
}

func newStats(agents int) *stats {
	return &stats{agents: int64(agents), lat: map[string][]time.Duration{}, errs: map[string]int{}}
}

func (s *stats) add(name string, d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.errs[name]++
		return
	}
	s.lat[name] = append(s.lat[name], d)
}

func (s *stats) get(name string) ([]time.Duration, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := slices.Clone(s.lat[name])
	slices.Sort(l)
	return l, s.errs[name]
}

// timed measures each call of the agent loop. Calls cut short by the end of
// the run are not counted.
type timed struct {
	enroll.API
	st *stats
}

func (t timed) obs(ctx context.Context, name string, start time.Time, err error) {
	if ctx.Err() == nil {
		t.st.add(name, time.Since(start), err)
	}
}

func (t timed) Register(ctx context.Context, inv v1alpha1.Inventory, cred string) (v1alpha1.RegisterResponse, error) {
	start := time.Now()
	r, err := t.API.Register(ctx, inv, cred)
	t.obs(ctx, "register", start, err)
	return r, err
}

func (t timed) Credential(ctx context.Context, tok string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	start := time.Now()
	c, p, err := t.API.Credential(ctx, tok)
	t.obs(ctx, "credential", start, err)
	return c, p, err
}

func (t timed) Config(ctx context.Context, cred string) (v1alpha1.NodeConfig, error) {
	start := time.Now()
	c, err := t.API.Config(ctx, cred)
	t.obs(ctx, "config", start, err)
	if err == nil {
		t.st.configured.Add(1)
	}
	return c, err
}

func (t timed) Heartbeat(ctx context.Context, cred string, ready bool, msg string) error {
	steady := t.st.configured.Load() >= t.st.agents
	start := time.Now()
	err := t.API.Heartbeat(ctx, cred, ready, msg)
	t.obs(ctx, "heartbeat", start, err)
	if steady {
		t.obs(ctx, "heartbeat, steady", start, err)
	}
	return err
}

// errorsOnly counts the agents' warnings and prints their errors.
type errorsOnly struct{ st *stats }

func (h errorsOnly) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }
func (h errorsOnly) Handle(_ context.Context, r slog.Record) error {
	h.st.warnings.Add(1)
	if r.Level >= slog.LevelError {
		fmt.Fprintln(os.Stderr, "agent:", r.Message)
	}
	return nil
}
func (h errorsOnly) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h errorsOnly) WithGroup(string) slog.Handler      { return h }

// baseInventory reads a machine dump once; each agent gets a copy with its
// own identity.
func baseInventory(root string) (*v1alpha1.Inventory, error) {
	if _, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("machine dump for the synthetic inventories (-inventory; run from the repository root): %w", err)
	}
	return inventory.Collect(inventory.Options{Root: inventory.PrefixRoot(root)}), nil
}

// synthetic is base with a distinct node id, serial, UUID and MACs.
func synthetic(base *v1alpha1.Inventory, i int) *v1alpha1.Inventory {
	inv := *base
	inv.Identity.NodeID = fmt.Sprintf("bench-%05d", i)
	inv.System.Serial = fmt.Sprintf("BENCH%07d", i)
	inv.System.UUID = fmt.Sprintf("00000000-0000-4000-8000-%012x", i)
	inv.NICs = slices.Clone(base.NICs)
	for j := range inv.NICs {
		inv.NICs[j].MAC = fmt.Sprintf("02:%02x:%02x:%02x:%02x:%02x", j, byte(i>>24), byte(i>>16), byte(i>>8), byte(i))
		inv.NICs[j].PermanentMAC = inv.NICs[j].MAC
	}
	return &inv
}

// procMem reads VmHWM and VmRSS (bytes) of pid.
func procMem(pid int) (hwm, rss int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status %s: %w", pid, k, err)
		}
		if k == "VmHWM" {
			hwm = kb << 10
		} else {
			rss = kb << 10
		}
	}
	return hwm, rss, nil
}

// countNodes counts the registry's nodes by state, once the controller
// has stopped (bbolt allows one process at a time).
func countNodes(path string) string {
	reg, err := registry.Open(path)
	if err != nil {
		return err.Error()
	}
	defer reg.Close()
	nodes, err := reg.List()
	if err != nil {
		return err.Error()
	}
	by := map[registry.State]int{}
	for _, n := range nodes {
		by[n.State]++
	}
	var parts []string
	for _, st := range []registry.State{registry.Discovered, registry.Pending, registry.Approved, registry.Provisioning,
		registry.Ready, registry.Lost, registry.Decommissioned} {
		if by[st] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", by[st], st))
		}
	}
	return fmt.Sprintf("%d (%s)", len(nodes), strings.Join(parts, ", "))
}

// pressure is the "some" stall total (µs) of /proc/pressure/<res>, or -1.
func pressure(res string) int64 {
	b, err := os.ReadFile("/proc/pressure/" + res)
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	for f := range strings.FieldsSeq(line) {
		if v, ok := strings.CutPrefix(f, "total="); ok {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// fsyncProbe times 50 writes of 4 KiB each followed by fdatasync in dir:
// the registry's commit cost is about two of these.
func fsyncProbe(dir string) string {
	f, err := os.CreateTemp(dir, "fsync-probe-")
	if err != nil {
		return err.Error()
	}
	defer os.Remove(f.Name())
	defer f.Close()
	buf := make([]byte, 4096)
	var lat []time.Duration
	for i := range 50 {
		start := time.Now()
		if _, err := f.WriteAt(buf, int64(i)*4096); err != nil {
			return err.Error()
		}
		if err := syscall.Fdatasync(int(f.Fd())); err != nil {
			return err.Error()
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	return fmt.Sprintf("p50 %s, p99 %s", ms(percentile(lat, 50)), ms(percentile(lat, 99)))
}

func percentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(p)/100*float64(len(sorted)))) - 1
	return sorted[max(i, 0)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return "kernel " + strings.TrimSpace(string(b))
}
