package main

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/v1alpha1"
)

// writeDocument prints one API document as indented JSON, or as YAML with
// the same field names and order.
func writeDocument(out io.Writer, format string, doc any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return err
	}
	if format == outputJSON {
		_, err := out.Write(buf.Bytes())
		return err
	}
	// JSON is YAML: decoding it into a node keeps the field names and order
	// of the API; dropping the JSON styles gives block YAML, and the encoder
	// quotes any string that would otherwise read as another type.
	var n yaml.Node
	if err := yaml.Unmarshal(buf.Bytes(), &n); err != nil {
		return err
	}
	plain(&n)
	enc2 := yaml.NewEncoder(out)
	enc2.SetIndent(2)
	if err := enc2.Encode(&n); err != nil {
		return err
	}
	return enc2.Close()
}

func plain(n *yaml.Node) {
	n.Style = 0
	if n.Kind == yaml.ScalarNode && n.Tag == "!!str" && base60.MatchString(n.Value) {
		// YAML 1.1 readers (PyYAML, Ruby) take 52:54:00:12:34:56 for a
		// number in base 60: quote it.
		n.Style = yaml.DoubleQuotedStyle
	}
	for _, c := range n.Content {
		plain(c)
	}
}

// base60 is YAML 1.1's sexagesimal number.
var base60 = regexp.MustCompile(`^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`)

