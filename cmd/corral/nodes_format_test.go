package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/golden"
)

// testNow is the clock of every formatting test.
var testNow = time.Date(2026, 11, 22, 6, 0, 0, 0, time.UTC)

func inventory(t *testing.T, name string) *v1alpha1.Inventory {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "agent", "inventory", "testdata", "golden", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var inv v1alpha1.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatal(err)
	}
	return &inv
}

// cond is a condition as the controller sends it.
func cond(typ, status, reason, message string) v1alpha1.NodeCondition {
	return v1alpha1.NodeCondition{Type: typ, Status: status, Reason: reason, Message: message}
}

// conds are AgentReady and KubeReady with the given statuses, as a
// controller that reconciles Kubernetes sends them.
func conds(agent, kube string) []v1alpha1.NodeCondition {
	reasons := map[string]string{"True": "ConfigurationApplied", "False": "Applying", "Unknown": "HeartbeatMissed"}
	kubeReasons := map[string]string{"True": "NodeReady", "False": "NodeNotReady"}
	return []v1alpha1.NodeCondition{
		cond(v1alpha1.ConditionAgentReady, agent, reasons[agent], "agent "+reasons[agent]),
		cond(v1alpha1.ConditionKubeReady, kube, kubeReasons[kube], "kubernetes "+kubeReasons[kube]),
	}
}

// testNodes are a small rack: a ready GPU node with an assigned profile, a
// pending one never named, a lost one, one decommissioned long ago, and one
// provisioning whose agent is done but whose Kubernetes Node is not Ready.
func testNodes() []v1alpha1.Node {
	k := func(n v1alpha1.Node) v1alpha1.Node {
		n.APIVersion, n.Kind = v1alpha1.Version, v1alpha1.KindNode
		return n
	}
	return []v1alpha1.Node{
		k(v1alpha1.Node{
			ID: "n290625c983b70417daa29c6d", Hostname: "gpu-01", State: "ready", StateSince: testNow.Add(-50 * time.Hour),
			Profile: "gpu-worker", AssignedProfile: "gpu-worker", Labels: map[string]string{"rack": "b4", "corral.io/pool": "training"},
			MACs:      []string{"b8:3f:d2:1a:00:01", "b8:3f:d2:1a:00:02", "04:3f:72:aa:10:01"},
			FirstSeen: testNow.Add(-72 * time.Hour), LastSeen: testNow.Add(-12 * time.Second),
			Conditions: conds("True", "True"),
		}),
		k(v1alpha1.Node{
			ID: "n6227c08b186df43361f40f74", State: "pending", StateSince: testNow.Add(-3 * time.Minute),
			MACs: []string{"52:54:00:12:34:56"}, FirstSeen: testNow.Add(-3 * time.Minute), LastSeen: testNow.Add(-3 * time.Minute),
			Conditions: []v1alpha1.NodeCondition{
				cond(v1alpha1.ConditionAgentReady, "False", "NotApproved", "the node waits for an operator's approval (corral nodes approve)"),
				cond(v1alpha1.ConditionKubeReady, "False", "NotJoined", "the node joins Kubernetes after approval"),
			},
		}),
		k(v1alpha1.Node{
			ID: "n000000000000000000000abc", Hostname: "compute-07", State: "lost", StateSince: testNow.Add(-5 * time.Hour),
			Profile: "compute", MACs: []string{"52:54:00:00:00:07"},
			FirstSeen: testNow.Add(-40 * 24 * time.Hour), LastSeen: testNow.Add(-5*time.Hour - 30*time.Minute),
			Conditions: conds("Unknown", "False"),
		}),
		k(v1alpha1.Node{
			ID: "n0000000000000000000000de", Hostname: "compute-02", State: "decommissioned", StateSince: testNow.Add(-9 * 24 * time.Hour),
			Profile: "compute", FirstSeen: testNow.Add(-400 * 24 * time.Hour),
		}),
		k(v1alpha1.Node{
			ID: "n0000000000000000000000f3", Hostname: "worker-03", State: "provisioning", StateSince: testNow.Add(-4 * time.Minute),
			Profile: "compute", MACs: []string{"52:54:00:00:00:f3"},
			FirstSeen: testNow.Add(-6 * time.Minute), LastSeen: testNow.Add(-5 * time.Second),
			Conditions: []v1alpha1.NodeCondition{
				cond(v1alpha1.ConditionAgentReady, "True", "ConfigurationApplied", "the agent reported its configuration applied"),
				cond(v1alpha1.ConditionKubeReady, "False", "NodeNotReady", "Kubernetes Node worker-03 is missing or not Ready (kubectl describe node worker-03)"),
			},
		}),
	}
}

