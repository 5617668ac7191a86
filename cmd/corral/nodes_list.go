package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesListFlags struct {
	output   string
	state    string
	selector []string
}

func newNodesListCmd(dial dialFunc) *cobra.Command {
	var f nodesListFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the nodes",
		Long: `List every node the controller knows, sorted by hostname (nodes without one
last, by id).

WAITING FOR says what keeps a node from being ready: "approval" (pending:
` + "`corral nodes approve`" + `), "heartbeat" (lost), or for an approved or
provisioning node "agent" (it has not booted, fetched its configuration or
reported it applied: ` + "`corral nodes logs`" + ` shows its boot) and, when the
controller reconciles Kubernetes (kube.kubeconfig), "kubernetes node" (its
Kubernetes Node, named after the hostname, is missing or not Ready:
` + "`kubectl describe node NAME`" + `). ` + "`corral nodes show`" + ` prints these conditions
in full; -o json and -o yaml carry them as "conditions".

PROFILE is the profile in force; a star marks one an operator assigned
(` + "`corral nodes assign`" + `). MAC is the node's first MAC address, with the number of
others. AGE is the time since the node first registered, LAST SEEN the time
since it was last heard from.`,
		Example: `  corral nodes list
  corral nodes list --state pending
  corral nodes list --state provisioning   # and what each one waits for
  corral nodes list -l rack=b4 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := f.validate(); err != nil {
				return err
			}
			d, err := dial(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd.Context(), d, cmd.OutOrStdout())
		},
	}
	addOutputFlag(cmd, &f.output, outputTable, "output format: table, wide (the table with time in state, every MAC and the labels), json or yaml")
	cmd.Flags().StringVar(&f.state, "state", "", "only nodes in this state ("+strings.Join(nodeStateNames(), ", ")+")")
	cmd.Flags().StringSliceVarP(&f.selector, "selector", "l", nil, "only nodes with this label, key=value (repeat for all of several)")
	return cmd
}

// nodeStateNames are the states --state accepts, in lifecycle order.
func nodeStateNames() []string {
	var out []string
	for _, s := range v1alpha1.NodeStates() {
		out = append(out, string(s))
	}
	return out
}

func (f *nodesListFlags) validate() error {
	if err := checkNodesOutput(f.output, outputTable, outputWide, outputJSON, outputYAML); err != nil {
		return err
	}
	if f.state != "" && !v1alpha1.NodeState(f.state).Valid() {
		return fmt.Errorf("--state %q: use one of %s", f.state, orList(nodeStateNames()))
	}
	for _, s := range f.selector {
		if k, _, ok := strings.Cut(s, "="); !ok || k == "" {
			return fmt.Errorf("--selector %q: write key=value", s)
		}
	}
	return nil
}

func (f *nodesListFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	nodes, err := d.api.Nodes(ctx)
	if err != nil {
		return d.explain(err, "")
	}
	nodes = slices.DeleteFunc(nodes, func(n v1alpha1.Node) bool { return !f.match(n) })
	if f.output == outputTable || f.output == outputWide {
		slices.SortStableFunc(nodes, func(a, b v1alpha1.Node) int {
			// Named nodes first, by name; then the others by id.
			if an, bn := a.Hostname == "", b.Hostname == ""; an != bn {
				if an {
					return 1
				}
				return -1
			}
			return cmp.Or(cmp.Compare(a.Hostname, b.Hostname), cmp.Compare(a.ID, b.ID))
		})
		if len(nodes) == 0 {
			_, err := fmt.Fprintln(out, "No nodes.")
			return err
		}
	}
	return writeNodes(out, f.output, nodes, d.now(), true)
}

func (f *nodesListFlags) match(n v1alpha1.Node) bool {
	if f.state != "" && n.State != v1alpha1.NodeState(f.state) {
		return false
	}
	for _, s := range f.selector {
		k, v, _ := strings.Cut(s, "=")
		if got, ok := n.Labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}
