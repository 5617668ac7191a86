package profiles

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

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
