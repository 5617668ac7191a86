package main

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

	"github.com/spf13/cobra"
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

func newRunCmd() *cobra.Command {
	var f runFlags
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Enroll with the controller, apply this node's configuration and heartbeat",
		Long: `Register this machine with the controller, wait for it to be approved, fetch
its configuration, apply it and heartbeat until stopped.

The controller's API URL and the fingerprint of its CA come from the kernel
command line (corral.api= and corral.ca=, put there by the iPXE script),
unless given as flags. Registration is retried with capped exponential
backoff while the controller is unreachable; a rejected or decommissioned
node stops with an error that says so.

Everything logged also goes to the controller (corral nodes logs NODE),
with the enrollment token while the node is pending and its credential once
approved; what cannot be sent yet waits in memory.

The hostname is set only when the agent runs as PID 1 or with --set-hostname.

Once the node has its configuration, and when the image carries k3s
(/usr/local/bin/k3s, or $K3S_BINARY), the agent writes
/etc/rancher/k3s/config.yaml and runs "k3s agent" until stopped, restarting it
when it exits; k3s' lines are in the agent's log. Without k3s it says so once
and only heartbeats. With --once the file is written but k3s is not started.

Examples:
  corral-agent run
  corral-agent run --api https://10.0.0.1:9443 --ca-fingerprint 3f1c…246a
  corral-agent run --once --root agent/inventory/testdata/build-vm --api … --ca-fingerprint …`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runAgent(cmd.Context(), f, hostDeps(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&f.api, "api", "", "controller API URL, https://host:9443 (default: corral.api= from the kernel command line)")
	cmd.Flags().StringVar(&f.ca, "ca-fingerprint", "", "hex SHA-256 of the controller's CA certificate (default: corral.ca= from the kernel command line)")
	cmd.Flags().BoolVar(&f.once, "once", false, "exit once the configuration is fetched and applied, without heartbeating")
	cmd.Flags().BoolVar(&f.setHostname, "set-hostname", false, "set the hostname from the configuration even when not PID 1")
	cmd.Flags().StringVar(&f.root, "root", "", "inventory a machine dump under this directory instead of the running machine (tests)")
	cmd.Flags().DurationVar(&f.backoffMax, "backoff-max", backoff.Default.Max, "longest wait between retries while the controller is unreachable")
	cmd.Flags().StringVar(&f.cmdline, "cmdline", "/proc/cmdline", "kernel command line to read corral.api= and corral.ca= from")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log debug records")
	return cmd
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
