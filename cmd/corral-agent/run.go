package main

import (
	"github.com/spf13/cobra"

	"corral.io/corral/agent/boot"
	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

func newRunCmd() *cobra.Command {
	var o boot.Options
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Enroll with the controller, apply this node's configuration and heartbeat",
		Long: `Register this machine with the controller, wait for it to be approved, fetch
its configuration, apply it and heartbeat until stopped.

The controller's API URL and the fingerprint of its CA come from the kernel
command line (` + api.KernelArgAPI + `= and ` + api.KernelArgCA + `=, put there by the iPXE script),
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
			return boot.Run(cmd.Context(), o, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVar(&o.API, "api", "", "controller API URL, https://host:9443 (default: "+api.KernelArgAPI+"= from the kernel command line)")
	cmd.Flags().StringVar(&o.CAFingerprint, "ca-fingerprint", "", "hex SHA-256 of the controller's CA certificate (default: "+api.KernelArgCA+"= from the kernel command line)")
	cmd.Flags().BoolVar(&o.Once, "once", false, "exit once the configuration is fetched and applied, without heartbeating")
	cmd.Flags().BoolVar(&o.SetHostname, "set-hostname", false, "set the hostname from the configuration even when not PID 1")
	cmd.Flags().StringVar(&o.Root, "root", "", "inventory a machine dump under this directory instead of the running machine (tests)")
	cmd.Flags().DurationVar(&o.BackoffMax, "backoff-max", backoff.Default.Max, "longest wait between retries while the controller is unreachable")
	cmd.Flags().StringVar(&o.Cmdline, "cmdline", "/proc/cmdline", "kernel command line to read "+api.KernelArgAPI+"= and "+api.KernelArgCA+"= from")
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "log debug records")
	return cmd
}
