package main

import "github.com/spf13/cobra"

func newNodesRejectCmd(dial dialFunc) *cobra.Command {
	return newNodesReasonCmd(dial, "reject", "rejected", &cobra.Command{
		Use:   "reject NODE",
		Short: "Refuse a discovered or pending node: it is decommissioned and gets nothing",
		Long: `Refuse a node that is waiting (state discovered or pending). It becomes
decommissioned: it never receives a credential or configuration, and its
registrations are refused until ` + "`corral nodes forget`" + ` removes it. The reason is
kept in the node's events.

With --request, or for a node that is not waiting (an identity conflict of an
enrolled node), only that registration request is dismissed: the node is
unchanged.

To take a node that already joined out of service, use ` + "`corral nodes decommission`" + `.`,
		Example: `  corral nodes reject 52:54:00:aa:bb:cc --reason "not ours: lab laptop on the provisioning VLAN"
  corral nodes reject gpu-07 --request 3f9c0a1b2c4d --reason "copy of gpu-07's identity"`,
	})
}
