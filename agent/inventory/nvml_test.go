//go:build cgo

package inventory

import (
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxa100"

	api "corral.io/corral/api/v1alpha1"
)

// TestNVMLDGXA100 reads go-nvml's own DGX A100 mock: eight A100-SXM4-40GB.
func TestNVMLDGXA100(t *testing.T) {
	server := dgxa100.New()
	var notes []string
	drv, gpus := NVML(server).GPUs(func(f string, a ...any) { notes = append(notes, sprintf(f, a...)) })

	if drv == nil || drv.DriverVersion != "550.54.15" || drv.CUDAVersion != "12.4" {
		t.Errorf("driver = %+v, want 550.54.15 with CUDA 12.4", drv)
	}
	if len(gpus) != 8 {
		t.Fatalf("got %d GPUs, want 8", len(gpus))
	}
	uuids := map[string]bool{}
	for i, g := range gpus {
		want := server.Devices[i].(*dgxa100.Device)
		if g.Index != i || g.Name != "Mock NVIDIA A100-SXM4-40GB" || g.UUID != want.UUID ||
			g.MemoryBytes != 40<<30 || g.ComputeCapability != "8.0" || g.Architecture != "ampere" ||
			g.VendorID != "10de" || g.DeviceID != "20b0" || g.MIGMode != "disabled" || g.Source != api.GPUSourceNVML {
			t.Errorf("GPU %d = %+v", i, g)
		}
		uuids[g.UUID] = true
	}
	if len(uuids) != 8 {
		t.Errorf("UUIDs are not distinct: %v", uuids)
	}
	// The mock implements no GetSerial: one note per device, no panic.
	if n := strings.Count(strings.Join(notes, "\n"), "serial: not supported"); n != 8 {
		t.Errorf("want 8 notes about the missing serial, got %d: %q", n, notes)
	}
}

// TestNVMLLabels: GFD labels for a DGX A100. The mock names its devices
// "Mock NVIDIA A100-SXM4-40GB"; a real R510+ driver says
// "NVIDIA A100-SXM4-40GB", so the test sets that name to check the label a
// real machine gets.
func TestNVMLLabels(t *testing.T) {
	server := dgxa100.New()
	for _, d := range server.Devices {
		d.(*dgxa100.Device).Name = "NVIDIA A100-SXM4-40GB"
	}
	inv := Collect(Options{Root: PrefixRoot(dgxRoot(t)), NVML: NVML(server), PCIIDs: "testdata/pci.ids"})

	for k, v := range map[string]string{
		"nvidia.com/gpu.product":                  "A100-SXM4-40GB",
		"nvidia.com/gpu.count":                    "8",
		"nvidia.com/gpu.memory":                   "40960",
		"nvidia.com/gpu.family":                   "ampere",
		"nvidia.com/gpu.compute.major":            "8",
		"nvidia.com/gpu.compute.minor":            "0",
		"nvidia.com/gpu.present":                  "true",
		"nvidia.com/mig.capable":                  "true",
		"nvidia.com/cuda.driver-version.full":     "550.54.15",
		"nvidia.com/cuda.driver-version.major":    "550",
		"nvidia.com/cuda.driver-version.minor":    "54",
		"nvidia.com/cuda.driver-version.revision": "15",
		"nvidia.com/cuda.runtime-version.full":    "12.4",
	} {
		if got := inv.Labels[k]; got != v {
			t.Errorf("label %s = %q, want %q", k, got, v)
		}
	}
	// The mock's PCI info has no bus id, so its GPUs cannot be matched to
	// the fixture's PCI scan: those stay listed from PCI, after NVML's eight.
	var nv int
	for _, g := range inv.GPUs {
		if g.Source == api.GPUSourceNVML {
			nv++
		}
	}
	if nv != 8 {
		t.Errorf("%d GPUs from NVML, want 8", nv)
	}
}

// TestNVMLBroken: an NVML that fails, or implements nothing at all, costs
// notes and never panics.
func TestNVMLBroken(t *testing.T) {
	tests := []struct {
		name string
		lib  nvml.Interface
		want string
	}{
		{"library missing", &mock.Interface{InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND }}, "not available"},
		{"nothing implemented", &mock.Interface{}, "init: not supported"},
		{"devices without methods", &mock.Interface{
			InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
			DeviceGetCountFunc:         func() (int, nvml.Return) { return 2, nvml.SUCCESS },
			DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return &mock.Device{}, nvml.SUCCESS },
		}, "device 1 name: not supported"},
		{"handle error", &mock.Interface{
			InitFunc:                   func() nvml.Return { return nvml.SUCCESS },
			DeviceGetCountFunc:         func() (int, nvml.Return) { return 1, nvml.SUCCESS },
			DeviceGetHandleByIndexFunc: func(int) (nvml.Device, nvml.Return) { return nil, nvml.ERROR_GPU_IS_LOST },
		}, "device 0:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var notes []string
			NVML(tt.lib).GPUs(func(f string, a ...any) { notes = append(notes, sprintf(f, a...)) })
			if !strings.Contains(strings.Join(notes, "\n"), tt.want) {
				t.Errorf("notes %q do not mention %q", notes, tt.want)
			}
		})
	}
}
