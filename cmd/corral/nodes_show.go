package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"
)

type nodesShowFlags struct {
	output string
	node   string
}

func newNodesShowCmd(dial dialFunc) *cobra.Command {
	var f nodesShowFlags
	cmd := &cobra.Command{
		Use:     "show NODE",
		Aliases: []string{"get", "describe"},
		Short:   "Show one node: its record, a summary of its hardware and its latest events",
		Long: `Show one node: state, profile, labels and MACs; a summary of the hardware
it reported (system, CPU, memory, disks, GPUs, NICs); and its latest events.

"Waits for" and Conditions say what keeps a node that is not ready from
being ready. AgentReady: its agent reported its configuration applied (Unknown
when the node is lost). KubeReady, only when the controller reconciles
Kubernetes (kube.kubeconfig): its Kubernetes Node, named after the hostname,
is Ready. A node is ready when both are True. SINCE shows when the controller
knows when a condition changed (KubeReady, when the node's Kubernetes Node
moved it; the message then ends with what the cluster reported).

-o json and -o yaml print the Node document with the full inventory as the
agent reported it (see docs/inventory.md), without the events.`,
		Example: `  corral nodes show gpu-07
  corral nodes show n3f2a9c0d1e4b5a6978695a4b -o yaml
  corral nodes show 52:54:00:12:34:56 -o json | jq .inventory.disks`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			if err := checkNodesOutput(f.output, outputTable, outputJSON, outputYAML); err != nil {
				return err
			}
			d, err := dial(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd.Context(), d, cmd.OutOrStdout())
		},
	}
	addOutputFlag(cmd, &f.output, outputTable, "output format: table, json or yaml")
	return cmd
}

func (f *nodesShowFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	id, err := d.resolve(ctx, f.node)
	if err != nil {
		return err
	}
	n, err := d.api.Node(ctx, id)
	if err != nil {
		return d.explain(err, f.node)
	}
	if f.output != outputTable {
		return writeDocument(out, f.output, withKind(n))
	}
	events, err := d.api.Events(ctx, id)
	if err != nil {
		return d.explain(err, f.node)
	}
	return writeNodeDetails(out, n, events, d.now())
}