// writeNodes prints nodes: a table, or a NodeList document when list is
// true, or else one Node document.
func writeNodes(out io.Writer, format string, nodes []v1alpha1.Node, now time.Time, list bool) error {
	switch {
	case format != outputTable && format != outputWide && list:
		return writeDocument(out, format, v1alpha1.NodeList{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindNodeList, Items: nonNil(nodes)})
	case format != outputTable && format != outputWide && len(nodes) == 1:
		return writeDocument(out, format, withKind(nodes[0]))
	}
	wide := format == outputWide
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "ID\tHOSTNAME\tSTATE\tWAITING FOR\tPROFILE\tMAC\tAGE\tLAST SEEN"
	if wide {
		header += "\tIN STATE\tMACS\tLABELS"
	}
	fmt.Fprintln(tw, header)
	for _, n := range nodes {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s", n.ID, dash(n.Hostname), n.State, dash(waitingFor(n)), profileCell(n), macCell(n.MACs), age(now, n.FirstSeen), age(now, n.LastSeen))
		if wide {
			fmt.Fprint(tw, "\t"+wideCells(n, now))
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

// wideCells are the columns -o wide adds, kubectl-style, from what the
// list carries (it has no inventory): how long the node has been in its
// state, every MAC and its labels, each without spaces so that awk and cut
// still split the row.
func wideCells(n v1alpha1.Node, now time.Time) string {
	macs := "-"
	if len(n.MACs) > 0 {
		macs = strings.Join(n.MACs, ",")
	}
	labels := "-"
	if len(n.Labels) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
			kv = append(kv, k+"="+n.Labels[k])
		}
		labels = strings.Join(kv, ",")
	}
	return strings.Join([]string{age(now, n.StateSince), macs, labels}, "\t")
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// withKind fills apiVersion and kind if the server left them out.
func withKind(n v1alpha1.Node) v1alpha1.Node {
	if n.APIVersion == "" {
		n.APIVersion = v1alpha1.Version
	}
	if n.Kind == "" {
		n.Kind = v1alpha1.KindNode
	}
	return n
}

// conditionWaits names, for WAITING FOR, what a condition that is not True
// waits for.
var conditionWaits = map[string]string{
	v1alpha1.ConditionAgentReady: "agent",
	v1alpha1.ConditionKubeReady:  "kubernetes node",
}

// requestsNote says, for WAITING FOR, what registration requests wait.
func requestsNote(n v1alpha1.Node) string {
	conflicts := 0
	for _, r := range n.Requests {
		if r.Conflict {
			conflicts++
		}
	}
	switch {
	case conflicts > 0:
		return fmt.Sprintf("identity conflict (%d)", conflicts)
	case len(n.Requests) > 1:
		return fmt.Sprintf("(%d requests)", len(n.Requests))
	}
	return ""
}

// waitingFor says what keeps a node from being ready: "approval" for a
// pending node, "heartbeat" for a lost one, and for an approved or
// provisioning node its conditions that are not True ("agent",
// "kubernetes node" or both). Empty when it waits for nothing (ready,
// decommissioned) or the controller sent no conditions (an older one).
func waitingFor(n v1alpha1.Node) string {
	w := waitingForState(n)
	if note := requestsNote(n); note != "" {
		return strings.TrimSpace(w + " " + note)
	}
	return w
}

func waitingForState(n v1alpha1.Node) string {
	switch n.State {
	case v1alpha1.NodeDiscovered, v1alpha1.NodePending:
		return "approval"
	case v1alpha1.NodeLost:
		return "heartbeat"
	case v1alpha1.NodeReady, v1alpha1.NodeDecommissioned:
		return ""
	}
	var w []string
	for _, c := range n.Conditions {
		if c.Status != v1alpha1.ConditionTrue && c.Type != v1alpha1.ConditionIdentityConflict {
			w = append(w, cmp.Or(conditionWaits[c.Type], c.Type))
		}
	}
	return strings.Join(w, ", ")
}

// profileCell marks a profile an operator assigned with a star.
func profileCell(n v1alpha1.Node) string {
	switch {
	case n.AssignedProfile != "":
		return n.AssignedProfile + "*"
	case n.Profile != "":
		return n.Profile
	}
	return "-"
}

// macCell is the node's first Ethernet MAC (the registry sorts them, and
// InfiniBand's 20-byte addresses would fill the column) and how many more
// there are.
func macCell(macs []string) string {
	if len(macs) == 0 {
		return "-"
	}
	first := macs[0]
	if i := slices.IndexFunc(macs, func(m string) bool { return len(m) == len("00:00:00:00:00:00") }); i >= 0 {
		first = macs[i]
	}
	if len(macs) == 1 {
		return first
	}
	return fmt.Sprintf("%s (+%d)", first, len(macs)-1)
}

// age is how long ago t was, in the largest unit that keeps it short:
// 45s, 12m, 5h, 3d. "-" when t is unset.
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
}

// stamp is a time in UTC for tables.
func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

// count is "1 socket", "2 sockets", "0 sockets".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func labelList(m map[string]string) string {
	if len(m) == 0 {
		return "-"
	}
	var kv []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		kv = append(kv, k+"="+m[k])
	}
	return strings.Join(kv, ", ")
}

