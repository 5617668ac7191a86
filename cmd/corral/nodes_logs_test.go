package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/testutil"
)

func TestFormatLogEntry(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 1, 2, 500, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		e    v1alpha1.LogRecord
		want string
	}{
		{"attributes sorted", v1alpha1.LogRecord{Time: at, Level: "INFO", Msg: "network up", Attrs: map[string]string{"iface": "eth0", "ip": "10.0.0.5"}},
			"2026-11-22T06:01:02Z INFO network up iface=eth0 ip=10.0.0.5"},
		{"values with spaces quoted", v1alpha1.LogRecord{Time: at, Level: "WARN", Msg: "no offer", Attrs: map[string]string{"err": "i/o timeout after 3s", "empty": ""}},
			`2026-11-22T06:01:02Z WARN no offer empty="" err="i/o timeout after 3s"`},
		{"control characters cannot forge a line", v1alpha1.LogRecord{Time: at, Level: "ERROR", Msg: "a\nb", Attrs: map[string]string{"k": "x\ry"}},
			`2026-11-22T06:01:02Z ERROR "a\nb" k="x\ry"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := formatLogEntry(v1alpha1.LogEntry{LogRecord: tt.e}); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestNodesLogsWithTheRealAPI ships records the way an agent does (with
// its enrollment token) and reads them with `corral nodes logs`.
func TestNodesLogsWithTheRealAPI(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	cfg := writeClientConfig(t, ctl.URL, ctl.CAPEM, ctl.AdminToken)
	c, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, "")
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.Register(t.Context(), *inventory(t, "qemu"), "")
	if err != nil {
		t.Fatal(err)
	}
	id := reg.NodeID
	if _, err := ctl.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) { n.Hostname = "worker-1"; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	agent := c.WithToken(reg.EnrollmentToken)
	at := time.Date(2026, 11, 22, 7, 1, 2, 0, time.UTC)
	ship := func(boot string, seq uint64, msg string, attrs map[string]string) {
		t.Helper()
		if _, err := agent.SendLogs(context.Background(), v1alpha1.LogBatch{Boot: boot, Records: []v1alpha1.LogRecord{
			{Seq: seq, Time: at.Add(time.Duration(seq) * time.Second), Level: "INFO", Msg: msg, Attrs: attrs}}}); err != nil {
			t.Fatal(err)
		}
	}
	ship("boot-a", 1, "kernel modules", map[string]string{"loaded": "12"})
	ship("boot-a", 2, "network up", map[string]string{"iface": "eth0", "ip": "10.0.0.5"})
	ship("boot-b", 1, "corral-agent starting as init", nil)
	nodes := func(args ...string) (string, error) {
		return corralCLI(t, "", append(append([]string{"nodes", "logs"}, args...), "--client-config", cfg)...)
	}

	t.Run("the current boot by hostname", func(t *testing.T) {
		out, err := nodes("worker-1")
		if err != nil {
			t.Fatal(err)
		}
		// Even the current boot is marked: whoever registers with the
		// node's hardware identity can send one.
		want := "-- boot boot-b (unverified: sent with an enrollment token only, never with the node credential) --\n" +
			"2026-11-22T07:01:03Z INFO corral-agent starting as init\n"
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("the previous boot", func(t *testing.T) {
		out, err := nodes(id, "--boot", "previous")
		if err != nil {
			t.Fatal(err)
		}
		want := "-- boot boot-a (unverified: sent with an enrollment token only, never with the node credential) --\n" +
			"2026-11-22T07:01:03Z INFO kernel modules loaded=12\n2026-11-22T07:01:04Z INFO network up iface=eth0 ip=10.0.0.5\n"
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("all boots, marked", func(t *testing.T) {
		out, err := nodes(id, "--boot", "all")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "-- boot boot-a (unverified: sent with an enrollment token only, never with the node credential) --\n2026-11-22T07:01:03Z INFO kernel modules",
			"network up", "-- boot boot-b (unverified")
	})
	t.Run("json, one document per line", func(t *testing.T) {
		out, err := nodes(id, "--boot", "boot-a", "-o", "json", "--since", "1h")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		var e struct {
			v1alpha1.LogEntry
			Verified *bool `json:"verified"`
		}
		if len(lines) != 2 || json.Unmarshal([]byte(lines[1]), &e) != nil || e.Msg != "network up" || e.Boot != "boot-a" || e.Cursor != 2 ||
			e.Verified == nil || *e.Verified {
			t.Errorf("got %d lines, last %+v", len(lines), e)
		}
	})
	t.Run("an unknown boot says how to list them", func(t *testing.T) {
		_, err := nodes(id, "--boot", "boot-z")
		if err == nil || !strings.Contains(err.Error(), "--boot all shows every boot") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("bad flags are refused before calling the controller", func(t *testing.T) {
		for _, args := range [][]string{{id, "--boot", "../x"}, {id, "-o", "yaml"}, {id, "--since", "-1h"}} {
			if _, err := nodes(args...); err == nil {
				t.Errorf("%v accepted", args)
			}
		}
	})
	t.Run("follow prints what arrives", func(t *testing.T) {
		var out testutil.LockedBuffer
		root := newRoot()
		root.SetArgs([]string{"nodes", "logs", id, "-f", "--client-config", cfg})
		root.SetOut(&out)
		root.SetErr(&out)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- root.ExecuteContext(ctx) }()
		wait := func(what string) {
			t.Helper()
			deadline := time.Now().Add(20 * time.Second)
			for !strings.Contains(out.String(), what) {
				if time.Now().After(deadline) {
					t.Fatalf("follow did not print %q; output:\n%s", what, out.String())
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		wait("starting as init")
		ship("boot-b", 2, "registered", map[string]string{"state": "pending"})
		wait("INFO registered state=pending")
		// The node reboots: follow goes on with the new boot.
		ship("boot-c", 1, "starting again", nil)
		wait("starting again")
		cancel()
		if err := <-done; err != nil {
			t.Errorf("interrupted follow: %v", err)
		}
		// Three records, and a header for each of the two boots.
		if strings.Count(out.String(), "\n") != 5 || strings.Count(out.String(), "-- boot boot-c (unverified") != 1 {
			t.Errorf("follow printed:\n%s", out.String())
		}
	})
	t.Run("a boot sent with the credential is verified", func(t *testing.T) {
		admin := c.WithToken(ctl.AdminToken)
		if _, err := admin.Action(t.Context(), id, "approve", v1alpha1.ActionRequest{}); err != nil {
			t.Fatal(err)
		}
		cred, _, err := agent.Credential(t.Context())
		if err != nil || cred == nil {
			t.Fatalf("credential: %v, %v", cred, err)
		}
		if _, err := c.WithToken(cred.Credential).SendLogs(t.Context(), v1alpha1.LogBatch{Boot: "boot-d", Records: []v1alpha1.LogRecord{
			{Seq: 1, Time: at, Level: "INFO", Msg: "approved"}}}); err != nil {
			t.Fatal(err)
		}
		out, err := nodes(id)
		if err != nil {
			t.Fatal(err)
		}
		want := "-- boot boot-d (verified: sent with the node credential) --\n2026-11-22T07:01:02Z INFO approved\n"
		if diff := cmp.Diff(want, out); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
		out, err = nodes(id, "-o", "json")
		if err != nil || !strings.Contains(out, `"verified":true`) {
			t.Errorf("json: %s, %v", out, err)
		}
	})
}
