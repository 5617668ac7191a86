package profiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// header is the start of a valid profile document.
const header = "apiVersion: corral.io/v1alpha1\nkind: Profile\nname: p\n"

func TestParseRejects(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want []string // every error, as Error() prints it
	}{
		{
			name: "an unknown top-level field is named with its line and the known fields",
			yaml: header + "prority: 10\n",
			want: []string{`test.yaml:4: prority: unknown field "prority"; known fields here: apiVersion, kind, name, description, priority, match, selectors, hostnameTemplate, role, labels, taints, kernelArgs, k3sArgs, imageVersion, disks`},
		},
		{
			name: "an unknown field in a disk selector is named with its path",
			yaml: header + "disks:\n  - use: ceph\n    minsize: 1Ti\n",
			want: []string{`test.yaml:6: disks[0].minsize: unknown field "minsize"; known fields here: name, use, minSize, maxSize, rotational, transports, byID, model, limit, allowWipeForeignData`},
		},
		{
			name: "an unknown field does not hide the document's other problems, reported in line order",
			yaml: header + "labels:\n  bad key: x\nrol: gpu\n",
			want: []string{
				`test.yaml:5: labels["bad key"]: key "bad key": name part must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit`,
				`test.yaml:6: rol: unknown field "rol"; known fields here: apiVersion, kind, name, description, priority, match, selectors, hostnameTemplate, role, labels, taints, kernelArgs, k3sArgs, imageVersion, disks`,
			},
		},
		{
			name: "a value of the wrong type names the field",
			yaml: header + "priority: high\n",
			want: []string{"test.yaml:4: priority: cannot unmarshal string `high` into an integer"},
		},
		{
			name: "a list where a mapping belongs is named in the schema's words",
			yaml: header + "labels: [a, b]\nselectors: [x]\ndisks:\n  - use: ceph\n    rotational: maybe\n",
			want: []string{
				"test.yaml:4: labels: cannot unmarshal a list into a mapping of strings",
				"test.yaml:5: selectors: cannot unmarshal a list into selectors (a mapping)",
				"test.yaml:8: disks[0].rotational: cannot unmarshal string `maybe` into true or false",
			},
		},
		{
			name: "a CEL syntax error is reported at the expression's line",
			yaml: header + "match: inventory.cpu.cores >=\n",
			want: []string{"test.yaml:4: match: CEL (expression line 1, column 23): Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}"},
		},
		{
			name: "a CEL error on the second line of a block is reported on that file line",
			yaml: header + "match: |\n  inventory.cpu.cores >= 2 &&\n  nosuch > 1\n",
			want: []string{"test.yaml:6: match: CEL (expression line 2, column 1): undeclared reference to 'nosuch' (in container '')"},
		},
		{
			name: "a non-boolean CEL expression is rejected at load",
			yaml: header + "match: inventory.cpu.cores + 1\n",
			want: []string{"test.yaml:4: match: CEL (expression line 1, column 1): must be a bool expression, but is of type int; compare the value, e.g. `... == \"x\"` or `... > 0`"},
		},
		{
			name: "a misspelt inventory field is rejected at load",
			yaml: header + "match: inventory.memory.totalByte > 0\n",
			want: []string{"test.yaml:4: match: CEL (expression line 1, column 17): Memory has no field \"totalByte\"; its fields are totalBytes, installedBytes, modules (docs/inventory.md)"},
		},
		{
			name: "a misspelt field of a comprehension variable is rejected at load",
			yaml: header + "match: inventory.gpus.exists(g, g.vendr == \"nvidia\")\n",
			want: []string{"test.yaml:4: match: CEL (expression line 1, column 27): GPU has no field \"vendr\"; its fields are source, index, pciAddress, vendorID, deviceID, class, vendor, name, uuid, serial, memoryBytes, computeCapability, architecture, migMode, numaNode, driver (docs/inventory.md)"},
		},
		{
			name: "a bad label key is rejected",
			yaml: header + "labels:\n  bad key: x\n",
			want: []string{`test.yaml:5: labels["bad key"]: key "bad key": name part must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit`},
		},
		{
			name: "a bad label value is rejected",
			yaml: header + "labels:\n  example.com/tier: -gold-\n",
			want: []string{`test.yaml:5: labels["example.com/tier"]: value "-gold-" must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit`},
		},
		{
			name: "a role label set through labels is rejected with the fix",
			yaml: header + "labels:\n  node-role.kubernetes.io/gpu: \"\"\n",
			want: []string{`test.yaml:5: labels["node-role.kubernetes.io/gpu"]: node-role.kubernetes.io/* labels are set only through role (e.g. role: gpu)`},
		},
		{
			name: "the profile label is Corral's",
			yaml: header + "labels:\n  corral.io/profile: x\n",
			want: []string{`test.yaml:5: labels["corral.io/profile"]: corral.io/profile is set by Corral to the profile's name`},
		},
		{
			name: "a taint with an unknown effect is rejected",
			yaml: header + "taints:\n  - gpu=yes:NoScheduling\n",
			want: []string{`test.yaml:5: taints[0]: taint "gpu=yes:NoScheduling": effect "NoScheduling" is not one of NoSchedule, PreferNoSchedule, NoExecute`},
		},
		{
			name: "a taint without an effect is rejected",
			yaml: header + "taints:\n  - gpu=yes\n",
			want: []string{`test.yaml:5: taints[0]: taint "gpu=yes" has no effect; write key=value:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute`},
		},
		{
			name: "the same taint twice is rejected",
			yaml: header + "taints:\n  - a=1:NoSchedule\n  - a=2:NoSchedule\n",
			want: []string{`test.yaml:6: taints[1]: taint a:NoSchedule is given twice`},
		},
		{
			name: "a role that is not a DNS label is rejected",
			yaml: header + "role: GPU_Worker\n",
			want: []string{`test.yaml:4: role: "GPU_Worker" is not a DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit`},
		},
		{
			name: "a name that is not a DNS label is rejected",
			yaml: "apiVersion: corral.io/v1alpha1\nkind: Profile\nname: Big.Box\n",
			want: []string{`test.yaml:3: name: "Big.Box" is not a DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit`},
		},
		{
			name: "a wrong apiVersion and a missing kind and name are all reported",
			yaml: "apiVersion: corral.io/v1\n",
			want: []string{
				`test.yaml:1: apiVersion: is "corral.io/v1"; want corral.io/v1alpha1`,
				`test.yaml:1: kind is missing; want kind: Profile`,
				`test.yaml:1: name is missing; every profile needs a DNS-label name such as gpu-worker`,
			},
		},
		{
			name: "two profiles with the same name in one file are rejected",
			yaml: header + "---\n" + header,
			want: []string{`test.yaml:5: name: profile "p" is already defined at test.yaml:1; profile names must be unique`},
		},
		{
			name: "a hostname template with an unknown field lists the fields",
			yaml: header + "hostnameTemplate: gpu-{{.Rack}}\n",
			want: []string{`test.yaml:4: hostnameTemplate: "{{.Rack}}": unknown field .Rack; the fields are .Profile, .Index, .NodeID, .MAC, .Serial`},
		},
		{
			name: "a hostname template may not loop",
			yaml: header + "hostnameTemplate: \"{{range 1000000000}}x{{end}}\"\n",
			want: []string{`test.yaml:4: hostnameTemplate: "{{range 1000000000}}x{{end}}": only text, {{.Field}} and {{printf ...}} are allowed (fields: .Profile, .Index, .NodeID, .MAC, .Serial)`},
		},
		{
			name: "a hostname template that renders an invalid hostname is rejected",
			yaml: header + "hostnameTemplate: gpu_{{.Index}}\n",
			want: []string{`test.yaml:4: hostnameTemplate: "gpu_{{.Index}}" renders "gpu_1", not a valid hostname: "gpu_1" is not a DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit`},
		},
		{
			name: "a reserved kernel argument is rejected",
			yaml: header + "kernelArgs:\n  - console=ttyS0\n  - BOOTIF=01-aa\n",
			want: []string{`test.yaml:6: kernelArgs[1]: "BOOTIF=01-aa": BOOTIF=… is set by Corral itself`},
		},
		{
			name: "a kernel argument with a space is rejected",
			yaml: header + "kernelArgs:\n  - console=ttyS0 quiet\n",
			want: []string{`test.yaml:5: kernelArgs[0]: "console=ttyS0 quiet" holds a space; give one argument per list item`},
		},
		{
			name: "a k3s flag Corral manages is rejected with the field to use",
			yaml: header + "k3sArgs:\n  - --node-label=a=b\n",
			want: []string{`test.yaml:5: k3sArgs[0]: "--node-label=a=b": --node-label is set by labels and role`},
		},
		{
			name: "disk selector errors are each named",
			yaml: header + "disks:\n  - use: tape\n    minSize: 2Ti\n    maxSize: 1Ti\n    transports: [nvme, ide]\n    byID: \"nvme-[\"\n    limit: -1\n",
			want: []string{
				`test.yaml:5: disks[0].use: is "tape"; want scratch or ceph`,
				`test.yaml:7: disks[0].maxSize: 1Ti is less than minSize 2Ti`,
				`test.yaml:8: disks[0].transports[1]: "ide" is not one of nvme, sata, sas, scsi, virtio, usb, mmc, xen`,
				`test.yaml:9: disks[0].byID: pattern "nvme-[": syntax error in pattern`,
				`test.yaml:10: disks[0].limit: is -1; want 0 (no limit) or more`,
			},
		},
		{
			name: "a disk selector without use and with a bad size is rejected",
			yaml: header + "disks:\n  - minSize: 100 GB\n",
			want: []string{
				`test.yaml:5: disks[0]: use is missing; want use: scratch or use: ceph`,
				`test.yaml:5: disks[0].minSize: size "100 GB": want bytes or a number with K, M, G, T, P, Ki, Mi, Gi, Ti or Pi, e.g. 100Gi`,
			},
		},
		{
			name: "a bad selector pattern is rejected",
			yaml: header + "selectors:\n  macs: [\"52:54:00:[\"]\n",
			want: []string{`test.yaml:5: selectors.macs[0]: pattern "52:54:00:[": syntax error in pattern`},
		},
		{
			name: "a YAML syntax error names its line",
			yaml: header + "labels: [a\n",
			want: []string{`test.yaml:4: YAML syntax: did not find expected ',' or ']'`},
		},
		{
			name: "a YAML scanner error names its line",
			yaml: header + "labels: a: b\n",
			want: []string{`test.yaml:4: YAML syntax: mapping values are not allowed in this context`},
		},
		{
			name: "a mapping key given twice is rejected",
			yaml: header + "priority: 1\npriority: 2\n",
			want: []string{`test.yaml:5: priority: mapping key "priority" already defined at line 4`},
		},
		{
			name: "a document that is not a mapping is rejected",
			yaml: "- name: p\n",
			want: []string{"test.yaml:1: a profile must be a mapping (apiVersion, kind, name, …)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := Parse("test.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse accepted it: %+v", ps)
			}
			var got []string
			for _, e := range Errors(err) {
				got = append(got, e.Error())
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	full := `# every field
apiVersion: corral.io/v1alpha1
kind: Profile
name: big-gpu
description: Large GPU machines
priority: 150
match: |
  inventory.gpus.filter(g, g.vendorID == "10de").size() >= 4 &&
  inventory.memory.totalBytes >= 512 * GiB
selectors:
  macs: ["52-54-00-AA-*"]
  serials: ["SYN*"]
  uuids: ["8c3b1a2e-*"]
  nodeIDs: ["n0123*"]
  hostnames: ["gpu-?"]
hostnameTemplate: gpu-{{printf "%03d" .Index}}
role: gpu
labels:
  example.com/tier: gold
  plain: ""
taints:
  - nvidia.com/gpu=present:NoSchedule
  - dedicated:NoExecute
kernelArgs: [iommu=pt, "nvidia-drm.modeset=1"]
k3sArgs: ["--kubelet-arg=max-pods=250"]
imageVersion: 2026.11.1
disks:
  - name: fast
    use: scratch
    minSize: 1.5Ti
    maxSize: 2T
    rotational: false
    transports: [nvme]
    byID: nvme-SAMSUNG_*
    model: "SAMSUNG *"
    limit: 1
  - use: ceph
    allowWipeForeignData: true
---
---
`
	ps, err := Parse("full.yaml", []byte(full))
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 1 {
		t.Fatalf("got %d profiles, want 1 (empty documents are skipped)", len(ps))
	}
	p := ps[0]
	if diff := cmp.Diff(Source{File: "full.yaml", Line: 2}, p.Source()); diff != "" {
		t.Errorf("source (-want +got):\n%s", diff)
	}
	wantTaints := []Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}, {Key: "dedicated", Effect: "NoExecute"}}
	if diff := cmp.Diff(wantTaints, p.taints); diff != "" {
		t.Errorf("taints (-want +got):\n%s", diff)
	}
	if got, want := p.disks[0].min, uint64(3<<39); got != want {
		t.Errorf("minSize 1.5Ti = %d, want %d", got, want)
	}
	if got, want := p.disks[1].name, "disks[1]"; got != want {
		t.Errorf("unnamed selector is called %q, want %q", got, want)
	}
}

