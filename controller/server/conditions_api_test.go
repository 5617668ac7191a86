package server_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
)

// TestConditionsThroughTheAPI walks a node through enrollment with a
// cluster configured and checks, at each step, what the operator API says
// the node waits for: its agent, its Kubernetes Node, or nothing.
func TestConditionsThroughTheAPI(t *testing.T) {
	c := servertest.Start(t, servertest.Options{KubeReadiness: true})
	op := admin(t, c)
	var last v1alpha1.Node
	statuses := func() map[string]string {
		t.Helper()
		n, err := op.Node(ctx, "node-k")
		if err != nil {
			t.Fatal(err)
		}
		list, err := op.Nodes(ctx)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		// The registry records when each flag changed: list and show agree,
		// and every condition has its time.
		if diff := cmp.Diff(n.Conditions, list[0].Conditions); diff != "" {
			t.Errorf("list and show disagree (-show +list):\n%s", diff)
		}
		for _, c := range n.Conditions {
			if c.LastTransitionTime == nil || c.LastTransitionTime.IsZero() {
				t.Errorf("%s has no lastTransitionTime: %+v", c.Type, c)
			}
		}
		last = n
		got := map[string]string{"state": string(n.State)}
		for _, c := range n.Conditions {
			got[c.Type] = c.Status
		}
		return got
	}
	want := func(step, st, agent, kube string) {
		t.Helper()
		if diff := cmp.Diff(map[string]string{"state": st, v1alpha1.ConditionAgentReady: agent, v1alpha1.ConditionKubeReady: kube}, statuses()); diff != "" {
			t.Errorf("%s (-want +got):\n%s", step, diff)
		}
	}

	a := agent(t, c)
	reg, err := a.Register(ctx, inv("node-k", "52:54:00:00:00:1a"), "")
	if err != nil {
		t.Fatal(err)
	}
	want("registered", "pending", "False", "False")
	if _, err := op.Action(ctx, "node-k", "approve", v1alpha1.ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	want("approved", "approved", "False", "False")
	cred, _, err := a.WithToken(reg.EnrollmentToken).Credential(ctx)
	if err != nil || cred == nil {
		t.Fatalf("credential: %v %v", cred, err)
	}
	node := a.WithToken(cred.Credential)
	if _, err := node.Config(ctx); err != nil {
		t.Fatal(err)
	}
	want("configuration fetched", "provisioning", "False", "False")
	if err := node.Heartbeat(ctx, true, "applied"); err != nil {
		t.Fatal(err)
	}
	want("agent ready, Node not yet", "provisioning", "True", "False")
	if _, err := c.Registry.SetKubeReady("node-k", true, "Ready"); err != nil {
		t.Fatal(err)
	}
	want("both", "ready", "True", "True")
	if _, err := c.Registry.SetKubeReady("node-k", false, "NodeStatusUnknown: Kubelet stopped posting node status."); err != nil {
		t.Fatal(err)
	}
	want("Node NotReady", "provisioning", "True", "False")
	if k := last.Conditions[1]; k.LastTransitionTime == nil || !k.LastTransitionTime.Equal(last.StateSince) || k.Reason != "NodeStatusUnknown" || !strings.HasSuffix(k.Message, "; reported: Kubelet stopped posting node status.") {
		t.Errorf("KubeReady after the Node turned NotReady: %+v; want the time it moved the node and the reconciler's reason", k)
	}
	if a := last.Conditions[0]; a.Reason != "ConfigurationApplied" || a.LastTransitionTime.Equal(last.StateSince) {
		t.Errorf("AgentReady after the Node turned NotReady: %+v; want ConfigurationApplied since the agent's report, before %v", a, last.StateSince)
	}
}

// TestNoKubeConditionWithoutACluster checks that a controller without
// kube.kubeconfig shows only AgentReady, and that the agent alone makes a
// node ready.
func TestNoKubeConditionWithoutACluster(t *testing.T) {
	c := servertest.Start(t, servertest.Options{})
	i := inv("node-n", "52:54:00:00:00:1b")
	if _, _, err := c.Registry.Register(&i); err != nil {
		t.Fatal(err)
	}
	for _, to := range []registry.State{registry.Approved, registry.Provisioning, registry.Ready} {
		if _, err := c.Registry.Transition("node-n", to, "test"); err != nil {
			t.Fatal(err)
		}
	}
	n, err := admin(t, c).Node(ctx, "node-n")
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, c := range n.Conditions {
		types = append(types, c.Type+"="+c.Status)
	}
	if diff := cmp.Diff([]string{"AgentReady=True"}, types); diff != "" || n.State != "ready" {
		t.Errorf("state %s, conditions (-want +got):\n%s", n.State, diff)
	}
}