func testEvents() []v1alpha1.Event {
	at := func(d time.Duration) time.Time { return testNow.Add(-d) }
	return []v1alpha1.Event{
		{Seq: 1, Time: at(72 * time.Hour), Type: "registered", To: "discovered", Reason: "first registration"},
		{Seq: 2, Time: at(72 * time.Hour), Type: "state", From: "discovered", To: "pending", Reason: "policy manual: awaiting an operator"},
		{Seq: 3, Time: at(71 * time.Hour), Type: "state", From: "pending", To: "approved", Reason: "operator: racked in B4"},
		{Seq: 4, Time: at(70 * time.Hour), Type: "profile", To: "gpu-worker", Reason: "assigned by an operator"},
		{Seq: 5, Time: at(50 * time.Hour), Type: "state", From: "approved", To: "ready"},
		{Seq: 6, Time: at(2 * time.Hour), Type: "inventory", Changes: []string{"disk nvme3n1 removed (SAMSUNG MZQL23T8HCLS, 3.5TiB)", "gpu 0000:07:00.0 added (NVIDIA A100-SXM4-80GB)"}},
		{Seq: 7, Time: at(time.Hour), Type: "labels", Reason: "labels changed by an operator", Changes: []string{"set rack=b4"}},
	}
}

func TestNodesListFormats(t *testing.T) {
	for _, format := range []string{outputTable, outputWide, outputJSON, outputYAML} {
		t.Run(format, func(t *testing.T) {
			d := &nodesDeps{api: &fakeAPI{nodes: testNodes()}, now: func() time.Time { return testNow }}
			var out bytes.Buffer
			f := nodesListFlags{output: format}
			if err := f.run(t.Context(), d, &out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "nodes/list."+format, out.Bytes())
		})
	}
}

