package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesRejectFlags struct {
	reason string
	output string
	node   string
}

func newNodesRejectCmd(dial dialFunc) *cobra.Command {
	var f nodesRejectFlags
	cmd := &cobra.Command{
		Use:   "reject NODE",
		Short: "Refuse a discovered or pending node: it is decommissioned and gets nothing",
		Long: `Refuse a node that is waiting (state discovered or pending). It becomes
decommissioned: it never receives a credential or configuration, and its
registrations are refused until ` + "`corral nodes forget`" + ` removes it. The reason is
kept in the node's events.

To take a node that already joined out of service, use ` + "`corral nodes decommission`" + `.`,
		Example: `  corral nodes reject 52:54:00:aa:bb:cc --reason "not ours: lab laptop on the provisioning VLAN"`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			if err := checkNodesOutput(f.output, "", outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			d, err := dial(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd.Context(), d, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the node's events")
	addOutputFlag(cmd, &f.output, "", writeOutputUsage)
	return cmd
}

func (f *nodesRejectFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	n, err := d.actOn(ctx, f.node, "reject", v1alpha1.ActionRequest{Reason: f.reason})
	if err != nil {
		return fmt.Errorf("reject %s: %w", f.node, err)
	}
	return d.writeResult(out, f.output, n, fmt.Sprintf("rejected %s: now %s", displayName(n), n.State))
}
