package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/profiles"
)

// maxInventorySize is the largest inventory file explain reads.
const maxInventorySize = 4 << 20

type profilesExplainFlags struct {
	inventory string
	dir       string
	assign    string
	hostname  string
	index     int
	output    string
	// clientConfig, for explaining a NODE through the controller.
	clientConfig string
}

func newProfilesExplainCmd(deps profilesDeps) *cobra.Command {
	var f profilesExplainFlags
	cmd := &cobra.Command{
		Use:   "explain NODE | --inventory FILE.json [--dir DIR] [--assign NAME]",
		Short: "Say which profile a node gets, why the others lose, and what it makes of the node",
		Long: `Run profile selection for a node's inventory and explain it: which profile
is chosen (an operator's assignment first, then selectors, then rules by
priority, ties broken by name), and for every other profile whether it
matched and lost, did not match (and which selector or rule said no) or failed.
Then show what the chosen profile makes of the node: hostname, labels, taints,
kernel and k3s arguments and the disk plan with the reason for every disk.

With NODE (an id, hostname or MAC), the controller explains the node it
knows, with its own profile set and the node's assignment — the decision that
made the node's configuration (needs the client configuration, as corral nodes).
With --inventory, the CLI explains a JSON inventory file as
"corral-agent inventory -o json" prints it, with the shipped profiles and --dir.`,
		Example: `  corral profiles explain worker-07
  corral-agent inventory -o json > node.json
  corral profiles explain --inventory node.json
  corral profiles explain --inventory node.json --dir /etc/corral/profiles --assign storage -o yaml`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case len(args) == 1 && f.inventory != "":
				return errors.New("give NODE or --inventory, not both")
			case len(args) == 1:
				if err := profilesCheckOutput(f.output); err != nil {
					return err
				}
				d, err := connect(cmd, f.clientConfig)
				if err != nil {
					return err
				}
				return runProfilesExplainNode(cmd.Context(), d, args[0], f.output, cmd.OutOrStdout())
			case f.inventory == "":
				return errors.New("give a NODE to explain, or --inventory FILE.json")
			}
			return runProfilesExplain(cmd.Context(), deps, f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.inventory, "inventory", "", "the node's inventory, a JSON file (instead of NODE)")
	fl.StringVar(&f.clientConfig, "client-config", "", "client configuration file, with NODE (default: see corral nodes --help)")
	fl.StringVar(&f.dir, "dir", "", "directory of profile files to add to the shipped ones")
	fl.StringVar(&f.assign, "assign", "", "explain as if an operator had assigned this profile")
	fl.StringVar(&f.hostname, "hostname", "", "the hostname the registry knows the node by (for hostname selectors)")
	fl.IntVar(&f.index, "index", 1, "the node's number within its profile, for {{.Index}} in hostname templates (the registry assigns it)")
	fl.StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// runProfilesExplainNode asks the controller to explain a node it knows.
func runProfilesExplainNode(ctx context.Context, d *nodesDeps, ref, output string, out io.Writer) error {
	id, err := d.resolve(ctx, ref)
	if err != nil {
		return err
	}
	ex, err := d.api.Explain(ctx, id)
	if err != nil {
		return d.explain(err, ref)
	}
	if output != "table" {
		return profilesWrite(out, output, ex)
	}
	tw := profilesTable(out)
	fmt.Fprintf(tw, "Node:\t%s\n", ex.NodeID)
	fmt.Fprintf(tw, "Profile:\t%s (by %s)\n\n", profilesDash(ex.Profile), profilesDash(ex.By))
	fmt.Fprintln(tw, "PROFILE\tPRIORITY\tRESULT\tREASON")
	for _, p := range ex.Profiles {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", p.Profile, p.Priority, p.Result, p.Reason)
	}
	return tw.Flush()
}

// explainResult is what -o json and -o yaml print.
type explainResult struct {
	Node     string            `json:"node" yaml:"node"`
	Decision profiles.Decision `json:"decision" yaml:"decision"`
	Plan     *profiles.Plan    `json:"plan,omitempty" yaml:"plan,omitempty"`
	Error    string            `json:"error,omitempty" yaml:"error,omitempty"`
}

func runProfilesExplain(_ context.Context, deps profilesDeps, f profilesExplainFlags, out io.Writer) error {
	if err := profilesCheckOutput(f.output); err != nil {
		return err
	}
	inv, err := readInventoryFile(f.inventory)
	if err != nil {
		return err
	}
	set, err := profilesLoadSet(deps, f.dir)
	if err != nil {
		return err
	}
	d, selErr := profiles.Select(inv, set, profiles.SelectOptions{Assignment: f.assign, Hostname: f.hostname})
	if selErr != nil && !errors.Is(selErr, profiles.ErrNoProfile) {
		return selErr
	}
	res := explainResult{Node: inv.Identity.NodeID, Decision: d}
	var planErr error
	if p := d.Chosen(set); p != nil {
		res.Plan, planErr = profiles.Resolve(inv, p, profiles.ResolveOptions{Index: f.index})
	}
	switch {
	case selErr != nil:
		res.Error = selErr.Error()
	case planErr != nil:
		res.Error = planErr.Error()
	}
	if f.output != "table" {
		if err := profilesWrite(out, f.output, res); err != nil {
			return err
		}
	} else if err := writeExplainTable(out, inv, res); err != nil {
		return err
	}
	if selErr != nil {
		return selErr
	}
	return planErr
}

// readInventoryFile reads an Inventory document. Unknown fields are
// allowed: an agent newer than this CLI may report more.
func readInventoryFile(path string) (*v1alpha1.Inventory, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read inventory: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxInventorySize+1))
	if err != nil {
		return nil, fmt.Errorf("read inventory %s: %w", path, err)
	}
	if len(data) > maxInventorySize {
		return nil, fmt.Errorf("inventory %s is larger than %d bytes", path, maxInventorySize)
	}
	var inv v1alpha1.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		return nil, fmt.Errorf("inventory %s: %w (want the JSON of corral-agent inventory -o json)", path, err)
	}
	if inv.Kind != v1alpha1.KindInventory {
		return nil, fmt.Errorf("inventory %s: kind is %q, want %q (the JSON of corral-agent inventory -o json)", path, inv.Kind, v1alpha1.KindInventory)
	}
	return &inv, nil
}

