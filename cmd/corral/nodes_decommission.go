package main

import "github.com/spf13/cobra"

func newNodesDecommissionCmd(dial dialFunc) *cobra.Command {
	return newNodesReasonCmd(dial, "decommission", "decommissioned", &cobra.Command{
		Use:   "decommission NODE",
		Short: "Take a node out of service: its credential is revoked at once",
		Long: `Take a node out of service, whatever its state. Its credential is revoked at
once: its agent's requests are refused from now on, and so are its
registrations, until ` + "`corral nodes forget`" + ` removes the record. The node's
history is kept. The reason is kept in the node's events.`,
		Example: `  corral nodes decommission gpu-07 --reason "PSU failure, RMA 4411"
  corral nodes decommission n3f2a9c0d1e4b5a6978695a4b -o yaml`,
	})
}
