package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesAssignFlags struct {
	clear   bool
	reason  string
	output  string
	node    string
	profile string
}

func newNodesAssignCmd(dial dialFunc) *cobra.Command {
	var f nodesAssignFlags
	cmd := &cobra.Command{
		Use:   "assign NODE PROFILE | assign NODE --clear",
		Short: "Force a node's profile, or return it to the profiles' match rules",
		Long: `Force the profile a node gets, whatever the profiles' match rules and
selectors say. --clear removes the assignment: the rules choose again.

The profile must exist on the controller (` + "`corral profiles list`" + `). The node
applies its new profile the next time it fetches its configuration (at its
next boot).`,
		Example: `  corral nodes assign gpu-07 storage --reason "GPU out for repair"
  corral nodes assign gpu-07 --clear`,
		Args: func(cmd *cobra.Command, args []string) error {
			switch {
			case f.clear && len(args) != 1:
				return errors.New("with --clear give only NODE")
			case !f.clear && len(args) != 2:
				return errors.New("give NODE and PROFILE, or NODE and --clear")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			if len(args) == 2 {
				f.profile = args[1]
			}
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
	cmd.Flags().BoolVar(&f.clear, "clear", false, "remove the assignment: the profiles' rules choose")
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the node's events")
	addOutputFlag(cmd, &f.output, "", writeOutputUsage)
	return cmd
}

func (f *nodesAssignFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	n, err := d.actOn(ctx, f.node, "assign", v1alpha1.ActionRequest{Profile: f.profile, Reason: f.reason})
	if err != nil {
		return fmt.Errorf("assign %s: %w", f.node, err)
	}
	msg := fmt.Sprintf("assigned profile %s to %s", n.AssignedProfile, displayName(n))
	if f.profile == "" {
		msg = fmt.Sprintf("%s: profile chosen by the rules again (in force now: %s)", displayName(n), dash(n.Profile))
	}
	return d.writeResult(out, f.output, n, msg)
}
