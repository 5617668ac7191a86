package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
)

type nodesLabelFlags struct {
	reason string
	output string
	node   string
	set    map[string]string
	remove []string
}

func newNodesLabelCmd(dial dialFunc) *cobra.Command {
	var f nodesLabelFlags
	cmd := &cobra.Command{
		Use:   "label NODE key=value... key-...",
		Short: "Set or remove a node's labels (key=value sets, key- removes)",
		Long: `Set or remove the labels an operator gives a node, on top of those of its
profile: key=value sets a label (replacing its value), key- removes it.
Keys and values follow Kubernetes' syntax (an optional DNS prefix and a
name of at most 63 characters); kubernetes.io and k8s.io keys are Corral's
and Kubernetes' own and are refused.

All changes are made at once, or none is.`,
		Example: `  corral nodes label gpu-07 rack=b4 corral.io/pool=training
  corral nodes label gpu-07 rack-
  corral nodes label 52:54:00:12:34:56 rack=b5 pool- -o yaml`,
		Args: cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			if err := f.parse(args[1:]); err != nil {
				return err
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
	cmd.Flags().StringVar(&f.reason, "reason", "", "why, recorded in the node's events")
	addOutputFlag(cmd, &f.output, "", writeOutputUsage)
	return cmd
}

// parse reads key=value and key- arguments.
func (f *nodesLabelFlags) parse(args []string) error {
	f.set, f.remove = map[string]string{}, nil
	for _, a := range args {
		if k, v, ok := strings.Cut(a, "="); ok {
			if k == "" {
				return fmt.Errorf("label %q: the key is empty; write key=value", a)
			}
			if old, dup := f.set[k]; dup && old != v {
				return fmt.Errorf("label %s is given twice (%q and %q): keep one", k, old, v)
			}
			f.set[k] = v
			continue
		}
		k, ok := strings.CutSuffix(a, "-")
		if !ok || k == "" {
			return fmt.Errorf("label %q: write key=value to set a label or key- to remove it", a)
		}
		if !slices.Contains(f.remove, k) {
			f.remove = append(f.remove, k)
		}
	}
	for _, k := range f.remove {
		if _, both := f.set[k]; both {
			return fmt.Errorf("label %s is both set and removed: keep one", k)
		}
	}
	return nil
}

func (f *nodesLabelFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	req := v1alpha1.ActionRequest{Reason: f.reason, Remove: f.remove}
	if len(f.set) > 0 {
		req.Set = f.set
	}
	n, err := d.actOn(ctx, f.node, "labels", req)
	if err != nil {
		return fmt.Errorf("label %s: %w", f.node, err)
	}
	var changes []string
	for _, k := range slices.Sorted(maps.Keys(f.set)) {
		changes = append(changes, k+"="+f.set[k])
	}
	for _, k := range f.remove {
		changes = append(changes, k+"-")
	}
	msg := fmt.Sprintf("labelled %s (%s): labels now %s", displayName(n), strings.Join(changes, " "), labelList(n.Labels))
	return d.writeResult(out, f.output, n, msg)
}
