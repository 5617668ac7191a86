package main

import "github.com/spf13/cobra"

func newNodesApproveCmd(dial dialFunc) *cobra.Command {
	return newNodesReasonCmd(dial, "approve", "approved", &cobra.Command{
		Use:   "approve NODE",
		Short: "Let a discovered or pending node join: it receives its credential and configuration",
		Long: `Approve a node that is waiting (state discovered or pending). At its next
request the node's agent receives its own credential and then its
configuration from the profile in force. The reason is kept in the node's
events.`,
		Example: `  corral nodes approve gpu-07
  corral nodes approve 52:54:00:12:34:56 --reason "racked in B4, ticket OPS-112"`,
	})
}
