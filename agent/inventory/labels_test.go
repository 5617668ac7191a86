package inventory

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	api "corral.io/corral/api/v1alpha1"
)

func TestLabels(t *testing.T) {
	tests := []struct {
		name string
		inv  api.Inventory
		want map[string]string // every label the inventory must produce…
		not  []string          // …and labels it must not
	}{
		{
			name: "Intel CPU with SMT and AVX-512, bare metal, UEFI",
			inv: api.Inventory{
				CPU:    api.CPU{Vendor: "GenuineIntel", Family: 6, ModelID: 143, Sockets: 2, Cores: 112, Threads: 224, Flags: []string{"amx_tile", "avx512f", "sse4_2"}},
				System: api.System{Firmware: "uefi", KernelVersion: "6.1.0-28-amd64", OSID: "debian", OSVersionID: "12", Vendor: "Dell Inc.", Product: "PowerEdge R760"},
				Memory: api.Memory{TotalBytes: 512 << 30},
			},
			want: map[string]string{
				"feature.node.kubernetes.io/cpu-model.vendor_id":          "Intel",
				"feature.node.kubernetes.io/cpu-model.family":             "6",
				"feature.node.kubernetes.io/cpu-model.id":                 "143",
				"feature.node.kubernetes.io/cpu-cpuid.AVX512F":            "true",
				"feature.node.kubernetes.io/cpu-cpuid.AMXTILE":            "true",
				"feature.node.kubernetes.io/cpu-hardware_multithreading":  "true",
				"feature.node.kubernetes.io/kernel-version.full":          "6.1.0-28-amd64",
				"feature.node.kubernetes.io/kernel-version.major":         "6",
				"feature.node.kubernetes.io/kernel-version.minor":         "1",
				"feature.node.kubernetes.io/kernel-version.revision":      "0",
				"feature.node.kubernetes.io/system-os_release.ID":         "debian",
				"feature.node.kubernetes.io/system-os_release.VERSION_ID": "12",
				"corral.io/cpu-sockets":                                   "2",
				"corral.io/cpu-cores":                                     "112",
				"corral.io/cpu-threads":                                   "224",
				"corral.io/memory-gib":                                    "512",
				"corral.io/firmware":                                      "uefi",
				"corral.io/system-vendor":                                 "Dell-Inc",
				"corral.io/system-product":                                "PowerEdge-R760",
				"corral.io/disk-ssd-count":                                "0",
				"corral.io/disk-hdd-count":                                "0",
				"corral.io/nic-count":                                     "0",
			},
			not: []string{"feature.node.kubernetes.io/cpu-cpuid.SSE4", "feature.node.kubernetes.io/memory-numa", "corral.io/virtual", "nvidia.com/gpu.present"},
		},
		{
			name: "virtual machine without SMT",
			inv: api.Inventory{
				CPU:    api.CPU{Vendor: "AuthenticAMD", Family: 25, ModelID: 17, Cores: 2, Threads: 2, Flags: []string{"hypervisor"}},
				System: api.System{Hypervisor: "kvm", KernelVersion: "6.18.44-fc+v669"},
			},
			want: map[string]string{
				"feature.node.kubernetes.io/cpu-model.vendor_id":         "AMD",
				"feature.node.kubernetes.io/cpu-cpuid.HYPERVISOR":        "true",
				"feature.node.kubernetes.io/cpu-hardware_multithreading": "false",
				"feature.node.kubernetes.io/kernel-version.full":         "6.18.44-fc-v669",
				"corral.io/virtual":    "true",
				"corral.io/hypervisor": "kvm",
			},
		},
		{
			name: "disks: SSDs and HDDs counted, boot and removable disks not",
			inv: api.Inventory{Disks: []api.Disk{
				{Name: "nvme0n1"}, {Name: "nvme1n1", Boot: true}, {Name: "sda", Rotational: true},
				{Name: "sdb", Rotational: true}, {Name: "sdc", Removable: true},
			}},
			want: map[string]string{
				"feature.node.kubernetes.io/storage-nonrotationaldisk": "true",
				"corral.io/disk-ssd-count":                             "1",
				"corral.io/disk-hdd-count":                             "2",
			},
		},
		{
			name: "NUMA, and PCI accelerators named NFD's way",
			inv: api.Inventory{
				NUMA: []api.NUMANode{{ID: 0}, {ID: 1}},
				GPUs: []api.GPU{
					{Source: api.GPUSourcePCI, Class: "0302", VendorID: "10de"},
					{Source: api.GPUSourcePCI, Class: "0380", VendorID: "1002"},
				},
			},
			want: map[string]string{
				"feature.node.kubernetes.io/memory-numa":           "true",
				"feature.node.kubernetes.io/pci-0302_10de.present": "true",
				"feature.node.kubernetes.io/pci-0380_1002.present": "true",
				"nvidia.com/gpu.present":                           "true",
			},
			not: []string{"nvidia.com/gpu.count", "nvidia.com/gpu.product"},
		},
		{
			name: "NVML GPUs: GFD labels from the first GPU",
			inv: api.Inventory{
				NVIDIA: &api.NVIDIADriver{DriverVersion: "535.104.05", CUDAVersion: "12.2"},
				GPUs: []api.GPU{
					{Source: api.GPUSourceNVML, VendorID: "10de", Name: "NVIDIA H100 80GB HBM3", MemoryBytes: 81559 << 20, ComputeCapability: "9.0", MIGMode: "enabled"},
					{Source: api.GPUSourceNVML, VendorID: "10de", Name: "NVIDIA H100 80GB HBM3", MemoryBytes: 81559 << 20, ComputeCapability: "9.0"},
				},
			},
			want: map[string]string{
				"nvidia.com/gpu.product":                  "H100-80GB-HBM3",
				"nvidia.com/gpu.count":                    "2",
				"nvidia.com/gpu.memory":                   "81559",
				"nvidia.com/gpu.family":                   "hopper",
				"nvidia.com/gpu.compute.major":            "9",
				"nvidia.com/gpu.compute.minor":            "0",
				"nvidia.com/mig.capable":                  "true",
				"nvidia.com/cuda.driver-version.full":     "535.104.05",
				"nvidia.com/cuda.driver-version.revision": "05",
				"nvidia.com/cuda.runtime-version.major":   "12",
				"nvidia.com/cuda.runtime-version.minor":   "2",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Labels(&tt.inv)
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %q, want %q", k, got[k], v)
				}
			}
			for _, k := range tt.not {
				if v, ok := got[k]; ok {
					t.Errorf("%s = %q, want no such label", k, v)
				}
			}
			if again := Labels(&tt.inv); !cmp.Equal(got, again) {
				t.Errorf("Labels is not deterministic: %s", cmp.Diff(got, again))
			}
			for k, v := range got {
				if LabelValue(v) != v {
					t.Errorf("%s: value %q is not a valid label value", k, v)
				}
			}
		})
	}
}

