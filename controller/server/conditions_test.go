package server

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
)

// TestConditionsFromTheRegistry checks how AgentReady and KubeReady of a
// registry record become the Node's conditions, in every state.
func TestConditionsFromTheRegistry(t *testing.T) {
	seen := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	type st = [2]string // status, reason
	tests := []struct {
		name            string
		n               registry.Node
		kube            bool
		agent, kubeCond st
	}{
		{"pending, no cluster", registry.Node{State: registry.Pending}, false, st{"False", "NotApproved"}, st{}},
		{"discovered, with a cluster", registry.Node{State: registry.Discovered}, true, st{"False", "NotApproved"}, st{"False", "NotJoined"}},
		{"approved, not booted yet", registry.Node{State: registry.Approved, Hostname: "n1"}, true, st{"False", "ConfigurationNotFetched"}, st{"False", "NodeNotReady"}},
		{"provisioning, waiting for both", registry.Node{State: registry.Provisioning, Hostname: "n1"}, true, st{"False", "Applying"}, st{"False", "NodeNotReady"}},
		{"provisioning, waiting for the agent", registry.Node{State: registry.Provisioning, Hostname: "n1", KubeReady: true}, true, st{"False", "Applying"}, st{"True", "NodeReady"}},
		{"provisioning, waiting for kubernetes", registry.Node{State: registry.Provisioning, Hostname: "n1", AgentReady: true}, true, st{"True", "ConfigurationApplied"}, st{"False", "NodeNotReady"}},
		{"ready with a cluster", registry.Node{State: registry.Ready, Hostname: "n1", AgentReady: true, KubeReady: true}, true, st{"True", "ConfigurationApplied"}, st{"True", "NodeReady"}},
		{"ready without a cluster", registry.Node{State: registry.Ready, AgentReady: true}, false, st{"True", "ConfigurationApplied"}, st{}},
		{"ready, recorded before AgentReady existed", registry.Node{State: registry.Ready}, false, st{"True", "ConfigurationApplied"}, st{}},
		{"lost: the agent is unknown", registry.Node{State: registry.Lost, Hostname: "n1", AgentReady: true, KubeReady: true, LastSeen: seen}, true, st{"Unknown", "HeartbeatMissed"}, st{"True", "NodeReady"}},
		{"decommissioned", registry.Node{State: registry.Decommissioned, Hostname: "n1"}, true, st{"False", "Decommissioned"}, st{"False", "Decommissioned"}},
		{"no hostname yet", registry.Node{State: registry.Provisioning}, true, st{"False", "Applying"}, st{"False", "NotJoined"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := view(tt.n, false, tt.kube).Conditions
			var short []st
			for _, c := range got {
				short = append(short, st{c.Status, c.Reason})
				if c.Message == "" || c.LastTransitionTime != nil { // records without the flags' times
					t.Errorf("%s: message %q, transition time %v; want a message and no time", c.Type, c.Message, c.LastTransitionTime)
				}
			}
			want := []st{tt.agent}
			if tt.kube {
				want = append(want, tt.kubeCond)
			}
			if diff := cmp.Diff(want, short); diff != "" {
				t.Errorf("[status reason] (-want +got):\n%s", diff)
			}
			var types []string
			for _, c := range got {
				types = append(types, c.Type)
			}
			if diff := cmp.Diff(v1alpha1.ConditionTypes[:len(got)], types); diff != "" {
				t.Errorf("types (-want +got):\n%s", diff)
			}
		})
	}
}

