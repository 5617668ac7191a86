package boot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/inventory"
	"corral.io/corral/agent/k3s"
	"corral.io/corral/agent/logship"
	"corral.io/corral/api/client"
	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

type runFlags struct {
	api, ca     string
	once        bool
	setHostname bool
	root        string
	backoffMax  time.Duration
	cmdline     string
	verbose     bool
	// logs, not a flag, is the log shipper when the caller (init) runs
	// one for the whole boot; nil: runAgent ships its own log.
	logs *logship.Shipper
}

// runDeps is what runAgent takes from the machine.
type runDeps struct {
	readFile    func(string) ([]byte, error)
	pid         int
	setHostname func(string) error
	clock       enroll.Clock
	// wrap, when set, wraps the controller API (tests observe the calls).
	wrap func(enroll.API) enroll.API
	// k3s configures joining the cluster (binary, file paths; under PID 1
	// Supervise.Exited must be the reaper's). Logger and Inventory are set
	// by runAgent.
	k3s k3s.Options
	// addresses, when set, brings the DHCP renewer's address changes to
	// the k3s joiner (init); nil under "corral-agent run", which renews
	// no lease.
	addresses *addressWatch
}

// addressWatch carries the DHCP lease renewer's address changes
// (netup.RenewConfig.OnAddressChange) to the k3s joiner, which rewrites
// node-ip and restarts k3s agent. The renewer outlives the joiner:
// enrolForever makes a new one on every attempt, so the changes seen are
// kept and given to each joiner attached.
type addressWatch struct {
	mu    sync.Mutex
	addrs map[string]netip.Addr
	sink  func(iface string, addr netip.Addr) error
	log   *slog.Logger
}

// changed is a netup.RenewConfig.OnAddressChange.
func (w *addressWatch) changed(iface string, _, addr netip.Prefix) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.addrs == nil {
		w.addrs = map[string]netip.Addr{}
	}
	w.addrs[iface] = addr.Addr()
	if w.sink == nil {
		return
	}
	if err := w.sink(iface, addr.Addr()); err != nil {
		w.log.Error("k3s agent configuration not updated with the node's new address: k3s advertises the old one", "iface", iface, "ip", addr.Addr().String(), "err", err)
	}
}

// attach makes sink receive every change, first those already seen;
// detach stops it.
func (w *addressWatch) attach(sink func(string, netip.Addr) error, log *slog.Logger) (detach func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.sink, w.log = sink, log
	for iface, addr := range w.addrs {
		if err := sink(iface, addr); err != nil {
			log.Error("k3s agent configuration not updated with the node's new address", "iface", iface, "ip", addr.String(), "err", err)
		}
	}
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.sink = nil
	}
}

func hostDeps() runDeps {
	return runDeps{
		readFile:    os.ReadFile,
		pid:         os.Getpid(),
		setHostname: func(name string) error { return unix.Sethostname([]byte(name)) },
		k3s:         k3s.Options{Binary: os.Getenv("K3S_BINARY")}, // "": k3s.DefaultBinary
	}
}

func runAgent(ctx context.Context, f runFlags, d runDeps, errOut io.Writer) error {
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	console := slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level})
	ship := f.logs
	if ship == nil {
		ship = logship.New(logship.Options{Console: console})
		shipCtx, stopShip := context.WithCancel(ctx)
		shipped := make(chan struct{})
		go func() { defer close(shipped); _ = ship.Run(shipCtx) }()
		defer func() {
			stopShip()
			<-shipped
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logship.FlushTimeout)
			defer cancel()
			if err := ship.Flush(fctx); err != nil && !errors.Is(err, logship.ErrNotReady) {
				slog.New(console).Warn("logs not shipped to the controller", "err", err)
			}
		}()
	}
	log := slog.New(ship.Handler(console))

	boot := enroll.BootParams{}
	if f.api == "" || f.ca == "" {
		b, err := d.readFile(f.cmdline)
		if err != nil {
			return fmt.Errorf("no --api or --ca-fingerprint given, and the kernel command line is unreadable: %w", err)
		}
		boot = enroll.ParseCmdline(string(b))
	}
	apiURL, fp := firstOf(f.api, boot.API), firstOf(f.ca, boot.CAFingerprint)
	switch {
	case apiURL == "":
		return fmt.Errorf("no controller URL: pass --api https://<controller>:9443 or boot with %s= on the kernel command line (%s)", api.KernelArgAPI, f.cmdline)
	case fp == "":
		return fmt.Errorf("no CA fingerprint: pass --ca-fingerprint or boot with %s= on the kernel command line (%s); "+
			"the controller logs it at start (ca_fingerprint)", api.KernelArgCA, f.cmdline)
	}
	c, err := client.New(apiURL, client.Trust{CAFingerprint: fp}, "")
	if err != nil {
		return err
	}
	ship.SetSender(logship.ClientSender(c))
	controller := ship.Tap(enroll.FromClient(c))
	if d.wrap != nil {
		controller = d.wrap(controller)
	}

	opts, err := inventoryOptions(f, log)
	if err != nil {
		return err
	}

	set := d.setHostname
	if d.pid != 1 && !f.setHostname {
		set = func(name string) error {
			log.Info("not PID 1: leaving the hostname alone (--set-hostname sets it)", "hostname", name)
			return nil
		}
	}
	// k3s agent: configured by Apply, run beside the enrollment loop.
	var lastInv atomic.Pointer[api.Inventory]
	ko := d.k3s
	ko.Logger, ko.Inventory = log, lastInv.Load
	joiner := k3s.New(ko)
	if d.addresses != nil {
		defer d.addresses.attach(joiner.SetAddress, log)()
	}
	hostname := enroll.Hostname(set)
	apply := func(cfg api.NodeConfig) error {
		if err := hostname(cfg); err != nil {
			return err
		}
		return joiner.Apply(cfg)
	}
	k3sCtx, stopK3s := context.WithCancel(ctx)
	k3sDone := make(chan error, 1)
	if f.once {
		k3sDone <- nil
	} else {
		go func() { k3sDone <- joiner.Run(k3sCtx) }()
	}
	defer func() { stopK3s(); <-k3sDone }()

	log.Info("enrolling", "api", apiURL, "ca_fingerprint", fp)
	err = enroll.Run(ctx, enroll.Deps{
		API: controller,
		Inventory: func() *api.Inventory {
			inv := inventory.Collect(opts)
			lastInv.Store(inv)
			return inv
		},
		Apply:   apply,
		Backoff: backoff.Backoff{Max: f.backoffMax},
		Clock:   d.clock,
		Logger:  log,
		Once:    f.once,
	})
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		log.Info("stopped")
		return nil
	}
	return err
}

// inventoryOptions says what to inventory: this machine, or the dump
// under --root.
func inventoryOptions(f runFlags, log *slog.Logger) (inventory.Options, error) {
	opts := inventory.HostOptions(log.With("svc", "inventory"))
	if f.root != "" {
		if _, err := os.Stat(f.root); err != nil {
			return opts, fmt.Errorf("machine dump: %w", err)
		}
		opts.Root = inventory.PrefixRoot(f.root)
		opts.NVML, opts.Links, opts.ProbeDisks = nil, nil, false
	}
	return opts, nil
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
