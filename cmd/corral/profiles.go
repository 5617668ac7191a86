package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/profiles"
)

// profilesDeps is what the profiles commands take from outside.
type profilesDeps struct {
	// defaults returns the shipped profiles.
	defaults func() ([]*profiles.Profile, error)
}

func defaultProfilesDeps() profilesDeps {
	return profilesDeps{defaults: profiles.Defaults}
}

func newProfilesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profiles",
		Short: "List, validate and explain node profiles",
		Long: `A profile says what a node becomes: its role, labels, taints, hostname,
kernel and k3s arguments and which of its disks become scratch space or Ceph
OSDs. Corral ships gpu-worker, storage and compute; a directory of YAML files
adds profiles or replaces shipped ones of the same name. See docs/profiles.md.`,
		Args: cobra.NoArgs,
	}
	deps := defaultProfilesDeps()
	cmd.AddCommand(newProfilesListCmd(deps), newProfilesValidateCmd(deps), newProfilesExplainCmd(deps))
	return cmd
}

// profilesCheckOutput refuses an unknown -o value.
func profilesCheckOutput(o string) error {
	switch o {
	case "table", "json", "yaml":
		return nil
	}
	return fmt.Errorf("output format %q: use -o table, -o json or -o yaml", o)
}

// profilesWrite prints v as JSON or YAML.
func profilesWrite(out io.Writer, format string, v any) error {
	if format == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("write JSON: %w", err)
		}
		return nil
	}
	enc := yaml.NewEncoder(out)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("write YAML: %w", err)
	}
	return nil
}

// profilesLoadSet returns the shipped profiles, with those in dir (if
// given) added or replacing shipped ones of the same name, in precedence order.
func profilesLoadSet(deps profilesDeps, dir string) ([]*profiles.Profile, error) {
	shipped, err := deps.defaults()
	if err != nil {
		return nil, fmt.Errorf("shipped profiles: %w", err)
	}
	var mine []*profiles.Profile
	if dir != "" {
		if mine, err = profiles.LoadDir(dir); err != nil {
			return nil, err
		}
	}
	return profiles.Merge(shipped, mine), nil
}

// profilesTable returns a tabwriter for aligned columns.
func profilesTable(out io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
}

// profilesDash returns s, or "-" when it is empty.
func profilesDash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "-"
	}
	return s
}

// profilesOneLine collapses whitespace so a CEL expression fits a table cell.
func profilesOneLine(s string, max int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > max {
		s = s[:max-1] + "…"
	}
	return s
}