// TestConditionsFromRecordedTransitions checks that the registry's record
// of when each flag changed and why gives every condition its
// lastTransitionTime and its exact reason.
func TestConditionsFromRecordedTransitions(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	agentAt, kubeAt := at.Add(time.Minute), at.Add(2*time.Minute)
	rec := func(n registry.Node, agentWhy, kubeWhy string) registry.Node {
		n.Hostname = "w1"
		n.AgentReadySince, n.AgentReadyReason = agentAt, agentWhy
		n.KubeReadySince, n.KubeReadyReason = kubeAt, kubeWhy
		return n
	}
	type cond struct {
		Status, Reason, Message string
		Since                   time.Time
	}
	tests := []struct {
		name        string
		n           registry.Node
		agent, kube cond
	}{
		{"approved, Node never seen",
			rec(registry.Node{State: registry.Approved}, "ConfigurationNotFetched: approved by an operator", "NotSeenYet"),
			cond{"False", "ConfigurationNotFetched", "approved; the machine has not fetched its configuration yet (is it booting? corral nodes logs shows its boot); approved by an operator", agentAt},
			cond{"False", "NotSeenYet", "the controller has not seen Kubernetes Node w1 yet (it watches the cluster of kube.kubeconfig)", kubeAt}},
		{"provisioning, Node missing",
			rec(registry.Node{State: registry.Provisioning, AgentReady: true}, "ConfigurationApplied: reported ready", "NodeMissing: no Kubernetes node w1"),
			cond{"True", "ConfigurationApplied", "the agent reported its configuration applied; reported ready", agentAt},
			cond{"False", "NodeMissing", "Kubernetes Node w1 does not exist: the machine has not joined the cluster yet, or was removed from it (corral nodes logs shows its boot)", kubeAt}},
		{"provisioning, kubelet not ready",
			rec(registry.Node{State: registry.Provisioning, AgentReady: true}, "ConfigurationApplied", "KubeletNotReady: container runtime network not ready"),
			cond{"True", "ConfigurationApplied", "the agent reported its configuration applied", agentAt},
			cond{"False", "KubeletNotReady", "Kubernetes Node w1 is missing or not Ready (kubectl describe node w1); reported: container runtime network not ready", kubeAt}},
		{"a reason from an older reconciler stays the message",
			rec(registry.Node{State: registry.Provisioning}, "Applying: fetched its configuration", "NodeNotReady: kubernetes node w1 Ready=False (KubeletNotReady)"),
			cond{"False", "Applying", "the agent fetched its configuration and has not reported it applied yet (corral nodes logs shows its boot); fetched its configuration", agentAt},
			cond{"False", "NodeNotReady", "Kubernetes Node w1 is missing or not Ready (kubectl describe node w1); reported: kubernetes node w1 Ready=False (KubeletNotReady)", kubeAt}},
		{"ready",
			rec(registry.Node{State: registry.Ready, AgentReady: true, KubeReady: true}, "HeartbeatResumed: heard from again", "KubeletReady: kubelet is posting ready status"),
			cond{"True", "HeartbeatResumed", "the agent is heard from again after missing its heartbeats; heard from again", agentAt},
			cond{"True", "KubeletReady", "Kubernetes Node w1 is Ready; reported: kubelet is posting ready status", kubeAt}},
		{"lost",
			rec(registry.Node{State: registry.Lost, AgentReady: true, KubeReady: true, LastSeen: at}, "HeartbeatMissed: no heartbeat for 1m0s", "KubeletReady"),
			cond{"Unknown", "HeartbeatMissed", "no heartbeat since 2026-11-22T07:00:00Z; is the machine up?", agentAt},
			cond{"True", "KubeletReady", "Kubernetes Node w1 is Ready", kubeAt}},
		{"decommissioned",
			rec(registry.Node{State: registry.Decommissioned}, "Decommissioned: decommissioned by an operator", "NodeMissing: no Kubernetes node w1"),
			cond{"False", "Decommissioned", "the node is decommissioned; decommissioned by an operator", agentAt},
			cond{"False", "Decommissioned", "the node is decommissioned; its Kubernetes Node is deleted", kubeAt}},
		{"pending: not joined, since registration",
			rec(registry.Node{State: registry.Pending}, "NotApproved: registered", "NotSeenYet"),
			cond{"False", "NotApproved", "the node waits for an operator's approval (corral nodes approve); registered", agentAt},
			cond{"False", "NotJoined", "the node joins Kubernetes after approval", kubeAt}},
		{"a recorded reason that contradicts the state is not trusted",
			rec(registry.Node{State: registry.Ready}, "Applying: fetched its configuration", "NotSeenYet"),
			cond{"True", "ConfigurationApplied", "the agent reported its configuration applied", time.Time{}},
			cond{"False", "NotSeenYet", "the controller has not seen Kubernetes Node w1 yet (it watches the cluster of kube.kubeconfig)", kubeAt}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []cond
			for _, c := range view(tt.n, false, true).Conditions {
				g := cond{c.Status, c.Reason, c.Message, time.Time{}}
				if c.LastTransitionTime != nil {
					g.Since = *c.LastTransitionTime
				}
				got = append(got, g)
			}
			if diff := cmp.Diff([]cond{tt.agent, tt.kube}, got); diff != "" {
				t.Errorf("AgentReady, KubeReady (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLostNodeSaysWhenItWasLastHeardFrom(t *testing.T) {
	n := registry.Node{State: registry.Lost, LastSeen: time.Date(2026, 11, 22, 7, 0, 0, 0, time.FixedZone("CET", 3600))}
	c := view(n, false, false).Conditions[0]
	if want := "no heartbeat since 2026-11-22T06:00:00Z; is the machine up?"; c.Message != want {
		t.Errorf("message %q, want %q", c.Message, want)
	}
}

// TestKubeTransitionFromTheEvents checks that KubeReady gets a transition
// time and the reconciler's reason only when the node's current state was
// entered because of its Kubernetes Node.
func TestKubeTransitionFromTheEvents(t *testing.T) {
	at := time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)
	ev := func(min int, to, reason string) registry.Event {
		return registry.Event{Type: "state", Time: at.Add(time.Duration(min) * time.Minute), To: to, Reason: reason}
	}
	notReady := registry.ReasonKubernetes + "kubernetes node n1 Ready=False (KubeletNotReady)"
	tests := []struct {
		name     string
		n        registry.Node
		evs      []registry.Event
		wantTime bool
		wantMsg  string
	}{
		{"back to provisioning because the Node turned NotReady",
			registry.Node{State: registry.Provisioning, StateSince: at.Add(5 * time.Minute), Hostname: "n1", AgentReady: true},
			[]registry.Event{ev(1, "provisioning", "configuration fetched"), ev(2, "ready", notReady), ev(5, "provisioning", notReady), {Type: "labels", Time: at.Add(6 * time.Minute)}},
			true, "Kubernetes Node n1 is missing or not Ready (kubectl describe node n1); reported: kubernetes node n1 Ready=False (KubeletNotReady)"},
		{"ready because the Node became Ready",
			registry.Node{State: registry.Ready, StateSince: at.Add(2 * time.Minute), Hostname: "n1", AgentReady: true, KubeReady: true},
			[]registry.Event{ev(1, "provisioning", "configuration fetched"), ev(2, "ready", registry.ReasonKubernetes+"kubernetes node n1 Ready=True (KubeletReady)")},
			true, "Kubernetes Node n1 is Ready; reported: kubernetes node n1 Ready=True (KubeletReady)"},
		{"ready because the agent reported last: the Node's time is unknown",
			registry.Node{State: registry.Ready, StateSince: at.Add(2 * time.Minute), Hostname: "n1", AgentReady: true, KubeReady: true},
			[]registry.Event{ev(1, "provisioning", "configuration fetched"), ev(2, "ready", "agent reported ready")},
			false, "Kubernetes Node n1 is Ready"},
		{"an older kubernetes event does not describe the current state",
			registry.Node{State: registry.Provisioning, StateSince: at.Add(9 * time.Minute), Hostname: "n1"},
			[]registry.Event{ev(5, "provisioning", notReady), ev(8, "lost", "no heartbeat"), ev(9, "provisioning", "configuration fetched")},
			false, "Kubernetes Node n1 is missing or not Ready (kubectl describe node n1)"},
		{"no events", registry.Node{State: registry.Approved, Hostname: "n1"}, nil, false, "Kubernetes Node n1 is missing or not Ready (kubectl describe node n1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := view(tt.n, false, true)
			kubeTransition(&v, tt.n, tt.evs)
			c := v.Conditions[1]
			if got := c.LastTransitionTime != nil; got != tt.wantTime {
				t.Errorf("transition time %v, want one: %v", c.LastTransitionTime, tt.wantTime)
			} else if got && !c.LastTransitionTime.Equal(tt.n.StateSince) {
				t.Errorf("transition time %v, want %v", c.LastTransitionTime, tt.n.StateSince)
			}
			if c.Message != tt.wantMsg {
				t.Errorf("message %q, want %q", c.Message, tt.wantMsg)
			}
			if v.Conditions[0].LastTransitionTime != nil {
				t.Errorf("AgentReady got a transition time")
			}
		})
	}
	t.Run("without a cluster nothing changes", func(t *testing.T) {
		n := registry.Node{State: registry.Ready, StateSince: at}
		v := view(n, false, false)
		kubeTransition(&v, n, []registry.Event{ev(0, "ready", notReady)})
		if len(v.Conditions) != 1 || v.Conditions[0].LastTransitionTime != nil {
			t.Errorf("conditions %+v", v.Conditions)
		}
	})
}
