package profiles

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
)

func TestResolve(t *testing.T) {
	p := mustParse(t, prof("gpu", 0, `hostnameTemplate: gpu-{{printf "%02d" .Index}}
role: gpu
labels:
  example.com/tier: gold
  corral.io/cpu-cores: "999"
taints: ["nvidia.com/gpu=present:NoSchedule"]
kernelArgs: [iommu=pt]
k3sArgs: ["--kubelet-arg=max-pods=250"]
imageVersion: "2026.11"
`))[0]
	inv := &v1alpha1.Inventory{
		Identity: v1alpha1.Identity{NodeID: "n0123456789abcdef01234567"},
		Labels:   map[string]string{"corral.io/cpu-cores": "8", "nvidia.com/gpu.count": "8"},
		Disks:    []v1alpha1.Disk{blank("nvme0n1", 100*gib)},
	}
	got, err := Resolve(inv, p, ResolveOptions{Index: 7})
	if err != nil {
		t.Fatal(err)
	}
	want := &Plan{
		Profile:  "gpu",
		Hostname: "gpu-07",
		Labels: map[string]string{
			"corral.io/cpu-cores":         "999",
			"nvidia.com/gpu.count":        "8",
			"example.com/tier":            "gold",
			"corral.io/profile":           "gpu",
			"node-role.kubernetes.io/gpu": "true",
		},
		Taints:       []Taint{{Key: "nvidia.com/gpu", Value: "present", Effect: "NoSchedule"}},
		KernelArgs:   []string{"iommu=pt"},
		K3sArgs:      []string{"--kubelet-arg=max-pods=250"},
		ImageVersion: "2026.11",
		Disks: []DiskDecision{{Name: "nvme0n1", Path: "/dev/nvme0n1", ByID: "/dev/disk/by-id/nvme-SAMSUNG_nvme0n1", SizeBytes: 100 * gib,
			Contents: ContentBlank, Use: UseNone, Action: ActionNone, Reason: "the profile has no disk selectors; left alone"}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plan (-want +got):\n%s", diff)
	}
	if inv.Labels["corral.io/cpu-cores"] != "8" {
		t.Error("Resolve changed the inventory's labels")
	}
}

func TestResolveHostnames(t *testing.T) {
	qemu := readInventory(t, "qemu")
	dgx := readInventory(t, "dgx-a100")
	tests := []struct {
		name     string
		template string
		inv      *v1alpha1.Inventory
		index    int
		want     string
		wantErr  string
	}{
		{name: "the default is the node id", inv: qemu, want: "n6227c08b186df43361f40f74"},
		{name: "the index is the registry's number", template: "gpu-{{.Index}}", inv: dgx, index: 12, want: "gpu-12"},
		{name: "the MAC is the boot NIC's, without separators", template: "vm-{{.MAC}}", inv: qemu, want: "vm-525400123456"},
		{name: "the serial is lower-cased", template: "{{.Profile}}-{{.Serial}}", inv: dgx, want: "p-synth0000000001"},
		{name: "a node without a serial cannot use a serial template", template: "box-{{.Serial}}", inv: qemu,
			wantErr: `resolve profile p: hostname: "box-{{.Serial}}" renders "box-", not a valid hostname`},
		{name: "a hostname longer than 63 characters is refused", template: "{{.Serial}}-{{.Serial}}-{{.Serial}}-{{.Serial}}-{{.Serial}}", inv: dgx,
			wantErr: "renders more than 63 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest := ""
			if tt.template != "" {
				rest = "hostnameTemplate: '" + tt.template + "'\n"
			}
			p := mustParse(t, prof("p", 0, rest))[0]
			plan, err := Resolve(tt.inv, p, ResolveOptions{Index: tt.index})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if plan.Hostname != tt.want {
				t.Errorf("hostname = %q, want %q", plan.Hostname, tt.want)
			}
		})
	}
}

func TestKubeletMaySet(t *testing.T) {
	tests := []struct {
		key  string
		want bool
	}{
		{"corral.io/profile", true},
		{"nvidia.com/gpu.product", true},
		{"feature.node.kubernetes.io/cpu-cpuid.AVX2", true},
		{"kubernetes.io/hostname", true},
		{"plain", true},
		{"node-role.kubernetes.io/gpu", false},
		{"node-restriction.kubernetes.io/x", false},
		{"example.k8s.io/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := KubeletMaySet(tt.key); got != tt.want {
				t.Errorf("KubeletMaySet(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    uint64
		wantErr bool
	}{
		{"1024", 1024, false},
		{"100Gi", 100 << 30, false},
		{"2T", 2e12, false},
		{"1.5Ti", 3 << 39, false},
		{"100 GB", 0, true},
		{"-1", 0, true},
		{"1e3", 0, true},
		{"NaN", 0, true},
		{"99999999999Pi", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestLabelSyntax(t *testing.T) {
	long := strings.Repeat("a", 63)
	tests := []struct {
		key, value string
		ok         bool
	}{
		{"app", "web", true},
		{"example.com/" + long, long, true},
		{"example.com/" + long + "a", "", false},
		{"app", long + "a", false},
		{"Example.com/app", "", false},
		{"/app", "", false},
		{"example.com/", "", false},
		{"a/b/c", "", false},
		{"app", "-x", false},
		{"app", "x_y.z-1", true},
		{strings.Repeat("a.", 127) + "a/app", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			err := checkLabelKey(tt.key)
			if err == nil {
				err = checkLabelValue(tt.value)
			}
			if (err == nil) != tt.ok {
				t.Errorf("%s=%s: err = %v, want ok %v", tt.key, tt.value, err, tt.ok)
			}
		})
	}
}

func TestHandMadeProfilesAreRefused(t *testing.T) {
	p := &Profile{APIVersion: APIVersion, Kind: Kind, Name: "x", Match: "true", Taints: []string{"a:NoSchedule"}}
	if _, err := Select(readInventory(t, "qemu"), []*Profile{p}, SelectOptions{}); err == nil || !strings.Contains(err.Error(), "was not loaded by Parse") {
		t.Errorf("Select: err = %v, want a refusal (its rule and taints were never compiled)", err)
	}
	if _, err := Resolve(readInventory(t, "qemu"), p, ResolveOptions{}); err == nil || !strings.Contains(err.Error(), "was not loaded by Parse") {
		t.Errorf("Resolve: err = %v, want a refusal", err)
	}
}

func TestNilInventoryIsAnEmptyMachine(t *testing.T) {
	ps := mustDefaults(t)
	d, err := Select(nil, ps, SelectOptions{})
	if err != nil || d.Profile != "compute" {
		t.Fatalf("Select(nil) = %q, %v; want compute", d.Profile, err)
	}
	if _, err := Resolve(nil, d.Chosen(ps), ResolveOptions{}); err == nil {
		t.Error("Resolve(nil) gave a plan; want an error (no node id for the hostname)")
	}
}