// writeEvents prints a node's history: a table, or an EventList document.
func writeEvents(out io.Writer, format string, events []v1alpha1.Event, now time.Time) error {
	if format != outputTable {
		return writeDocument(out, format, v1alpha1.EventList{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindEventList, Items: nonNil(events)})
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME (UTC)\tAGE\tTYPE\tCHANGE\tDETAILS")
	for _, e := range events {
		writeEventRow(tw, e, now)
	}
	return tw.Flush()
}

// writeEventRow writes one event; an inventory event's changes follow on
// lines of their own, under DETAILS. CHANGE is a state change for state
// events, a profile change for profile events ("-" for the rules).
func writeEventRow(tw io.Writer, e v1alpha1.Event, now time.Time) {
	change := "-"
	switch {
	case e.From != "":
		change = e.From + " -> " + dash(e.To)
	case e.To != "":
		change = e.To
	}
	details := e.Reason
	changes := e.Changes
	if details == "" && len(changes) > 0 {
		details, changes = changes[0], changes[1:]
	}
	fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", stamp(e.Time), age(now, e.Time), dash(string(e.Type)), change, dash(details))
	for _, c := range changes {
		fmt.Fprintf(tw, "\t\t\t\t%s\n", c)
	}
}

// recentEvents is how many events `nodes show` prints.
const recentEvents = 10

// writeNodeDetails prints one node for a person: its record, a summary of
// its hardware and its latest events.
func writeNodeDetails(out io.Writer, n v1alpha1.Node, events []v1alpha1.Event, now time.Time) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	p("ID:\t%s", n.ID)
	p("Hostname:\t%s", dash(n.Hostname))
	p("State:\t%s since %s (%s ago)", n.State, stamp(n.StateSince), age(now, n.StateSince))
	if w := waitingFor(n); w != "" {
		p("Waits for:\t%s", w)
	}
	switch {
	case n.AssignedProfile != "":
		p("Profile:\t%s (assigned by an operator)", n.AssignedProfile)
	case n.Profile != "":
		p("Profile:\t%s (chosen by rules)", n.Profile)
	default:
		p("Profile:\t- (none matched yet)")
	}
	p("Labels:\t%s", labelList(n.Labels))
	p("MACs:\t%s", dash(strings.Join(n.MACs, ", ")))
	p("First seen:\t%s (%s ago)", stamp(n.FirstSeen), age(now, n.FirstSeen))
	p("Last seen:\t%s (%s ago)", stamp(n.LastSeen), age(now, n.LastSeen))
	if err := tw.Flush(); err != nil {
		return err
	}
	if err := writeConditions(out, n.Conditions, now); err != nil {
		return err
	}
	if inv := n.Inventory; inv != nil {
		fmt.Fprintln(out)
		if err := writeHardware(out, inv); err != nil {
			return err
		}
	}
	if len(n.Requests) > 0 {
		fmt.Fprintf(out, "\nRegistration requests (corral nodes approve|reject %s --request ID):\n", n.ID)
		rw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(rw, "  ID\tSOURCE\tAGE\tKIND\tINVENTORY")
		for _, r := range n.Requests {
			kind := "new"
			if r.Conflict {
				kind = "identity conflict"
			}
			fmt.Fprintf(rw, "  %s\t%s\t%s\t%s\t%s\n", r.ID, r.Source, age(now, r.Time), kind, r.Summary)
		}
		if err := rw.Flush(); err != nil {
			return err
		}
	}
	fmt.Fprintln(out)
	if len(events) == 0 {
		_, err := fmt.Fprintln(out, "Events: none")
		return err
	}
	if len(events) > recentEvents {
		fmt.Fprintf(out, "Events (latest %d of %d; `corral nodes events %s` shows all):\n", recentEvents, len(events), n.ID)
		events = events[len(events)-recentEvents:]
	} else {
		fmt.Fprintln(out, "Events:")
	}
	tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "  TIME (UTC)\tAGE\tTYPE\tCHANGE\tDETAILS")
	for _, e := range events {
		var row bytes.Buffer
		writeEventRow(&row, e, now)
		for line := range strings.Lines(row.String()) {
			fmt.Fprint(tw, "  "+line)
		}
	}
	return tw.Flush()
}

