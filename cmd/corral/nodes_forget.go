package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

type nodesForgetFlags struct {
	yes  bool
	node string
}

func newNodesForgetCmd(dial dialFunc) *cobra.Command {
	var f nodesForgetFlags
	cmd := &cobra.Command{
		Use:   "forget NODE",
		Short: "Delete a node's record and history; if it boots again it enrols as a new machine",
		Long: `Delete a node's record, its credential and its history from the controller.
This cannot be undone. If the machine boots again, it registers as a new node
and must be approved again (unless the enrolment policy approves it).

A decommissioned or rejected node must be forgotten before it may enrol
again. Asks for confirmation unless --yes is given.`,
		Example: `  corral nodes forget gpu-07
  corral nodes forget n3f2a9c0d1e4b5a6978695a4b --yes`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			d, err := dial(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd.Context(), d, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&f.yes, "yes", "y", false, "do not ask for confirmation")
	return cmd
}

func (f *nodesForgetFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	id, err := d.resolve(ctx, f.node)
	if err != nil {
		return fmt.Errorf("forget %s: %w", f.node, err)
	}
	n, err := d.api.Node(ctx, id)
	if err != nil {
		return fmt.Errorf("forget %s: %w", f.node, d.explain(err, f.node))
	}
	if !f.yes {
		fmt.Fprintf(d.prompt, "Forget %s (%s)? Its record and history are deleted. [y/N] ", displayName(n), n.State)
		answer, err := bufio.NewReader(d.in).ReadString('\n')
		if err != nil && answer == "" {
			return fmt.Errorf("forget %s: no answer to the confirmation (%v): pass --yes to forget without asking", f.node, err)
		}
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
		default:
			return fmt.Errorf("forget %s: not confirmed; nothing was changed", f.node)
		}
	}
	if err := d.api.Forget(ctx, id); err != nil {
		return fmt.Errorf("forget %s: %w", f.node, d.explain(err, f.node))
	}
	_, err = fmt.Fprintf(out, "forgot %s\n", displayName(n))
	return err
}
