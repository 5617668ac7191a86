// Package boot is the node agent's boot pipeline: what corral-agent does as
// the node's init (PID 1) and as "corral-agent run".
//
// The pipeline, in the order a node goes through it:
//
//	Init (init.go)        PID 1's frame: essential mounts, reaper, signals,
//	                      the log shipper for the whole boot; then stage 1 or 2
//	stage1 (stage1.go)    in the initramfs: kernel modules, network (DHCP,
//	                      renewed), early registration for the log, the root
//	                      filesystem and switch_root into stage 2
//	stage2 (stage2.go)    in the root filesystem: the handed-over lease
//	enrolForever (init.go) then Run's work (enrol.go), retried forever:
//	                      register, wait for approval, apply the
//	                      configuration (hostname, k3s), heartbeat
//
// A new step (disks, Ceph, identity, power) is a function taking what it
// needs (context, logger, the network Result) and called from stage1 or
// stage2 in the order it must run; its dependencies on the machine are
// parameters, as runDeps is for Run, so that tests run it without a real
// PID 1.
package boot

import (
	"context"
	"io"
	"time"
)

// Options are corral-agent's settings for Run and Init (its flags).
type Options struct {
	// API and CAFingerprint name the controller; "" takes them from the
	// kernel command line (api.KernelArgAPI, api.KernelArgCA).
	API, CAFingerprint string
	// Once stops after the configuration is fetched and applied.
	Once bool
	// SetHostname sets the hostname even when not PID 1.
	SetHostname bool
	// Root inventories a machine dump under this directory (tests).
	Root string
	// BackoffMax caps the wait between retries; 0: backoff.Default's.
	BackoffMax time.Duration
	// Cmdline is the kernel command line's file; "": /proc/cmdline.
	Cmdline string
	// Verbose logs debug records.
	Verbose bool
}

func (o Options) flags() runFlags {
	f := runFlags{api: o.API, ca: o.CAFingerprint, once: o.Once, setHostname: o.SetHostname, root: o.Root,
		backoffMax: o.BackoffMax, cmdline: o.Cmdline, verbose: o.Verbose}
	if f.cmdline == "" {
		f.cmdline = "/proc/cmdline"
	}
	return f
}

// Run enrols the node with the controller, applies its configuration and
// heartbeats until ctx ends ("corral-agent run"); errOut gets the log.
func Run(ctx context.Context, o Options, errOut io.Writer) error {
	return runAgent(ctx, o.flags(), hostDeps(), errOut)
}

// Init runs as the node's init (PID 1): stage 1 in the initramfs, stage 2
// after switch_root ("corral-agent init"). It does not return under PID 1.
func Init(ctx context.Context, o Options, stage int, out io.Writer) error {
	return runInit(ctx, o.flags(), stage, out)
}
