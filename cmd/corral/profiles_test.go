package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"corral.io/corral/internal/golden"
	"github.com/google/go-cmp/cmp"
)

// profilesTestdata holds the profile fixtures and the CLI golden files
// (kept in the profiles package, next to the code whose output they show).
const profilesTestdata = "../../profiles/testdata"

// profilesInventory is the path of a golden inventory of agent/inventory.
func profilesInventory(name string) string {
	return filepath.Join("../../agent/inventory/testdata/golden", name+".json")
}

// runProfiles runs `corral profiles <args>` and returns its output and error.
func runProfiles(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"profiles"}, args...))
	err := root.Execute()
	return out.String(), err
}

// profilesGolden compares got with profiles/testdata/cli/<name>, or
// rewrites it with -update.
func profilesGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join(profilesTestdata, "cli", name)
	if *golden.Update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./cmd/corral -run TestProfiles -update writes it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s differs (-want +got; -update rewrites it):\n%s", path, diff)
	}
}

func TestProfilesGolden(t *testing.T) {
	tests := []struct {
		name    string
		golden  string
		args    []string
		wantErr string
	}{
		{
			name:   "list shows the shipped profiles in precedence order",
			golden: "list.txt",
			args:   []string{"list"},
		},
		{
			name:   "list with a directory adds its profiles",
			golden: "list-omegaml.yaml",
			args:   []string{"list", "--dir", "../../profiles/examples/omegaml", "-o", "yaml"},
		},
		{
			name:   "validate says ok for a good file",
			golden: "validate-good.txt",
			args:   []string{"validate", filepath.Join(profilesTestdata, "good", "good.yaml")},
		},
		{
			name:    "validate reports every problem with file, line and field, and fails",
			golden:  "validate-bad.txt",
			args:    []string{"validate", filepath.Join(profilesTestdata, "good", "good.yaml"), filepath.Join(profilesTestdata, "bad.yaml")},
			wantErr: "1 of 2 profile files have problems",
		},
		{
			name:    "validate -o json lists the problems as data",
			golden:  "validate-bad.json",
			args:    []string{"validate", "-o", "json", filepath.Join(profilesTestdata, "bad.yaml")},
			wantErr: "1 of 1 profile files have problems",
		},
		{
			name:    "validate reports a missing file",
			golden:  "validate-missing.txt",
			args:    []string{"validate", filepath.Join(profilesTestdata, "no-such.yaml")},
			wantErr: "1 of 1 profile files have problems",
		},
		{
			name:   "explain picks gpu-worker for the DGX and shows its disk plan",
			golden: "explain-dgx.txt",
			args:   []string{"explain", "--inventory", profilesInventory("dgx-a100")},
		},
		{
			name:   "explain picks compute for the QEMU VM",
			golden: "explain-qemu.txt",
			args:   []string{"explain", "--inventory", profilesInventory("qemu")},
		},
		{
			name:   "explain with a directory: a selector beats the rules",
			golden: "explain-qemu-dir.txt",
			args:   []string{"explain", "--inventory", profilesInventory("qemu"), "--dir", filepath.Join(profilesTestdata, "good")},
		},
		{
			name:   "explain an assignment as YAML",
			golden: "explain-qemu-assign.yaml",
			args:   []string{"explain", "--inventory", profilesInventory("qemu"), "--assign", "storage", "-o", "yaml"},
		},
		{
			name:   "explain as JSON",
			golden: "explain-build-vm.json",
			args:   []string{"explain", "--inventory", profilesInventory("build-vm"), "-o", "json"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runProfiles(t, tt.args...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("error: %v\n%s", err, out)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Fatalf("error = %v, want %q", err, tt.wantErr)
			}
			profilesGolden(t, tt.golden, out)
		})
	}
}

func TestProfilesErrors(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"an unknown assigned profile is named", []string{"explain", "--inventory", profilesInventory("qemu"), "--assign", "gpu"},
			`unknown profile "gpu" assigned to the node; known profiles: compute, gpu-worker, storage`},
		{"explain needs a NODE or an inventory", []string{"explain"}, "give a NODE to explain, or --inventory FILE.json"},
		{"a missing inventory file is named", []string{"explain", "--inventory", "no-such.json"},
			"read inventory: open no-such.json: no such file or directory"},
		{"a JSON file that is not an inventory is refused", []string{"explain", "--inventory", "../../profiles/testdata/cli/explain-build-vm.json"},
			`inventory ../../profiles/testdata/cli/explain-build-vm.json: kind is "", want "Inventory" (the JSON of corral-agent inventory -o json)`},
		{"an unknown output format is refused", []string{"list", "-o", "xml"}, `output format "xml": use -o table, -o json or -o yaml`},
		{"a broken directory fails list", []string{"list", "--dir", profilesTestdata},
			"../../profiles/testdata/bad.yaml:6: match: CEL (expression line 1, column 1): must be a bool expression"},
		{"validate needs a file", []string{"validate"}, "requires at least 1 arg(s), only received 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runProfiles(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestProfilesExplainHelpMentionsRegistryNodes(t *testing.T) {
	out, err := runProfiles(t, "explain", "--help")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"corral profiles explain worker-07", "the controller explains the node it", "--inventory", "Examples:"} {
		if !strings.Contains(out, want) {
			t.Errorf("help does not mention %q:\n%s", want, out)
		}
	}
}
