package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
)

// logsAPI is the boot log half of *client.Client.
type logsAPI interface {
	NodeLogs(ctx context.Context, id string, q client.LogQuery) (v1alpha1.LogList, error)
}

// outputText is the default output of nodes logs: one line per record.
const outputText = "text"

// followWait is how long one follow request waits for new records.
const followWait = 20 * time.Second

type nodesLogsFlags struct {
	node   string
	follow bool
	boot   string
	since  time.Duration
	output string
}

func newNodesLogsCmd(dial dialFunc) *cobra.Command {
	var f nodesLogsFlags
	cmd := &cobra.Command{
		Use:   "logs NODE",
		Short: "Show what a node's agent logged while it booted, as the controller received it",
		Long: `Show what a node's agent logged — kernel modules, network, DHCP, enrolment,
configuration, heartbeats — as it shipped it to the controller. The agent
sends its log from the first line of the boot, with the enrollment token while
the node waits for approval and with its credential afterwards, so this works
for a node nobody approved yet and when nobody watches its console.

One line per record: the node's time (UTC), the level, the message and its
attributes. Lines the agent logged before its network was up arrive once it
registered; if it never registers, only its console has them.

--boot picks the boot: current (the latest, the default), previous, all, or a
boot id (listed with -o json, field boot). A line names each boot before its
records, and says "unverified" when none of its records came with the node
credential: an enrollment token is all it takes to send those, and whoever
registers with the node's hardware identity gets one, so an unverified boot
may be forged even if it is the current one. With -o json every record has
the field verified. --since keeps records the
controller received in the last DURATION. -f keeps following, across reboots
with --boot current, until interrupted.

The controller keeps the newest 10,000 records or 4 MiB per node (1,000 or
256 KiB for a node never approved), and forgets them with the node.`,
		Example: `  corral nodes logs gpu-07
  corral nodes logs gpu-07 -f
  corral nodes logs n3f2a9c0d1e4b5a6978695a4b --boot previous
  corral nodes logs 52:54:00:12:34:56 --boot all --since 1h -o json | jq -r .msg`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f.node = args[0]
			if err := checkNodesOutput(f.output, outputText, outputJSON); err != nil {
				return err
			}
			if f.boot != "current" && f.boot != "previous" && f.boot != "all" && !v1alpha1.ValidBootID(f.boot) {
				return fmt.Errorf("--boot %q: use current, previous, all or a boot id", f.boot)
			}
			if f.since < 0 {
				return fmt.Errorf("--since %s: give a positive duration, e.g. 30m", f.since)
			}
			d, err := dial(cmd)
			if err != nil {
				return err
			}
			return f.run(cmd.Context(), d, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "keep printing records as they arrive, until interrupted")
	cmd.Flags().StringVar(&f.boot, "boot", "current", "which boot: current, previous, all or a boot id")
	cmd.Flags().DurationVar(&f.since, "since", 0, "only records the controller received in the last DURATION (e.g. 10m)")
	addOutputFlag(cmd, &f.output, outputText, "output format: text (one line per record) or json (one document per line)")
	return cmd
}

func (f *nodesLogsFlags) run(ctx context.Context, d *nodesDeps, out io.Writer) error {
	la, ok := d.api.(logsAPI)
	if !ok {
		return errors.New("this client cannot read boot logs")
	}
	id, err := d.resolve(ctx, f.node)
	if err != nil {
		return err
	}
	q := client.LogQuery{Boot: f.boot}
	if f.since > 0 {
		q.Since = d.now().Add(-f.since)
	}
	w := &logWriter{out: out, output: f.output}
	for {
		l, err := la.NodeLogs(ctx, id, q)
		if err != nil {
			if f.follow && ctx.Err() != nil {
				return nil // interrupted
			}
			return f.explain(d, err)
		}
		w.noteBoots(l.Boots)
		if err := w.write(l.Items); err != nil {
			return err
		}
		q.After = l.Next
		if len(l.Items) > 0 {
			continue // there may be more: read on
		}
		if !f.follow {
			break
		}
		q.Wait = followWait // caught up: wait for what comes
	}
	if w.lines == 0 && f.output == outputText {
		_, err := fmt.Fprintf(out, "No log records (boot %s).\n", f.boot)
		return err
	}
	return nil
}

func (f *nodesLogsFlags) explain(d *nodesDeps, err error) error {
	var ae *client.APIError
	if errors.As(err, &ae) && ae.Code == http.StatusNotFound && strings.Contains(ae.Message, "no such boot") {
		return fmt.Errorf("%s", ae.Message)
	}
	return d.explain(err, f.node)
}

// logWriter prints entries as text or JSON lines.
type logWriter struct {
	out    io.Writer
	output string
	// boot is the boot of the last text line, and bootVerified what its
	// header said.
	boot         string
	bootVerified bool
	lines        int
	// verified says, per boot, whether a batch of it came with the node
	// credential.
	verified map[string]bool
}

// jsonLogEntry is one line of -o json.
type jsonLogEntry struct {
	v1alpha1.LogEntry
	// Verified is the boot's BootInfo.Verified: false when its records
	// may come from anyone who registered with the node's identity.
	Verified bool `json:"verified"`
}

func (w *logWriter) noteBoots(boots []v1alpha1.BootInfo) {
	if w.verified == nil {
		w.verified = map[string]bool{}
	}
	for _, b := range boots {
		w.verified[b.ID] = b.Verified
	}
}

func (w *logWriter) write(items []v1alpha1.LogEntry) error {
	for _, e := range items {
		verified := w.verified[e.Boot]
		if w.output == outputJSON {
			b, err := json.Marshal(jsonLogEntry{LogEntry: e, Verified: verified})
			if err != nil {
				return err
			}
			if _, err := fmt.Fprintf(w.out, "%s\n", b); err != nil {
				return err
			}
			w.lines++
			continue
		}
		// A header before each boot's records, and again should the boot
		// become verified while followed.
		if w.lines == 0 || e.Boot != w.boot || verified != w.bootVerified {
			if _, err := fmt.Fprintln(w.out, bootHeader(e.Boot, verified)); err != nil {
				return err
			}
		}
		w.boot, w.bootVerified = e.Boot, verified
		if _, err := fmt.Fprintln(w.out, formatLogEntry(e)); err != nil {
			return err
		}
		w.lines++
	}
	return nil
}

// bootHeader is the text line before a boot's records.
func bootHeader(boot string, verified bool) string {
	if verified {
		return fmt.Sprintf("-- boot %s (verified: sent with the node credential) --", boot)
	}
	return fmt.Sprintf("-- boot %s (unverified: sent with an enrollment token only, never with the node credential) --", boot)
}

// formatLogEntry is one text line: time level msg key=value...
func formatLogEntry(e v1alpha1.LogEntry) string {
	var b strings.Builder
	b.WriteString(e.Time.UTC().Format(time.RFC3339))
	b.WriteByte(' ')
	b.WriteString(e.Level)
	b.WriteByte(' ')
	b.WriteString(textValue(e.Msg, false))
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		b.WriteByte(' ')
		b.WriteString(textValue(k, true))
		b.WriteByte('=')
		b.WriteString(textValue(e.Attrs[k], true))
	}
	return b.String()
}

// textValue quotes s when it would be ambiguous on the line: an attribute
// with a space, quote or '=', or anything with control characters.
func textValue(s string, attr bool) string {
	needs := strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f })
	if attr {
		needs = needs || s == "" || strings.ContainsAny(s, " \"=")
	}
	if needs {
		return strconv.Quote(s)
	}
	return s
}
