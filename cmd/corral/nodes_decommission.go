package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesDecommissionFlags struct {
	reason string
	output string
	node   string
}

func newNodesDecommissionCmd(dial dialFunc) *cobra.Command {
	var f nodesDecommissionFlags
	cmd := &cobra.Command{
		Use:   "decommission NODE",
		Short: "Take a node out of service: its credential is revoked at once",
		Long: `Take a node out of service, whatever its state. Its credential is revoked at
once: its agent's requests are refused from now on, and so are its
registrations, until ` + "`corral nodes forget`" + ` removes the record. The node's
history is kept. The reason is kept in the node's events.`,
		Example: `  corral nodes decommission gpu-07 --reason "PSU failure, RMA 4411"
  corral nodes decommission n3f2a9c0d1e4b5a6978695a4b -o yaml`,
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

func (f *nodesDecommissionFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	n, err := d.actOn(ctx, f.node, "decommission", v1alpha1.ActionRequest{Reason: f.reason})
	if err != nil {
		return fmt.Errorf("decommission %s: %w", f.node, err)
	}
	return d.writeResult(out, f.output, n, fmt.Sprintf("decommissioned %s: now %s", displayName(n), n.State))
}