func TestShippedProfilesLoad(t *testing.T) {
	ps := mustDefaults(t)
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		if p.Description == "" {
			t.Errorf("%s has no description", p.Name)
		}
	}
	if diff := cmp.Diff([]string{"compute", "gpu-worker", "storage"}, names); diff != "" {
		t.Errorf("shipped profiles (-want +got):\n%s", diff)
	}
	ex, err := LoadDir("examples/omegaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := CheckUnique(append(ps, ex...)); err != nil {
		t.Errorf("the omega|ml example clashes with the shipped profiles: %v", err)
	}
}

func TestLoadDirRejectsDuplicateNamesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"a.yaml", "b.yml"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(header), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("not a profile"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := LoadDir(dir)
	var got []string
	for _, e := range Errors(err) {
		got = append(got, strings.TrimPrefix(e.Error(), dir+"/"))
	}
	want := []string{`b.yml:1: name: profile "p" is already defined at ` + filepath.Join(dir, "a.yaml") + `:1; profile names must be unique`}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
}

func TestMergeLetsADirectoryReplaceAShippedProfile(t *testing.T) {
	mine := mustParse(t, "apiVersion: corral.io/v1alpha1\nkind: Profile\nname: compute\npriority: 1\nmatch: \"false\"\n")
	merged := Merge(mustDefaults(t), mine)
	var got []string
	for _, p := range merged {
		got = append(got, p.Name+"@"+p.Source().File)
	}
	want := []string{"gpu-worker@defaults/gpu-worker.yaml", "storage@defaults/storage.yaml", "compute@test.yaml"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("merged (-want +got):\n%s", diff)
	}
}

func TestParseRejectsOversizedInput(t *testing.T) {
	_, err := Parse("big.yaml", make([]byte, MaxFileSize+1))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v, want a size error", err)
	}
}