func TestNodesListYAMLReadsBackAsTheSameNodes(t *testing.T) {
	// The YAML form is the JSON document in other clothes: same names,
	// same values (timestamps and strings like "true" must not change type).
	nodes := testNodes()
	nodes[0].Labels["ok"] = "true"
	nodes[0].Labels["zip"] = "01234"
	var jsonOut, yamlOut bytes.Buffer
	if err := writeNodes(&jsonOut, outputJSON, nodes, testNow, true); err != nil {
		t.Fatal(err)
	}
	if err := writeNodes(&yamlOut, outputYAML, nodes, testNow, true); err != nil {
		t.Fatal(err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(jsonOut.Bytes(), &fromJSON); err != nil {
		t.Fatal(err)
	}
	if err := yamlToJSONValue(yamlOut.Bytes(), &fromYAML); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fromJSON, fromYAML); diff != "" {
		t.Errorf("YAML differs from JSON (-json +yaml):\n%s", diff)
	}
	if !strings.Contains(yamlOut.String(), `- "52:54:00:12:34:56"`) {
		t.Errorf("a MAC of digits only is not quoted: YAML 1.1 readers would take it for a base-60 number")
	}
}

func TestNodesListFiltersByStateAndLabel(t *testing.T) {
	tests := []struct {
		name string
		f    nodesListFlags
		want []string
	}{
		{"every node, named ones first by name", nodesListFlags{}, []string{"compute-02", "compute-07", "gpu-01", "worker-03", "n6227c08b186df43361f40f74"}},
		{"by state", nodesListFlags{state: "pending"}, []string{"n6227c08b186df43361f40f74"}},
		{"by label", nodesListFlags{selector: []string{"rack=b4"}}, []string{"gpu-01"}},
		{"by two labels, both needed", nodesListFlags{selector: []string{"rack=b4", "corral.io/pool=inference"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &nodesDeps{api: &fakeAPI{nodes: testNodes()}, now: func() time.Time { return testNow }}
			tt.f.output = outputJSON
			var out bytes.Buffer
			if err := tt.f.run(t.Context(), d, &out); err != nil {
				t.Fatal(err)
			}
			var list v1alpha1.NodeList
			if err := json.Unmarshal(out.Bytes(), &list); err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, n := range list.Items {
				got = append(got, cmpOr(n.Hostname, n.ID))
			}
			// JSON keeps the server's order; compare as sets.
			if diff := cmp.Diff(tt.want, got, sortStrings); diff != "" {
				t.Errorf("nodes (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNodesShowFormats(t *testing.T) {
	gpu := testNodes()[0]
	gpu.Inventory = inventory(t, "dgx-a100")
	vm := testNodes()[1]
	vm.Inventory = inventory(t, "qemu")
	many := testNodes()[2]
	var manyEvents []v1alpha1.Event
	for i := range 14 {
		manyEvents = append(manyEvents, v1alpha1.Event{Seq: uint64(i + 1), Time: testNow.Add(time.Duration(i-14) * time.Hour), Type: "state", From: "ready", To: "lost", Reason: "missed heartbeats"})
	}
	tests := []struct {
		name   string
		node   v1alpha1.Node
		events []v1alpha1.Event
		format string
	}{
		{"gpu-node", gpu, testEvents(), outputTable},
		{"pending-vm", vm, nil, outputTable},
		{"without-inventory-many-events", many, manyEvents, outputTable},
		{"pending-vm", vm, nil, outputYAML},
		{"waiting-for-kubernetes", testNodes()[4], nil, outputTable},
		{"waiting-for-kubernetes", testNodes()[4], nil, outputJSON},
	}
	for _, tt := range tests {
		t.Run(tt.name+"."+tt.format, func(t *testing.T) {
			api := &fakeAPI{nodes: []v1alpha1.Node{tt.node}, events: map[string][]v1alpha1.Event{tt.node.ID: tt.events}}
			d := &nodesDeps{api: api, now: func() time.Time { return testNow }}
			var out bytes.Buffer
			f := nodesShowFlags{output: tt.format, node: tt.node.ID}
			if err := f.run(t.Context(), d, &out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "nodes/show-"+tt.name+"."+tt.format, out.Bytes())
		})
	}
}

func TestNodesEventsFormats(t *testing.T) {
	for _, format := range []string{outputTable, outputJSON} {
		t.Run(format, func(t *testing.T) {
			n := testNodes()[0]
			api := &fakeAPI{nodes: []v1alpha1.Node{n}, events: map[string][]v1alpha1.Event{n.ID: testEvents()}}
			d := &nodesDeps{api: api, now: func() time.Time { return testNow }}
			var out bytes.Buffer
			f := nodesEventsFlags{output: format, node: "gpu-01"}
			if err := f.run(t.Context(), d, &out); err != nil {
				t.Fatal(err)
			}
			golden.Check(t, "nodes/events."+format, out.Bytes())
		})
	}
}

func TestNodesWaitingFor(t *testing.T) {
	tests := []struct {
		name  string
		state string
		conds []v1alpha1.NodeCondition
		want  string
	}{
		{"pending waits for an operator", "pending", conds("False", "False"), "approval"},
		{"discovered too", "discovered", nil, "approval"},
		{"approved, with a cluster: both", "approved", conds("False", "False"), "agent, kubernetes node"},
		{"approved, without a cluster", "approved", conds("False", "False")[:1], "agent"},
		{"provisioning, agent done", "provisioning", conds("True", "False"), "kubernetes node"},
		{"provisioning, Node ready first", "provisioning", conds("False", "True"), "agent"},
		{"an unknown condition is named as it is", "provisioning", []v1alpha1.NodeCondition{cond("StorageReady", "False", "", "")}, "StorageReady"},
		{"an older controller sends no conditions", "provisioning", nil, ""},
		{"lost waits for a heartbeat", "lost", conds("Unknown", "True"), "heartbeat"},
		{"ready waits for nothing", "ready", conds("True", "True"), ""},
		{"decommissioned waits for nothing", "decommissioned", conds("False", "False"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := waitingFor(v1alpha1.Node{State: v1alpha1.NodeState(tt.state), Conditions: tt.conds}); got != tt.want {
				t.Errorf("waitingFor = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNodesAgeIsShortAndRoundsDown(t *testing.T) {
	tests := []struct {
		ago  time.Duration
		want string
	}{
		{-time.Minute, "0s"}, // a controller clock ahead of ours
		{0, "0s"},
		{59 * time.Second, "59s"},
		{90 * time.Second, "1m"},
		{59*time.Minute + 59*time.Second, "59m"},
		{47 * time.Hour, "47h"},
		{48 * time.Hour, "2d"},
		{400 * 24 * time.Hour, "400d"},
	}
	for _, tt := range tests {
		if got := age(testNow, testNow.Add(-tt.ago)); got != tt.want {
			t.Errorf("age of %v = %q, want %q", tt.ago, got, tt.want)
		}
	}
	if got := age(testNow, time.Time{}); got != "-" {
		t.Errorf("age of the zero time = %q, want -", got)
	}
}

func TestNodesSizeUsesBinaryUnits(t *testing.T) {
	for in, want := range map[uint64]string{0: "-", 512: "512B", 1536: "1.5KiB", 80 << 30: "80.0GiB", 3840755982336: "3.5TiB"} {
		if got := size(in); got != want {
			t.Errorf("size(%d) = %q, want %q", in, got, want)
		}
	}
}

func TestNodesMACCellPrefersEthernet(t *testing.T) {
	tests := []struct {
		macs []string
		want string
	}{
		{nil, "-"},
		{[]string{"52:54:00:12:34:56"}, "52:54:00:12:34:56"},
		{[]string{"00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40", "b8:ce:f6:5a:10:20"}, "b8:ce:f6:5a:10:20 (+1)"},
		{[]string{"00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40"}, "00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40"},
	}
	for _, tt := range tests {
		if got := macCell(tt.macs); got != tt.want {
			t.Errorf("macCell(%q) = %q, want %q", tt.macs, got, tt.want)
		}
	}
}
