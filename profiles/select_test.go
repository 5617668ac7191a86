package profiles

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
)

// goldenDir holds inventories of real and modelled machines, written by
// agent/inventory's golden test.
const goldenDir = "../agent/inventory/testdata/golden"

// readInventory reads a golden inventory by fixture name.
func readInventory(t testing.TB, name string) *v1alpha1.Inventory {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(goldenDir, name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var inv v1alpha1.Inventory
	if err := json.Unmarshal(data, &inv); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return &inv
}

// mustParse parses profiles from YAML or fails the test.
func mustParse(t testing.TB, yaml string) []*Profile {
	t.Helper()
	ps, err := Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func mustDefaults(t testing.TB) []*Profile {
	t.Helper()
	ps, err := Defaults()
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func TestSelectDefaultsOnRealInventories(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		want    string
	}{
		{"a DGX A100 with 8 NVIDIA GPUs is a gpu-worker", "dgx-a100", "gpu-worker"},
		{"a QEMU lab VM with one disk is compute", "qemu", "compute"},
		{"the captured QEMU q35 VM is compute", "qemu-q35", "compute"},
		{"the build VM with only its boot disk is compute", "build-vm", "compute"},
	}
	defaults := mustDefaults(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Select(readInventory(t, tt.fixture), defaults, SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Profile != tt.want {
				t.Errorf("chose %q, want %q; explanations: %+v", d.Profile, tt.want, d.Explanations)
			}
			t.Logf("%+v", d)
		})
	}
}

func TestSelectExplainsEveryProfile(t *testing.T) {
	d, err := Select(readInventory(t, "dgx-a100"), mustDefaults(t), SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := Decision{Profile: "gpu-worker", By: ByRule, Explanations: []Explanation{
		{Profile: "gpu-worker", Priority: 100, Result: ResultChosen, Reason: "match expression is true"},
		{Profile: "storage", Priority: 50, Result: ResultMatched, Reason: "match expression is true; but gpu-worker has a higher priority (100 > 50)"},
		{Profile: "compute", Priority: 0, Result: ResultMatched, Reason: "match expression is true; but gpu-worker has a higher priority (100 > 0)"},
	}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
}

func TestSelectUnknownAssignment(t *testing.T) {
	_, err := Select(readInventory(t, "qemu"), mustDefaults(t), SelectOptions{Assignment: "gpu"})
	if !errors.Is(err, ErrUnknownProfile) {
		t.Fatalf("err = %v, want ErrUnknownProfile", err)
	}
	if want := `unknown profile "gpu" assigned to the node; known profiles: compute, gpu-worker, storage`; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
}

// prof builds a profile document.
func prof(name string, priority int, rest string) string {
	return "apiVersion: corral.io/v1alpha1\nkind: Profile\nname: " + name + "\npriority: " + strconv.Itoa(priority) + "\n" + rest + "---\n"
}

func TestSelectPrecedence(t *testing.T) {
	qemu := readInventory(t, "qemu")
	dgx := readInventory(t, "dgx-a100")
	tests := []struct {
		name     string
		profiles string
		inv      *v1alpha1.Inventory
		opts     SelectOptions
		want     Decision
	}{
		{
			name:     "an assignment wins over a matching selector and rule",
			profiles: prof("a", 10, "match: \"true\"\n") + prof("b", 0, "selectors:\n  macs: [\"52:54:00:*\"]\n") + prof("manual", 0, ""),
			inv:      qemu,
			opts:     SelectOptions{Assignment: "manual"},
			want: Decision{Profile: "manual", By: ByAssignment, Explanations: []Explanation{
				{Profile: "a", Priority: 10, Result: ResultMatched, Reason: "match expression is true; but the node is assigned to manual"},
				{Profile: "b", Priority: 0, Result: ResultMatched, Reason: `selectors.macs[0] "52:54:00:*" matches MAC 52:54:00:12:34:56; but the node is assigned to manual`},
				{Profile: "manual", Priority: 0, Result: ResultChosen, Reason: "assigned by an operator (wins over selectors and rules)"},
			}},
		},
		{
			name:     "a selector wins over a rule of higher priority",
			profiles: prof("rule", 100, "match: \"true\"\n") + prof("pinned", 0, "selectors:\n  macs: [\"52-54-00-12-34-56\"]\n"),
			inv:      qemu,
			want: Decision{Profile: "pinned", By: BySelector, Explanations: []Explanation{
				{Profile: "rule", Priority: 100, Result: ResultMatched, Reason: "match expression is true; but a selector of pinned matches, and selectors win over rules"},
				{Profile: "pinned", Priority: 0, Result: ResultChosen, Reason: `selectors.macs[0] "52-54-00-12-34-56" matches MAC 52:54:00:12:34:56`},
			}},
		},
		{
			name:     "the highest priority wins among rules",
			profiles: prof("low", 1, "match: \"true\"\n") + prof("high", 2, "match: inventory.cpu.cores >= 2\n"),
			inv:      qemu,
			want: Decision{Profile: "high", By: ByRule, Explanations: []Explanation{
				{Profile: "high", Priority: 2, Result: ResultChosen, Reason: "match expression is true"},
				{Profile: "low", Priority: 1, Result: ResultMatched, Reason: "match expression is true; but high has a higher priority (2 > 1)"},
			}},
		},
		{
			name:     "at equal priority the name that sorts first wins",
			profiles: prof("zeta", 5, "match: \"true\"\n") + prof("alpha", 5, "match: \"true\"\n"),
			inv:      qemu,
			want: Decision{Profile: "alpha", By: ByRule, Explanations: []Explanation{
				{Profile: "alpha", Priority: 5, Result: ResultChosen, Reason: "match expression is true"},
				{Profile: "zeta", Priority: 5, Result: ResultMatched, Reason: "match expression is true; but alpha has the same priority (5) and its name sorts first"},
			}},
		},
		{
			name: "a failing expression counts as no match and is reported",
			profiles: prof("broken", 9, "match: inventory.labels[\"no/such\"] == \"x\"\n") +
				prof("fallback", 0, "match: \"true\"\n"),
			inv: qemu,
			want: Decision{Profile: "fallback", By: ByRule, Explanations: []Explanation{
				{Profile: "broken", Priority: 9, Result: ResultError, Reason: "match expression failed: no such key: no/such"},
				{Profile: "fallback", Priority: 0, Result: ResultChosen, Reason: "match expression is true"},
			}},
		},
		{
			name: "selectors match serial ignoring case, UUID, node id and hostname",
			profiles: prof("by-serial", 0, "selectors:\n  serials: [\"synth*\"]\n") +
				prof("by-uuid", 0, "selectors:\n  uuids: [\"8C3B1A2E-*\"]\n") +
				prof("by-id", 0, "selectors:\n  nodeIDs: [\"n2906*\"]\n") +
				prof("by-host", 0, "selectors:\n  hostnames: [\"dgx-?\"]\n") +
				prof("by-mac", 0, "selectors:\n  macs: [\"00:11:*\"]\n"),
			inv:  dgx,
			opts: SelectOptions{Hostname: "dgx-1"},
			want: Decision{Profile: "by-host", By: BySelector, Explanations: []Explanation{
				{Profile: "by-host", Priority: 0, Result: ResultChosen, Reason: `selectors.hostnames[0] "dgx-?" matches hostname dgx-1`},
				{Profile: "by-id", Priority: 0, Result: ResultMatched, Reason: `selectors.nodeIDs[0] "n2906*" matches node id n290625c983b70417daa29c6d; but by-host has the same priority (0) and its name sorts first`},
				{Profile: "by-mac", Priority: 0, Result: ResultNoMatch, Reason: "no selector matches (node has MACs b8:ce:f6:5a:10:30 b8:ce:f6:5a:10:31 b8:ce:f6:5a:10:20 b8:ce:f6:5a:10:21 00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40 00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:41) and no match expression"},
				{Profile: "by-serial", Priority: 0, Result: ResultMatched, Reason: `selectors.serials[0] "synth*" matches serial SYNTH0000000001; but by-host has the same priority (0) and its name sorts first`},
				{Profile: "by-uuid", Priority: 0, Result: ResultMatched, Reason: `selectors.uuids[0] "8C3B1A2E-*" matches UUID 8c3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11; but by-host has the same priority (0) and its name sorts first`},
			}},
		},
		{
			name:     "a profile without rule or selector is only chosen by assignment",
			profiles: prof("manual", 0, "") + prof("fallback", 0, "match: \"true\"\n"),
			inv:      qemu,
			want: Decision{Profile: "fallback", By: ByRule, Explanations: []Explanation{
				{Profile: "fallback", Priority: 0, Result: ResultChosen, Reason: "match expression is true"},
				{Profile: "manual", Priority: 0, Result: ResultNoMatch, Reason: "no match expression and no selectors: only an assignment chooses it"},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Select(tt.inv, mustParse(t, tt.profiles), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, d); diff != "" {
				t.Errorf("decision (-want +got):\n%s", diff)
			}
		})
	}
}

func TestSelectWithoutMatchReturnsErrNoProfile(t *testing.T) {
	ps := mustParse(t, prof("gpu", 0, "match: inventory.gpus.exists(g, g.vendorID == \"10de\")\n"))
	d, err := Select(readInventory(t, "qemu"), ps, SelectOptions{})
	if !errors.Is(err, ErrNoProfile) {
		t.Fatalf("err = %v, want ErrNoProfile", err)
	}
	want := Decision{Explanations: []Explanation{{Profile: "gpu", Result: ResultNoMatch, Reason: "match expression is false"}}}
	if diff := cmp.Diff(want, d); diff != "" {
		t.Errorf("decision (-want +got):\n%s", diff)
	}
}

func TestSelectStopsExpensiveExpressions(t *testing.T) {
	// Three nested maps over a 300-element list: 27 million steps.
	expensive := "match: |\n  [" + strings.Repeat("1,", 299) + "1].map(a, [" + strings.Repeat("1,", 299) + "1].map(b, [" + strings.Repeat("1,", 299) + "1].map(c, a + b + c))).size() > 0\n"
	ps := mustParse(t, prof("slow", 0, expensive)+prof("fallback", 0, "match: \"true\"\n"))
	start := time.Now()
	d, err := Select(readInventory(t, "dgx-a100"), ps, SelectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Select took %v", elapsed)
	}
	if d.Profile != "fallback" || d.Explanations[1].Result != ResultError || !strings.Contains(d.Explanations[1].Reason, "cost limit exceeded") {
		t.Errorf("decision = %+v, want fallback chosen and slow failed with cost limit exceeded", d)
	}
}

func TestInventoryMapHasEveryField(t *testing.T) {
	m := InventoryMap(&v1alpha1.Inventory{Disks: []v1alpha1.Disk{{Name: "sda", SizeBytes: 1 << 40}}})
	disk := m["disks"].([]any)[0].(map[string]any)
	want := map[string]any{"type": "", "uuid": "", "label": ""}
	if diff := cmp.Diff(want, disk["filesystem"]); diff != "" {
		t.Errorf("absent filesystem (-want +got):\n%s", diff)
	}
	if got := disk["sizeBytes"]; got != int64(1<<40) {
		t.Errorf("sizeBytes = %#v, want int64", got)
	}
	if got := m["gpus"]; !cmp.Equal(got, []any{}) {
		t.Errorf("gpus = %#v, want an empty list", got)
	}
	if got := m["nvidia"].(map[string]any)["driverVersion"]; got != "" {
		t.Errorf("nvidia.driverVersion = %#v, want \"\"", got)
	}
}

func TestMatchExpressionsOverTheInventory(t *testing.T) {
	dgx := readInventory(t, "dgx-a100")
	tests := []struct {
		expr string
		want bool
	}{
		{`has(inventory.nvidia) && inventory.nvidia.driverVersion == ""`, true}, // the fixture has no NVML: an empty object
		{`inventory.numa[0].memoryBytes > 0 && inventory.numa.size() == 8`, true},
		{`inventory.labels.exists(k, k.startsWith("nvidia.com/"))`, true},
		{`inventory.labels[?"no/such"].orValue("none") == "none"`, true},
		{`inventory.disks.exists(d, d.filesystem.type == "bluestore")`, true},
		{`inventory.disks.filter(d, d.partitions.exists(p, p.filesystem.type == "ext4")).size() == 0`, true},
		{`inventory.disks.map(d, d.sizeBytes).exists(s, s >= 3 * TiB)`, true},
		{`inventory.cpu.currentMHz > 1000`, true},
		{`inventory.cpu.model.lowerAscii().contains("epyc")`, true},
		{`inventory.gpus.filter(g, g.vendorID == "10de").size() == 8`, true},
		{`inventory.system.hypervisor != ""`, false},
		{`[1, 2, 3].exists(x, x > 2) && {"a": 1}.a == 1`, true},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			ps := mustParse(t, prof("p", 0, "match: '"+tt.expr+"'\n"))
			got, err := evalMatch(ps[0].program, InventoryMap(dgx))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("= %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOmegamlExample(t *testing.T) {
	example, err := LoadDir("examples/omegaml")
	if err != nil {
		t.Fatal(err)
	}
	set := Merge(mustDefaults(t), example)
	// machine is the QEMU lab VM with another serial, core count and memory.
	machine := func(serial string, cores int, mem uint64) *v1alpha1.Inventory {
		inv := readInventory(t, "qemu")
		inv.System.Serial, inv.CPU.Cores, inv.Memory.TotalBytes = serial, cores, mem
		return inv
	}
	const usable8GB = 7_900_000_000 // what an 8 GiB VM reports as MemTotal
	tests := []struct {
		name string
		inv  *v1alpha1.Inventory
		want string
	}{
		{"the machine named as the database node becomes dbmaster", machine("CHANGE-ME-DB-1", 2, usable8GB), "omegaml-dbmaster"},
		{"a database machine below 8 GB does not become dbmaster", machine("CHANGE-ME-DB-1", 2, 4<<30), "compute"},
		{"the ingress machine needs only 4 GB", machine("CHANGE-ME-INGRESS-1", 2, 4<<30-200<<20), "omegaml-ingress"},
		{"the system machine", machine("CHANGE-ME-SYSTEM-1", 4, 16<<30), "omegaml-system"},
		{"any other machine of 2 cores and 8 GB is a worker", machine("", 2, usable8GB), "omegaml-worker"},
		{"a single-core machine is not a worker", machine("", 1, usable8GB), "compute"},
		{"a GPU machine stays a gpu-worker", readInventory(t, "dgx-a100"), "gpu-worker"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Select(tt.inv, set, SelectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Profile != tt.want {
				t.Errorf("chose %s, want %s: %+v", d.Profile, tt.want, d.Explanations)
			}
			if p := d.Chosen(set); p.Labels["omegaml.io/role"] != "" {
				plan, err := Resolve(tt.inv, p, ResolveOptions{Index: 1})
				if err != nil {
					t.Fatal(err)
				}
				if role := strings.TrimPrefix(tt.want, "omegaml-"); plan.Labels["omegaml.io/role"] != role {
					t.Errorf("omegaml.io/role = %q, want %q", plan.Labels["omegaml.io/role"], role)
				}
			}
		})
	}
}
