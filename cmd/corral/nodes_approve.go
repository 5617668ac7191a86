package main

import "github.com/spf13/cobra"

func newNodesApproveCmd(dial dialFunc) *cobra.Command {
	return newNodesReasonCmd(dial, "approve", "approved", &cobra.Command{
		Use:   "approve NODE",
		Short: "Let a discovered or pending node join: it receives its credential and configuration",
		Long: `Approve a registration request of a node. Every registration that the policy
did not approve is a request of its own, with its own inventory and source
address (` + "`corral nodes show NODE`" + ` lists them); approving one makes its inventory
the node's, and only the machine that sent it receives the credential and
then its configuration from the profile in force. The node's other requests
are discarded. With several requests, choose one with --request.

A request flagged "identity conflict" came for a node that holds a
credential and did not present it: approving it revokes that credential and
hands the node to the machine that sent the request. The reason is kept in
the node's events.`,
		Example: `  corral nodes approve gpu-07
  corral nodes approve 52:54:00:12:34:56 --reason "racked in B4, ticket OPS-112"
  corral nodes approve gpu-07 --request 3f9c0a1b2c4d`,
	})
}
