package registry

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"
)

// flags is what the record says about both flags after a step.
type flags struct {
	Agent       bool
	AgentSince  time.Duration // since the test's start
	AgentReason string
	Kube        bool
	KubeSince   time.Duration
	KubeReason  string
}

// TestReadinessSinceAndWhy walks a node through its life with Kubernetes
// and checks, after every step, when each flag last changed and why: the
// time moves only when the condition's status does, the reason follows
// every change.
func TestReadinessSinceAndWhy(t *testing.T) {
	s, c, _ := open(t)
	s.RequireKubeReady()
	start := c.now()
	get := func(n Node) flags {
		return flags{n.AgentReady, n.AgentReadySince.Sub(start), n.AgentReadyReason, n.KubeReady, n.KubeReadySince.Sub(start), n.KubeReadyReason}
	}
	steps := []struct {
		name string
		do   func() (Node, error)
		want flags
	}{
		{"registered", func() (Node, error) { n, _, err := s.Register(inventory("n1")); return n, err },
			flags{false, 0, "NotApproved: registered", false, 0, "NotSeenYet"}},
		{"approved: still False, since registration", func() (Node, error) { return s.Transition("n1", Approved, "approved by an operator") },
			flags{false, 0, "ConfigurationNotFetched: approved by an operator", false, 0, "NotSeenYet"}},
		{"Node missing: still False, exact reason", func() (Node, error) { return s.SetKubeReady("n1", false, "NodeMissing: no Kubernetes node w1") },
			flags{false, 0, "ConfigurationNotFetched: approved by an operator", false, 0, "NodeMissing: no Kubernetes node w1"}},
		{"configuration fetched", func() (Node, error) { return s.Transition("n1", Provisioning, "fetched its configuration") },
			flags{false, 0, "Applying: fetched its configuration", false, 0, "NodeMissing: no Kubernetes node w1"}},
		{"agent ready, held by Kubernetes", func() (Node, error) { return s.Transition("n1", Ready, "reported ready") },
			flags{true, 4 * time.Minute, "ConfigurationApplied: reported ready", false, 0, "NodeMissing: no Kubernetes node w1"}},
		{"Node NotReady (a sentence from an older reconciler)", func() (Node, error) {
			return s.SetKubeReady("n1", false, "kubernetes node w1 Ready=False (KubeletNotReady)")
		}, flags{true, 4 * time.Minute, "ConfigurationApplied: reported ready", false, 0, "NodeNotReady: kubernetes node w1 Ready=False (KubeletNotReady)"}},
		{"Node Ready", func() (Node, error) {
			return s.SetKubeReady("n1", true, "KubeletReady: kubelet is posting ready status")
		},
			flags{true, 4 * time.Minute, "ConfigurationApplied: reported ready", true, 6 * time.Minute, "KubeletReady: kubelet is posting ready status"}},
		{"lost: AgentReady becomes Unknown", func() (Node, error) {
			c.add(time.Hour)
			if _, err := s.MarkLost(time.Minute); err != nil {
				return Node{}, err
			}
			return s.Get("n1")
		}, flags{true, 7*time.Minute + time.Hour, "HeartbeatMissed: no heartbeat for 1h7m0s (last 2026-01-01T00:00:00Z)", true, 6 * time.Minute, "KubeletReady: kubelet is posting ready status"}},
		{"heard from again", func() (Node, error) { return s.Seen("n1") },
			flags{true, 8*time.Minute + time.Hour, "HeartbeatResumed: heard from again", true, 6 * time.Minute, "KubeletReady: kubelet is posting ready status"}},
		{"kubelet down", func() (Node, error) {
			return s.SetKubeReady("n1", false, ReasonKubernetes+"KubeletNotReady: container runtime network not ready: NetworkReady=false")
		}, flags{true, 8*time.Minute + time.Hour, "HeartbeatResumed: heard from again", false, 9*time.Minute + time.Hour, "KubeletNotReady: container runtime network not ready: NetworkReady=false"}},
		{"decommissioned", func() (Node, error) { return s.Transition("n1", Decommissioned, "decommissioned by an operator") },
			flags{false, 10*time.Minute + time.Hour, "Decommissioned: decommissioned by an operator", false, 9*time.Minute + time.Hour, "KubeletNotReady: container runtime network not ready: NetworkReady=false"}},
	}
	for i, st := range steps {
		if i > 0 {
			c.add(time.Minute) // every step at its own minute, so a time that should not move shows it
		}
		n, err := st.do()
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, get(n)); diff != "" {
			t.Errorf("%s (-want +got):\n%s", st.name, diff)
		}
		stored, err := s.Get("n1")
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(st.want, get(stored)); diff != "" {
			t.Errorf("%s, as stored (-want +got):\n%s", st.name, diff)
		}
	}
}

