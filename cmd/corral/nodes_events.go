package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

type nodesEventsFlags struct {
	output string
	node   string
}

func newNodesEventsCmd(dial dialFunc) *cobra.Command {
	var f nodesEventsFlags
	cmd := &cobra.Command{
		Use:   "events NODE",
		Short: "Show a node's history: state changes with their reasons, hardware changes",
		Long: `Show a node's history, oldest first: its registration, every state change with
the reason given, profile and label changes, and the differences found when
it registered with changed hardware (one per line under DETAILS).

CHANGE is the state change of a state event, the profile change of a profile
event ("-" means chosen by the rules). Times are in UTC.`,
		Example: `  corral nodes events gpu-07
  corral nodes events n3f2a9c0d1e4b5a6978695a4b -o json`,
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

func (f *nodesEventsFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	id, err := d.resolve(ctx, f.node)
	if err != nil {
		return err
	}
	events, err := d.api.Events(ctx, id)
	if err != nil {
		return d.explain(err, f.node)
	}
	if f.output == outputTable && len(events) == 0 {
		_, err := fmt.Fprintln(out, "No events.")
		return err
	}
	return writeEvents(out, f.output, events, d.now())
}
