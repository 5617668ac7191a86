package registry

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// step is one call on the store and the state it must leave.
type step struct {
	do   string // agent-ready, kube-ready, kube-notready, config, lost, seen
	want State
}

func TestReadinessWithKubernetes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		gate  bool
		steps []step
	}{
		{"without Kubernetes the agent's report makes a node ready", false, []step{
			{"agent-ready", Ready}, {"kube-notready", Ready},
		}},
		{"agent ready waits for the Node to be Ready", true, []step{
			{"agent-ready", Provisioning}, {"kube-ready", Ready},
		}},
		{"Node Ready before the agent's report: ready at the report", true, []step{
			{"kube-ready", Provisioning}, {"agent-ready", Ready},
		}},
		{"NotReady takes a ready node back to provisioning, Ready again restores it", true, []step{
			{"agent-ready", Provisioning}, {"kube-ready", Ready}, {"kube-notready", Provisioning}, {"kube-ready", Ready},
		}},
		{"a reboot (config fetched) needs a fresh agent report", true, []step{
			{"agent-ready", Provisioning}, {"kube-ready", Ready}, {"config", Provisioning}, {"kube-ready", Provisioning}, {"agent-ready", Ready},
		}},
		{"back from lost only with the Node Ready", true, []step{
			{"agent-ready", Provisioning}, {"kube-ready", Ready}, {"lost", Lost}, {"kube-notready", Lost}, {"seen", Provisioning}, {"kube-ready", Ready},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, c, _ := open(t)
			if tc.gate {
				s.RequireKubeReady()
			}
			var mu sync.Mutex
			var seen []string
			s.Watch(func(e Event) {
				mu.Lock()
				defer mu.Unlock()
				seen = append(seen, string(e.Type)+":"+e.To)
			})
			if _, _, err := s.Register(inventory("n1")); err != nil {
				t.Fatal(err)
			}
			for _, to := range []State{Approved, Provisioning} {
				if _, err := s.Transition("n1", to, "test"); err != nil {
					t.Fatal(err)
				}
			}
			for i, st := range tc.steps {
				var n Node
				var err error
				switch st.do {
				case "agent-ready":
					n, err = s.Transition("n1", Ready, "reported ready")
				case "kube-ready":
					n, err = s.SetKubeReady("n1", true, "node Ready")
				case "kube-notready":
					n, err = s.SetKubeReady("n1", false, "node NotReady")
				case "config":
					n, err = s.Transition("n1", Provisioning, "fetched its configuration")
				case "lost":
					c.add(time.Hour)
					if _, err = s.MarkLost(time.Minute); err == nil {
						n, err = s.Get("n1")
					}
				case "seen":
					n, err = s.Seen("n1")
				}
				if err != nil {
					t.Fatalf("step %d %s: %v", i, st.do, err)
				}
				if n.State != st.want {
					t.Fatalf("step %d %s: state %s, want %s", i, st.do, n.State, st.want)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if diff := cmp.Diff("registered:discovered", seen[0]); diff != "" {
				t.Errorf("first watched event (-want +got):\n%s", diff)
			}
		})
	}
}