// writeExplainTable prints the decision and the plan for people.
func writeExplainTable(out io.Writer, inv *v1alpha1.Inventory, res explainResult) error {
	d := res.Decision
	node := profilesDash(inv.Identity.NodeID)
	if what := strings.TrimSpace(inv.System.Vendor + " " + inv.System.Product); what != "" {
		node += " (" + what + ")"
	}
	if d.Profile != "" {
		fmt.Fprintf(out, "Node %s gets profile %s (by %s).\n\n", node, d.Profile, d.By)
	} else {
		fmt.Fprintf(out, "Node %s matches no profile.\n\n", node)
	}
	tw := profilesTable(out)
	fmt.Fprintln(tw, "PROFILE\tPRIORITY\tRESULT\tWHY")
	for _, x := range d.Explanations {
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\n", x.Profile, x.Priority, x.Result, x.Reason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if res.Plan == nil {
		if res.Error != "" && d.Profile != "" {
			fmt.Fprintf(out, "\nThe profile cannot be applied: %s\n", res.Error)
		}
		return nil
	}
	p := res.Plan
	// Labels the profile adds or changes; the inventory's own are counted.
	var added []string
	for k, v := range p.Labels {
		if iv, ok := inv.Labels[k]; !ok || iv != v {
			added = append(added, k+"="+v)
		}
	}
	sort.Strings(added)
	var taints []string
	for _, t := range p.Taints {
		taints = append(taints, t.String())
	}
	fmt.Fprintln(out)
	tw = profilesTable(out)
	fmt.Fprintf(tw, "Hostname:\t%s\n", p.Hostname)
	fmt.Fprintf(tw, "Labels:\t%s (and %d from the inventory)\n", strings.Join(added, ", "), len(p.Labels)-len(added))
	fmt.Fprintf(tw, "Taints:\t%s\n", profilesDash(strings.Join(taints, ", ")))
	fmt.Fprintf(tw, "Kernel args:\t%s\n", profilesDash(strings.Join(p.KernelArgs, " ")))
	fmt.Fprintf(tw, "k3s args:\t%s\n", profilesDash(strings.Join(p.K3sArgs, " ")))
	image := p.ImageVersion
	if image == "" {
		image = "(the controller's active image)"
	}
	fmt.Fprintf(tw, "Image:\t%s\n", image)
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if len(p.Disks) == 0 {
		fmt.Fprintln(out, "\nDisks: none")
		return nil
	}
	fmt.Fprintln(out)
	tw = profilesTable(out)
	fmt.Fprintln(tw, "DISK\tSIZE\tCONTENTS\tUSE\tACTION\tWHY")
	for _, dd := range p.Disks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", dd.Name, profilesSize(dd.SizeBytes), dd.Contents, dd.Use, dd.Action, dd.Reason)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}

// profilesSize prints bytes in binary units, e.g. 1.7T for 1.92 TB.
func profilesSize(b uint64) string {
	const units = "KMGTPE"
	if b < 1024 {
		return fmt.Sprintf("%dB", b)
	}
	f := float64(b)
	i := -1
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	return fmt.Sprintf("%.1f%ci", f, units[i])
}
