package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"corral.io/corral/profiles"
)

type profilesListFlags struct {
	dir    string
	output string
}

func newProfilesListCmd(deps profilesDeps) *cobra.Command {
	var f profilesListFlags
	cmd := &cobra.Command{
		Use:   "list [--dir DIR]",
		Short: "List the shipped profiles and those in a directory",
		Long: `List the profiles a node can get, in the order rules are tried: highest
priority first, then by name. With --dir, the *.yaml and *.yml files of DIR are
added; a profile there replaces a shipped one of the same name.`,
		Example: `  corral profiles list
  corral profiles list --dir /etc/corral/profiles -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runProfilesList(cmd.Context(), deps, f, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&f.dir, "dir", "", "directory of profile files to add to the shipped ones")
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
	return cmd
}

// profileItem is one profile as list prints it in JSON and YAML.
type profileItem struct {
	*profiles.Profile `yaml:",inline"`
	Source            profiles.Source `json:"source" yaml:"source"`
}

func runProfilesList(_ context.Context, deps profilesDeps, f profilesListFlags, out io.Writer) error {
	if err := profilesCheckOutput(f.output); err != nil {
		return err
	}
	set, err := profilesLoadSet(deps, f.dir)
	if err != nil {
		return err
	}
	if f.output != "table" {
		items := make([]profileItem, 0, len(set))
		for _, p := range set {
			items = append(items, profileItem{Profile: p, Source: p.Source()})
		}
		return profilesWrite(out, f.output, items)
	}
	tw := profilesTable(out)
	fmt.Fprintln(tw, "NAME\tPRIORITY\tROLE\tSELECTORS\tMATCH\tSOURCE")
	for _, p := range set {
		s := p.Selectors
		sel := "-"
		if n := len(s.MACs) + len(s.Serials) + len(s.UUIDs) + len(s.NodeIDs) + len(s.Hostnames); n > 0 {
			sel = strconv.Itoa(n)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%s\n", p.Name, p.Priority, profilesDash(p.Role),
			sel, profilesDash(profilesOneLine(p.Match, 60)), p.Source())
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
