package main

import (
	"github.com/spf13/cobra"

	"corral.io/corral/agent/boot"
	api "corral.io/corral/api/v1alpha1"
)

func newInitCmd() *cobra.Command {
	var o boot.Options
	var stage int
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Run as the node's init (PID 1) in the initramfs: bring the node up and enrol it",
		Long: `Run as the first process of a network-booted node. In order: mount /proc,
/sys, /dev and /run; reap orphaned processes; load the kernel modules the
image carries (every module in /lib/modules/<release>/modules.dep); bring up
the boot NIC named by BOOTIF= (or the first physical NIC that gets a DHCP
lease) and keep renewing its lease (a new address rewrites k3s' node-ip and
restarts k3s agent); register with the controller at once, so
that this stage's log reaches it (corral nodes logs) even if it gets no
further; then, when the kernel command line names a root filesystem
(` + api.KernelArgRootfs + `=<http URL of rootfs.squashfs> ` + api.KernelArgRootfsSHA256 + `=<hex>),
download it into RAM, check its sha256, mount it read-only with a tmpfs
overlay, switch_root into it and run again from there as stage 2
(/usr/local/bin/corral-agent init --stage=2), the network staying up. Without
` + api.KernelArgRootfs + `= everything runs in the initramfs. Then enrol exactly as
"corral-agent run" does, with the controller and CA fingerprint from
` + api.KernelArgAPI + `= and ` + api.KernelArgCA + `=, and set the hostname.

As PID 1 it reaps orphans and obeys signals: SIGTERM and SIGINT
(Ctrl-Alt-Del) reboot, SIGUSR2 powers off, SIGUSR1 halts, each after
stopping the agent's own work (k3s included) and sending the controller what
is left of the log, then terminating every process, syncing and unmounting.

Every step logs to the console and retries with backoff, saying what it
waits for; init never exits, because the kernel panics when PID 1 does.
The initramfs runs this verb when the kernel starts /init (the agent binary)
as PID 1 with no arguments.`,
		Example: `  # from the kernel, as /init (no arguments): the same as
  corral-agent init`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return boot.Init(cmd.Context(), o, stage, cmd.ErrOrStderr())
		},
	}
	cmd.Flags().BoolVarP(&o.Verbose, "verbose", "v", false, "log debug records")
	cmd.Flags().IntVar(&stage, "stage", 1, "1: in the initramfs; 2: exec'ed by stage 1 after switch_root into the root filesystem")
	_ = cmd.Flags().MarkHidden("stage")
	return cmd
}