// writeConditions prints what a node's readiness is made of, one line per
// condition; SINCE only when the controller knows a transition time.
func writeConditions(out io.Writer, conds []v1alpha1.NodeCondition, now time.Time) error {
	if len(conds) == 0 {
		return nil
	}
	since := slices.ContainsFunc(conds, func(c v1alpha1.NodeCondition) bool { return c.LastTransitionTime != nil })
	fmt.Fprintln(out, "\nConditions:")
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	header := "  TYPE\tSTATUS\tREASON\tMESSAGE"
	if since {
		header = "  TYPE\tSTATUS\tSINCE\tREASON\tMESSAGE"
	}
	fmt.Fprintln(tw, header)
	for _, c := range conds {
		row := []string{"  " + c.Type, c.Status}
		if since {
			t := time.Time{}
			if c.LastTransitionTime != nil {
				t = *c.LastTransitionTime
			}
			row = append(row, age(now, t))
		}
		row = append(row, dash(c.Reason), dash(c.Message))
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	return tw.Flush()
}

// writeHardware summarises an inventory: system, CPU, memory, then one line
// per disk, GPU and NIC.
func writeHardware(out io.Writer, inv *v1alpha1.Inventory) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	s := inv.System
	p("System:\t%s", dash(strings.TrimSpace(s.Vendor+" "+s.Product)))
	p("Serial:\t%s", dash(s.Serial))
	fw := dash(s.Firmware)
	if s.Hypervisor != "" {
		fw += ", virtual (" + s.Hypervisor + ")"
	}
	p("Firmware:\t%s", fw)
	c := inv.CPU
	p("CPU:\t%s, %s, %s, %s", dash(c.Model), count(c.Sockets, "socket"), count(c.Cores, "core"), count(c.Threads, "thread"))
	mem := size(inv.Memory.TotalBytes)
	if len(inv.Memory.Modules) > 0 {
		mem += fmt.Sprintf(" (%s, %s installed)", count(len(inv.Memory.Modules), "module"), size(inv.Memory.InstalledBytes))
	}
	p("Memory:\t%s", mem)
	if err := tw.Flush(); err != nil {
		return err
	}
	section := func(title, header string, rows []string) {
		if len(rows) == 0 {
			fmt.Fprintf(out, "\n%s: none\n", title)
			return
		}
		fmt.Fprintf(out, "\n%s:\n", title)
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "  "+header)
		for _, r := range rows {
			fmt.Fprintln(tw, "  "+r)
		}
		_ = tw.Flush()
	}
	var rows []string
	for _, d := range inv.Disks {
		var notes []string
		if d.Boot {
			notes = append(notes, "boot")
		}
		if d.Rotational {
			notes = append(notes, "rotational")
		}
		if d.Removable {
			notes = append(notes, "removable")
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s\t%s", d.Name, size(d.SizeBytes), dash(d.Transport), dash(d.Model), dash(d.Serial), d.Contents(), dash(strings.Join(notes, ","))))
	}
	section("Disks", "NAME\tSIZE\tTRANSPORT\tMODEL\tSERIAL\tCONTENTS\tNOTES", rows)
	rows = rows[:0]
	for _, g := range inv.GPUs {
		rows = append(rows, fmt.Sprintf("%d\t%s\t%s\t%s", g.Index, dash(strings.TrimSpace(g.Vendor+" "+g.Name)), size(g.MemoryBytes), dash(g.PCIAddress)))
	}
	section("GPUs", "INDEX\tNAME\tMEMORY\tPCI", rows)
	rows = rows[:0]
	for _, n := range inv.NICs {
		boot := ""
		if n.Boot {
			boot = "boot"
		}
		rows = append(rows, fmt.Sprintf("%s\t%s\t%s\t%s\t%s\t%s", n.Name, dash(n.MAC), speed(n.SpeedMbps), dash(n.OperState), dash(strings.TrimSpace(n.Vendor+" "+n.Model)), dash(boot)))
	}
	section("NICs", "NAME\tMAC\tSPEED\tSTATE\tMODEL\tNOTES", rows)
	for _, w := range inv.Warnings {
		fmt.Fprintln(out, "warning:", w)
	}
	return nil
}

// size is a byte count in binary units with one decimal: 3.5TiB, 512.0MiB.
func size(b uint64) string {
	if b == 0 {
		return "-"
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB", "PiB"}
	v, i := float64(b), 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", b)
	}
	return fmt.Sprintf("%.1f%s", v, units[i])
}

// speed is a link speed as 25G or 100M; "-" when unknown.
func speed(mbps int) string {
	switch {
	case mbps <= 0:
		return "-"
	case mbps%1000 == 0:
		return fmt.Sprintf("%dG", mbps/1000)
	}
	return fmt.Sprintf("%dM", mbps)
}
