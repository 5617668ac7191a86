package logship_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/agent/logship"
	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/server/servertest"
)

// TestShippingToTheRealController follows a node's boot through the real
// API: early lines buffered before registration, shipped with the
// enrollment token while pending, then with the node credential once
// approved; a forged token is refused and nothing is lost.
func TestShippingToTheRealController(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	c, err := client.New(ctl.URL, client.Trust{CAFingerprint: ctl.CAFingerprint}, "")
	if err != nil {
		t.Fatal(err)
	}
	ship := logship.New(logship.Options{BootID: func() (string, error) { return "boot-a", nil }})
	log := slog.New(ship.Handler(slog.DiscardHandler))
	api := ship.Tap(enroll.FromClient(c))
	ship.SetSender(logship.ClientSender(c))

	log.Info("kernel modules", "loaded", 12)
	log.Info("network up", "iface", "eth0")
	if err := ship.Flush(t.Context()); err == nil {
		t.Fatal("flush before registration succeeded")
	}

	// A forged token is refused, and the records stay queued.
	const node = "n0123456789abcdef01234567"
	ship.SetToken(node + ".forged")
	if err := ship.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "2 log records not sent") {
		t.Fatalf("flush with a forged token: %v", err)
	}

	reg, err := api.Register(t.Context(), v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}, "")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("registered", "state", reg.State)
	if err := ship.Flush(t.Context()); err != nil {
		t.Fatalf("pending node, enrollment token: %v", err)
	}
	if l, err := ctl.BootLogs.Read(node, bootlog.Query{}); err != nil || len(l.Boots) != 1 || l.Boots[0].Verified {
		t.Errorf("a boot sent with an enrollment token only is not verified: %+v, %v", l.Boots, err)
	}

	admin := c.WithToken(ctl.AdminToken)
	if _, err := admin.Action(t.Context(), node, "approve", v1alpha1.ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	cred, _, err := api.Credential(t.Context(), reg.EnrollmentToken)
	if err != nil || cred == nil {
		t.Fatalf("credential: %v %v", cred, err)
	}
	log.Info("approved")
	// The enrollment token is spent: only the credential works now.
	if err := ship.Flush(t.Context()); err != nil {
		t.Fatalf("approved node, credential: %v", err)
	}

	l, err := admin.NodeLogs(t.Context(), node, client.LogQuery{Boot: "current"})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range l.Items {
		got = append(got, fmt.Sprintf("%s %s %s %v", e.Boot, e.Level, e.Msg, e.Attrs))
	}
	want := []string{
		"boot-a INFO kernel modules map[loaded:12]",
		"boot-a INFO network up map[iface:eth0]",
		"boot-a INFO registered map[state:pending]",
		"boot-a INFO approved map[]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("controller's log (-want +got):\n%s", diff)
	}
	// A batch came with the credential: the approved machine sent this boot.
	if len(l.Boots) != 1 || l.Boots[0].Records != 4 || !l.Boots[0].Verified {
		t.Errorf("boots %+v", l.Boots)
	}
}

// TestARetriedBatchIsStoredOnce sends the same batch twice, as an agent
// does when the answer to the first was lost.
func TestARetriedBatchIsStoredOnce(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	c, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, "")
	if err != nil {
		t.Fatal(err)
	}
	const node = "n0123456789abcdef01234567"
	reg, err := c.Register(t.Context(), v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}, "")
	if err != nil {
		t.Fatal(err)
	}
	b := v1alpha1.LogBatch{Boot: "b1", Records: []v1alpha1.LogRecord{{Seq: 7, Level: "INFO", Msg: "one"}, {Seq: 9, Level: "INFO", Msg: "two"}}}
	agent := c.WithToken(reg.EnrollmentToken)
	for i, want := range []v1alpha1.LogAck{{Stored: 2, Seq: 9}, {Stored: 0, Seq: 9}} {
		ack, err := agent.SendLogs(context.Background(), b)
		ack.APIVersion, ack.Kind = "", ""
		if err != nil || ack != want {
			t.Errorf("send %d: %+v, %v; want %+v", i+1, ack, err, want)
		}
	}
	l, err := ctl.BootLogs.Read(node, bootlog.Query{})
	if err != nil || len(l.Items) != 2 {
		t.Errorf("stored %d records, want 2 (%v)", len(l.Items), err)
	}
}

// TestLongLinesAreNotDroppedAsTooLarge fills the queue with records near
// the API's limits, escaped (each "<" is six bytes in JSON): together they
// are above the controller's 1 MiB request limit. With the default byte
// bound every batch fits; with the bound lifted the controller answers 413
// and the shipper sends half as many at once until it fits. Either way every
// record arrives, none dropped.
func TestLongLinesAreNotDroppedAsTooLarge(t *testing.T) {
	for _, tc := range []struct {
		name  string
		bytes int
	}{
		{"byte bound", 0},
		{"halving on 413", 1 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := servertest.Start(t, servertest.Options{})
			c, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, "")
			if err != nil {
				t.Fatal(err)
			}
			const node = "n0123456789abcdef01234567"
			reg, err := c.Register(t.Context(), v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}, "")
			if err != nil {
				t.Fatal(err)
			}
			// Approved, so that the node's bounds keep every record.
			if _, err := c.WithToken(ctl.AdminToken).Action(t.Context(), node, "approve", v1alpha1.ActionRequest{}); err != nil {
				t.Fatal(err)
			}
			ship := logship.New(logship.Options{BatchBytes: tc.bytes, BootID: func() (string, error) { return "boot-a", nil }})
			log := slog.New(ship.Handler(slog.DiscardHandler))
			// 60 records of 24 KiB encoded: one batch of them would be
			// 1.4 MiB.
			const n = 60
			for i := range n {
				log.Info(fmt.Sprintf("line %d %s", i, strings.Repeat("<", v1alpha1.MaxLogMessage-20)))
			}
			ship.SetSender(logship.ClientSender(c))
			ship.SetToken(reg.EnrollmentToken)
			if err := ship.Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			if q, dropped := ship.Stats(); q != 0 || dropped != 0 {
				t.Errorf("queued %d, dropped %d; want 0, 0", q, dropped)
			}
			l, err := ctl.BootLogs.Read(node, bootlog.Query{Limit: 5000})
			if err != nil {
				t.Fatal(err)
			}
			if len(l.Items) != n || len(l.Boots) != 1 || l.Boots[0].AgentDropped != 0 {
				t.Errorf("controller stored %d records (boots %+v), want %d", len(l.Items), l.Boots, n)
			}
		})
	}
}
