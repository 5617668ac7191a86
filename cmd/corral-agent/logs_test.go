package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/controller/bootlog"
	ctlenroll "corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server/servertest"
)

// TestRunShipsItsLogToTheController runs the agent once against the real
// API: what it printed on the console is what the controller kept, in order.
func TestRunShipsItsLogToTheController(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{Policy: ctlenroll.Policy{Mode: ctlenroll.Auto}})
	var console syncBuffer
	err := runAgent(t.Context(), runFlags{once: true, root: dump, api: ctl.URL, ca: ctl.CAFingerprint},
		runDeps{pid: 4242, clock: fastClock{}}, &console)
	t.Logf("agent log:\n%s", console.String())
	if err != nil {
		t.Fatalf("run --once: %v", err)
	}
	l, err := ctl.BootLogs.Read(nodeIDOfDump(t), bootlog.Query{Boot: "current"})
	if err != nil {
		t.Fatal(err)
	}
	var shipped []string
	for _, e := range l.Items {
		shipped = append(shipped, e.Msg)
	}
	// Every console line, from the first (before registration) to the
	// last (after the configuration), reached the controller.
	var printed []string
	for _, line := range strings.Split(strings.TrimSpace(console.String()), "\n") {
		_, rest, ok := strings.Cut(line, " msg=")
		if !ok || strings.Contains(line, "svc=logship") {
			continue
		}
		msg, _, _ := strings.Cut(rest, " ")
		if strings.HasPrefix(rest, `"`) {
			q := rest[:strings.Index(rest[1:], `"`)+2]
			if msg, err = strconv.Unquote(q); err != nil {
				t.Fatal(err)
			}
		}
		printed = append(printed, msg)
	}
	if len(printed) < 4 || len(shipped) != len(printed) {
		t.Fatalf("printed %d lines, shipped %d: %q", len(printed), len(shipped), shipped)
	}
	if diff := cmp.Diff(printed, shipped); diff != "" {
		t.Errorf("console vs controller (-printed +shipped):\n%s", diff)
	}
	if shipped[0] != "enrolling" {
		t.Errorf("first shipped line %q: want the lines before registration too", shipped[0])
	}
	if l.Boots[0].ID == "" || len(l.Boots) != 1 {
		t.Errorf("boots %+v", l.Boots)
	}
}
