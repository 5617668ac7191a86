package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// The CLI reference, docs/cli.md, is generated from the command tree; a test
// fails when it is out of date.
//go:generate go test -run TestCLIReference -update .

// writeCLIReference writes a Markdown reference of root and every command
// under it: what it does, its usage, aliases, examples and flags.
func writeCLIReference(w io.Writer, root *cobra.Command) error {
	var cmds []*cobra.Command
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Hidden || c.Name() == "help" || c.Name() == "completion" {
			return
		}
		cmds = append(cmds, c)
		for _, sub := range c.Commands() { // sorted by name
			walk(sub)
		}
	}
	walk(root)

	var b strings.Builder
	b.WriteString("# `" + root.Name() + "` command reference\n\n")
	b.WriteString("Generated from the command tree (cmd/corral/cli_doc.go); do not edit. After changing a\n")
	b.WriteString("command, regenerate with `go test ./cmd/corral -run TestCLIReference -update`.\n\n")
	for _, c := range cmds {
		depth := strings.Count(c.CommandPath(), " ")
		fmt.Fprintf(&b, "%s- [%s](#%s) — %s\n", strings.Repeat("  ", depth), c.CommandPath(), anchor(c.CommandPath()), c.Short)
	}
	b.WriteString("\n")
	for _, c := range cmds {
		fmt.Fprintf(&b, "## %s\n\n%s\n\n", c.CommandPath(), c.Short)
		if c.Long != "" {
			b.WriteString(strings.TrimSpace(c.Long) + "\n\n")
		}
		if c.Runnable() {
			fmt.Fprintf(&b, "```\n%s\n```\n\n", c.UseLine())
		}
		if len(c.Aliases) > 0 {
			fmt.Fprintf(&b, "Aliases: %s\n\n", strings.Join(c.Aliases, ", "))
		}
		if c.Example != "" {
			fmt.Fprintf(&b, "Examples:\n\n```\n%s\n```\n\n", strings.TrimRight(c.Example, "\n"))
		}
		if subs := visible(c.Commands()); len(subs) > 0 {
			b.WriteString("Commands:\n\n")
			for _, s := range subs {
				fmt.Fprintf(&b, "- [%s](#%s) — %s\n", s.Name(), anchor(s.CommandPath()), s.Short)
			}
			b.WriteString("\n")
		}
		if fl := c.NonInheritedFlags(); fl.HasAvailableFlags() {
			fmt.Fprintf(&b, "Flags:\n\n```\n%s```\n\n", fl.FlagUsagesWrapped(0))
		}
		if fl := c.InheritedFlags(); fl.HasAvailableFlags() {
			fmt.Fprintf(&b, "Flags of the parent commands:\n\n```\n%s```\n\n", fl.FlagUsagesWrapped(0))
		}
	}
	_, err := io.WriteString(w, strings.TrimRight(b.String(), "\n")+"\n")
	return err
}

func visible(cmds []*cobra.Command) []*cobra.Command {
	var out []*cobra.Command
	for _, c := range cmds {
		if !c.Hidden && c.Name() != "help" && c.Name() != "completion" {
			out = append(out, c)
		}
	}
	return out
}

// anchor is the fragment GitHub gives the heading "## <path>".
func anchor(path string) string {
	return strings.ReplaceAll(strings.ToLower(path), " ", "-")
}