func TestLabelValue(t *testing.T) {
	tests := []struct{ in, want string }{
		{"A100-SXM4-40GB", "A100-SXM4-40GB"},
		{"Dell Inc.", "Dell-Inc"},
		{"  (weird) ", "weird"},
		{"6.1.0+deb12", "6.1.0-deb12"},
		{"Standard PC (Q35 + ICH9, 2009)", "Standard-PC-Q35-ICH9-2009"},
		{"---", ""},
		{"", ""},
		{"a234567890123456789012345678901234567890123456789012345678901234567890", "a23456789012345678901234567890123456789012345678901234567890123"},
	}
	for _, tt := range tests {
		if got := LabelValue(tt.in); got != tt.want {
			t.Errorf("LabelValue(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestGPUProduct(t *testing.T) {
	for in, want := range map[string]string{
		"NVIDIA A100-SXM4-40GB":          "A100-SXM4-40GB",
		"A100-SXM4-40GB":                 "A100-SXM4-40GB",
		"Tesla V100-SXM2-16GB":           "Tesla-V100-SXM2-16GB",
		"NVIDIA GeForce RTX 4090 (Ti)?!": "GeForce-RTX-4090-Ti",
	} {
		if got := GPUProduct(in); got != want {
			t.Errorf("GPUProduct(%q) = %q, want %q", in, got, want)
		}
	}
}
