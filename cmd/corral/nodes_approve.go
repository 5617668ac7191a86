package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesApproveFlags struct {
	reason string
	output string
	node   string
}

func newNodesApproveCmd(dial dialFunc) *cobra.Command {
	var f nodesApproveFlags
	cmd := &cobra.Command{
		Use:   "approve NODE",
		Short: "Let a discovered or pending node join: it receives its credential and configuration",
		Long: `Approve a node that is waiting (state discovered or pending). At its next
request the node's agent receives its own credential and then its
configuration from the profile in force. The reason is kept in the node's
events.`,
		Example: `  corral nodes approve gpu-07
  corral nodes approve 52:54:00:12:34:56 --reason "racked in B4, ticket OPS-112"`,
		Args: cobra.ExactArgs(1),
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

func (f *nodesApproveFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	n, err := d.actOn(ctx, f.node, "approve", v1alpha1.ActionRequest{Reason: f.reason})
	if err != nil {
		return fmt.Errorf("approve %s: %w", f.node, err)
	}
	return d.writeResult(out, f.output, n, fmt.Sprintf("approved %s: now %s", displayName(n), n.State))
}
