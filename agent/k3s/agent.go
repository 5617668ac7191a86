package k3s

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/atomicfile"
	"corral.io/corral/internal/supervise"
)

// KubeletHealthz is the kubelet's local health endpoint (--healthz-port
// default 10248), the readiness of the k3s agent.
const KubeletHealthz = "http://127.0.0.1:10248/healthz"

// Options configure the agent side.
type Options struct {
	// Binary is k3s; default DefaultBinary.
	Binary string
	// ConfigPath is the file written; default DefaultConfigPath.
	ConfigPath string
	// ImagesSource holds the image's air-gap tarballs; default
	// DefaultImagesDir.
	ImagesSource string
	// Hostname is the machine's name when the configuration has none;
	// default os.Hostname.
	Hostname func() (string, error)
	// Inventory returns the latest inventory (boot NIC, size); nil or a
	// nil result: the NIC is found by route, nothing is reserved.
	Inventory func() *v1alpha1.Inventory
	// ScratchDataDir returns k3s' data-dir on the scratch disk the disk
	// plan gave, once mounted; "" (or nil) keeps k3s' default, in RAM.
	// This is the hook for the disk step: the plan says which disk is
	// scratch, not yet where it is mounted.
	ScratchDataDir func(v1alpha1.NodeConfig) string
	// Logger receives k3s' lines and this package's records. Through the
	// agent's logship handler, k3s' lines below ShippedChildLevel go to
	// the console only.
	Logger *slog.Logger
	// Supervise adjusts the supervisor: Exited must be set under PID 1
	// (agent/pid1.Reaper.Exited); Name, Path, Args and Logger are set here.
	Supervise supervise.Options
}

// Agent writes the k3s agent configuration when the node receives its own
// and keeps `k3s agent` running with it.
type Agent struct {
	o       Options
	log     *slog.Logger
	updates chan plan
	once    sync.Map // messages logged once

	mu  sync.Mutex
	sup *supervise.Supervisor

	// applyMu serializes Apply and SetAddress; last is the configuration
	// Apply was last given (nil before), addrs the address SetAddress was
	// last told for each interface.
	applyMu sync.Mutex
	last    *v1alpha1.NodeConfig
	addrs   map[string]netip.Addr
}

// plan is one way to run k3s agent.
type plan struct {
	args   []string
	config []byte
}

func (p plan) equal(q plan) bool {
	return slices.Equal(p.args, q.args) && string(p.config) == string(q.config)
}

// New returns an Agent; nothing runs until Run.
func New(o Options) *Agent {
	if o.Binary == "" {
		o.Binary = DefaultBinary
	}
	if o.ConfigPath == "" {
		o.ConfigPath = DefaultConfigPath
	}
	if o.ImagesSource == "" {
		o.ImagesSource = DefaultImagesDir
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Agent{o: o, log: o.Logger.With("svc", "k3s"), updates: make(chan plan, 1)}
}

func (a *Agent) logOnce(key string, level slog.Level, msg string, args ...any) {
	if _, seen := a.once.LoadOrStore(key, true); !seen {
		a.log.Log(context.Background(), level, msg, args...)
	}
}

// HaveBinary reports whether this image carries k3s.
func (a *Agent) HaveBinary() bool {
	fi, err := os.Stat(a.o.Binary)
	return err == nil && !fi.IsDir() && fi.Mode().Perm()&0o111 != 0
}

// Apply writes the k3s agent configuration for cfg (0600, atomically),
// installs the air-gap images and has Run (re)start k3s agent with it. It
// is an enroll.Apply hook. Without a k3s binary, or without join data, it
// says so once and does nothing: the node still heartbeats.
func (a *Agent) Apply(cfg v1alpha1.NodeConfig) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	return a.apply(cfg)
}

// SetAddress says that iface has a new IPv4 address now (the DHCP lease
// renewer's netup.RenewConfig.OnAddressChange): when iface is the
// provisioning interface, node-ip becomes addr, whatever the inventory,
// collected before the change, still says. When a configuration was
// applied already it is written again, so Run restarts k3s agent with the
// new node-ip; else the address is kept for the first Apply.
func (a *Agent) SetAddress(iface string, addr netip.Addr) error {
	a.applyMu.Lock()
	defer a.applyMu.Unlock()
	if a.addrs == nil {
		a.addrs = map[string]netip.Addr{}
	}
	a.addrs[iface] = addr
	if a.last == nil {
		return nil
	}
	a.log.Warn("the node's address changed: rewriting the k3s agent configuration", "iface", iface, "ip", addr.String())
	return a.apply(*a.last)
}

