package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

// nodesReasonFlags are the flags of the verbs that change a node's state
// and record why: approve, reject, decommission.
type nodesReasonFlags struct {
	reason  string
	request string
	output  string
	node    string
}

// newNodesReasonCmd completes cmd (its documentation filled by the verb's
// file) as the verb that POSTs action to the node and reports it as done.
func newNodesReasonCmd(dial dialFunc, action, done string, cmd *cobra.Command) *cobra.Command {
	var f nodesReasonFlags
	cmd.Args = cobra.ExactArgs(1)
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		f.node = args[0]
		if err := checkNodesOutput(f.output, "", outputTable, outputJSON, outputYAML); err != nil {
			return err
		}
		d, err := dial(cmd)
		if err != nil {
			return err
		}
		return f.run(cmd.Context(), d, cmd.OutOrStdout(), action, done)
	}
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the node's events")
	if action == "approve" || action == "reject" {
		cmd.Flags().StringVar(&f.request, "request", "", "the registration request to "+action+" (an ID from corral nodes show); needed when the node has several")
	}
	addOutputFlag(cmd, &f.output, "", writeOutputUsage)
	return cmd
}

func (f *nodesReasonFlags) run(ctx context.Context, d *nodesDeps, out io.Writer, action, done string) error {
	n, err := d.actOn(ctx, f.node, action, v1alpha1.ActionRequest{Reason: f.reason, Request: f.request})
	if err != nil {
		return fmt.Errorf("%s %s: %w", action, f.node, err)
	}
	return d.writeResult(out, f.output, n, fmt.Sprintf("%s %s: now %s", done, displayName(n), n.State))
}