// TestRecordWrittenBeforeTheFlagTimes checks that a record written without
// the transition fields (as by an older controller) still decodes, and
// gets them at its next change.
func TestRecordWrittenBeforeTheFlagTimes(t *testing.T) {
	s, c, path := open(t)
	if _, _, err := s.Register(inventory("n1")); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The layout of a record before AgentReadySince & co.
	old := `{"id":"n1","hostname":"w1","state":"ready","stateSince":"2025-12-31T00:00:00Z","firstSeen":"2025-12-30T00:00:00Z","lastSeen":"2025-12-31T00:00:00Z","generation":7,"agentReady":true,"kubeReady":true,"macs":["52:54:00:00:00:01"]}`
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketNodes).Put([]byte("n1"), []byte(old)) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.RequireKubeReady()

	n, err := s.Get("n1")
	if err != nil {
		t.Fatal(err)
	}
	if n.State != Ready || !n.AgentReady || !n.KubeReady || n.Hostname != "w1" || n.Generation != 7 ||
		!n.AgentReadySince.IsZero() || n.AgentReadyReason != "" || !n.KubeReadySince.IsZero() || n.KubeReadyReason != "" {
		t.Fatalf("old record decoded as %+v", n)
	}
	c.add(time.Minute)
	n, err = s.SetKubeReady("n1", false, "NodeMissing: no Kubernetes node w1")
	if err != nil {
		t.Fatal(err)
	}
	if n.State != Provisioning || !n.KubeReadySince.Equal(c.now()) || n.KubeReadyReason != "NodeMissing: no Kubernetes node w1" {
		t.Errorf("after NotReady: state %s, KubeReady since %v (%q); want provisioning since %v", n.State, n.KubeReadySince, n.KubeReadyReason, c.now())
	}
	// AgentReady did not change: the record still does not know since when.
	if !n.AgentReadySince.IsZero() {
		t.Errorf("AgentReady since %v, want unknown", n.AgentReadySince)
	}
	c.add(time.Minute)
	if n, err = s.SetKubeReady("n1", true, "KubeletReady: ok"); err != nil || n.State != Ready || !n.AgentReadySince.IsZero() {
		t.Fatalf("Node Ready again: %s, AgentReady since %v, %v; want ready, since unknown", n.State, n.AgentReadySince, err)
	}
	c.add(time.Minute)
	if n, err = s.Transition("n1", Provisioning, "fetched its configuration"); err != nil {
		t.Fatal(err)
	}
	if n.AgentReady || !n.AgentReadySince.Equal(c.now()) || n.AgentReadyReason != "Applying: fetched its configuration" {
		t.Errorf("after a reboot: AgentReady %v since %v (%q)", n.AgentReady, n.AgentReadySince, n.AgentReadyReason)
	}
}

func TestSplitReason(t *testing.T) {
	for _, tt := range []struct{ in, reason, msg string }{
		{"NotSeenYet", "NotSeenYet", ""},
		{"KubeletNotReady: runtime down: NetworkReady=false", "KubeletNotReady", "runtime down: NetworkReady=false"},
		{"kubernetes node w1 Ready=False (KubeletNotReady)", "", "kubernetes node w1 Ready=False (KubeletNotReady)"},
		{"Not Ready: x", "", "Not Ready: x"},
		{"Ready2Go", "Ready2Go", ""},
		{"2Ready", "", "2Ready"},
		{"Prêt: x", "", "Prêt: x"},
		{"", "", ""},
	} {
		r, m := SplitReason(tt.in)
		if r != tt.reason || m != tt.msg {
			t.Errorf("SplitReason(%q) = %q, %q; want %q, %q", tt.in, r, m, tt.reason, tt.msg)
		}
	}
}

// FuzzSplitReason: reasons come from the cluster (a Node's Ready
// condition); whatever they are, the split loses nothing and never panics.
func FuzzSplitReason(f *testing.F) {
	f.Add("KubeletNotReady: x")
	f.Add("kubernetes node w1 Ready=False")
	f.Fuzz(func(t *testing.T, s string) {
		r, m := SplitReason(s)
		switch {
		case r == "" && m != s:
			t.Fatalf("%q: no reason but message %q", s, m)
		case r != "" && s != r && s != r+": "+m:
			t.Fatalf("%q: %q + %q", s, r, m)
		}
		if k := kubeReason(false, s); k == "" {
			t.Fatalf("%q: empty KubeReady reason", s)
		}
	})
}
