package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"corral.io/corral/internal/golden"
	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
)

const cliReference = "../../docs/cli.md"

func TestCLIReferenceIsUpToDate(t *testing.T) {
	var got bytes.Buffer
	if err := writeCLIReference(&got, newRoot()); err != nil {
		t.Fatal(err)
	}
	if *golden.Update {
		if err := os.WriteFile(cliReference, got.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(cliReference)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/corral -run TestCLIReference -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got.String()); diff != "" {
		t.Errorf("%s is out of date: regenerate it with go test ./cmd/corral -run TestCLIReference -update\n(-file +generated):\n%s", filepath.Clean(cliReference), diff)
	}
}

// TestCLIEveryVerbHasHelpAndExamples keeps the reference worth reading: a
// command without a description or examples fails here, not in review.
func TestCLIEveryVerbHasHelpAndExamples(t *testing.T) {
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		if c.Short == "" {
			t.Errorf("%s: no Short description", c.CommandPath())
		}
		if c.Runnable() && c.Example == "" && !strings.Contains(c.Long, "Examples:") {
			t.Errorf("%s: no examples", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRoot())
}

func TestCLIHelpWorksOnEveryNodesVerb(t *testing.T) {
	for _, verb := range []string{"list", "show", "approve", "reject", "assign", "label", "decommission", "forget", "events"} {
		t.Run(verb, func(t *testing.T) {
			root := newRoot()
			var out bytes.Buffer
			root.SetOut(&out)
			root.SetArgs([]string{"nodes", verb, "--help"})
			if err := root.Execute(); err != nil {
				t.Fatal(err)
			}
			for _, want := range []string{"Usage:", "Examples:", "corral nodes " + verb} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("help does not contain %q:\n%s", want, out.String())
				}
			}
		})
	}
}