func (a *Agent) apply(cfg v1alpha1.NodeConfig) error {
	if !a.HaveBinary() {
		a.logOnce("no-binary", slog.LevelInfo, errNoK3s.Error(), "binary", a.o.Binary)
		return nil
	}
	if cfg.K3s == nil {
		a.logOnce("no-join", slog.LevelInfo, "the controller sent no k3s join data (it runs no k3s server: k3s.binary is unset in its configuration): not joining the cluster")
		return nil
	}
	var inv *v1alpha1.Inventory
	if a.o.Inventory != nil {
		inv = a.o.Inventory()
	}
	a.last = &cfg
	nic, err := ProvisioningNIC(inv, cfg.K3s.ServerURL)
	if err != nil {
		return fmt.Errorf("k3s: provisioning interface: %w", err)
	}
	if addr, ok := a.addrs[nic.Name]; ok && addr.Is4() {
		nic.Addr = addr
	}
	host, _ := a.o.Hostname()
	dataDir := ""
	if a.o.ScratchDataDir != nil {
		dataDir = a.o.ScratchDataDir(cfg)
	}
	if dataDir == "" && hasScratch(cfg) {
		a.logOnce("scratch", slog.LevelInfo, "the disk plan has a scratch disk, but nothing mounts it for k3s yet: k3s data stays in RAM", "data_dir", DefaultDataDir)
	}
	ac, err := NewAgentConfig(Params{Config: cfg, Hostname: host, NIC: nic, Inventory: inv, DataDir: dataDir, Logger: a.log})
	if err != nil {
		return fmt.Errorf("k3s: %w", err)
	}
	b, err := ac.Marshal()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(a.o.ConfigPath), 0o755); err != nil {
		return fmt.Errorf("k3s: %w", err)
	}
	if err := atomicfile.Write(a.o.ConfigPath, b, 0o600); err != nil {
		return fmt.Errorf("k3s: %w", err)
	}
	effective := dataDir
	if effective == "" {
		effective = DefaultDataDir
	}
	imgs, err := InstallAirgapImages(a.o.ImagesSource, effective)
	if err != nil {
		// k3s pulls what is missing when the network allows it.
		a.log.Warn("air-gap images not installed", "err", err)
	}
	a.log.Info("k3s agent configured", "config", a.o.ConfigPath, "server", ac.Server, "node", ac.NodeName,
		"iface", ac.FlannelIface, "ip", ac.NodeIP, "labels", len(ac.NodeLabel), "taints", len(ac.NodeTaint), "airgap_images", len(imgs))
	p := plan{args: append([]string{"agent", "--config", a.o.ConfigPath}, cfg.K3sArgs...), config: b}
	select { // the newest plan replaces one not yet taken
	case <-a.updates:
	default:
	}
	a.updates <- p
	return nil
}

func hasScratch(cfg v1alpha1.NodeConfig) bool {
	for _, d := range cfg.Disks {
		if d.Use == "scratch" {
			return true
		}
	}
	return false
}

// Ready reports whether k3s agent runs and its kubelet is healthy.
func (a *Agent) Ready() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sup != nil && a.sup.Ready()
}

// Run starts k3s agent when Apply has written a configuration, restarts
// it when a later Apply changes it, and stops it when ctx is done.
func (a *Agent) Run(ctx context.Context) error {
	type running struct {
		plan   plan
		cancel context.CancelFunc
		done   chan error
	}
	var cur *running
	stop := func() {
		if cur != nil {
			cur.cancel()
			<-cur.done
			cur = nil
		}
	}
	defer stop()
	for {
		var ended chan error
		if cur != nil {
			ended = cur.done
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-ended:
			cur.cancel()
			cur = nil
			a.log.Error("k3s agent supervision ended; it starts again with the next configuration", "err", err)
		case p := <-a.updates:
			if cur != nil && p.equal(cur.plan) {
				continue
			}
			if cur != nil {
				a.log.Info("k3s agent configuration changed: restarting k3s agent")
				stop()
			}
			so := a.o.Supervise
			so.Name, so.Path, so.Args, so.Logger = "k3s-agent", a.o.Binary, p.args, childLogger(a.log)
			if so.Ready == nil {
				so.Ready = kubeletHealthy
			}
			sup := supervise.New(so)
			a.mu.Lock()
			a.sup = sup
			a.mu.Unlock()
			sctx, cancel := context.WithCancel(ctx)
			cur = &running{plan: p, cancel: cancel, done: make(chan error, 1)}
			go func(done chan<- error) { done <- sup.Run(sctx) }(cur.done)
		}
	}
}

// kubeletHealthy asks the kubelet's healthz endpoint.
func kubeletHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, KubeletHealthz, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("kubelet healthz: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("kubelet healthz: %s", resp.Status)
	}
	return nil
}
