//go:build cgo

package inventory

import (
	"fmt"
	"strings"

	"github.com/NVIDIA/go-nvml/pkg/nvml"

	api "corral.io/corral/api/v1alpha1"
)

// DefaultNVML loads libnvidia-ml.so.1 through go-nvml when GPUs is called.
func DefaultNVML() GPULibrary { return NVML(nvml.New()) }

// NVML reports GPUs through the given NVML implementation (the real library
// or a mock such as go-nvml's mock/dgxa100).
func NVML(lib nvml.Interface) GPULibrary { return nvmlLibrary{lib} }

type nvmlLibrary struct{ lib nvml.Interface }

// guard runs f, turning a panic into a note. go-nvml's mocks panic on any
// method they do not implement, and a real driver may be older than the
// binding; neither must take the agent down.
func guard(note func(string, ...any), what string, f func()) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			note("%s: not supported by this NVML (%v)", what, r)
			ok = false
		}
	}()
	f()
	return true
}

func (n nvmlLibrary) GPUs(note func(string, ...any)) (*api.NVIDIADriver, []api.GPU) {
	var ret nvml.Return
	if !guard(note, "init", func() { ret = n.lib.Init() }) {
		return nil, nil
	}
	if ret != nvml.SUCCESS {
		note("not available: %v", ret)
		return nil, nil
	}
	defer guard(note, "shutdown", func() { n.lib.Shutdown() })

	drv := &api.NVIDIADriver{}
	guard(note, "driver version", func() {
		v, r := n.lib.SystemGetDriverVersion()
		if r == nvml.SUCCESS {
			drv.DriverVersion = v
		} else {
			note("driver version: %v", r)
		}
	})
	guard(note, "NVML version", func() {
		if v, r := n.lib.SystemGetNVMLVersion(); r == nvml.SUCCESS {
			drv.NVMLVersion = v
		}
	})
	guard(note, "CUDA version", func() {
		if v, r := n.lib.SystemGetCudaDriverVersion(); r == nvml.SUCCESS && v > 0 {
			drv.CUDAVersion = fmt.Sprintf("%d.%d", v/1000, v%1000/10)
		}
	})

	count := 0
	guard(note, "device count", func() {
		c, r := n.lib.DeviceGetCount()
		if r != nvml.SUCCESS {
			note("device count: %v", r)
			return
		}
		count = c
	})
	var gpus []api.GPU
	for i := 0; i < count; i++ {
		var dev nvml.Device
		guard(note, "device handle", func() {
			d, r := n.lib.DeviceGetHandleByIndex(i)
			if r != nvml.SUCCESS {
				note("device %d: %v", i, r)
				return
			}
			dev = d
		})
		if dev == nil {
			continue
		}
		gpus = append(gpus, nvmlDevice(dev, i, note))
	}
	return drv, gpus
}

// nvmlDevice reads one device; every query is guarded on its own so one
// unsupported call costs one field.
func nvmlDevice(d nvml.Device, i int, note func(string, ...any)) api.GPU {
	g := api.GPU{Source: api.GPUSourceNVML, Index: i, Vendor: "NVIDIA", VendorID: "10de", NUMANode: -1}
	q := func(what string, f func() nvml.Return) {
		guard(note, fmt.Sprintf("device %d %s", i, what), func() {
			if r := f(); r != nvml.SUCCESS && r != nvml.ERROR_NOT_SUPPORTED {
				note("device %d %s: %v", i, what, r)
			}
		})
	}
	q("name", func() (r nvml.Return) { g.Name, r = d.GetName(); return })
	q("uuid", func() (r nvml.Return) { g.UUID, r = d.GetUUID(); return })
	q("serial", func() (r nvml.Return) { g.Serial, r = d.GetSerial(); return })
	q("memory", func() nvml.Return {
		m, r := d.GetMemoryInfo()
		g.MemoryBytes = m.Total
		return r
	})
	q("pci info", func() nvml.Return {
		p, r := d.GetPciInfo()
		if r == nvml.SUCCESS {
			g.VendorID = fmt.Sprintf("%04x", p.PciDeviceId&0xFFFF)
			g.DeviceID = fmt.Sprintf("%04x", p.PciDeviceId>>16)
			g.PCIAddress = normalizeBusID(busID(p.BusId[:]))
		}
		return r
	})
	q("compute capability", func() nvml.Return {
		major, minor, r := d.GetCudaComputeCapability()
		if r == nvml.SUCCESS {
			g.ComputeCapability = fmt.Sprintf("%d.%d", major, minor)
		}
		return r
	})
	q("architecture", func() nvml.Return {
		a, r := d.GetArchitecture()
		g.Architecture = archNames[a]
		return r
	})
	q("mig mode", func() nvml.Return {
		cur, _, r := d.GetMigMode()
		if r == nvml.SUCCESS {
			g.MIGMode = "disabled"
			if cur == nvml.DEVICE_MIG_ENABLE {
				g.MIGMode = "enabled"
			}
		}
		return r
	})
	return g
}

var archNames = map[nvml.DeviceArchitecture]string{
	nvml.DEVICE_ARCH_KEPLER: "kepler", nvml.DEVICE_ARCH_MAXWELL: "maxwell",
	nvml.DEVICE_ARCH_PASCAL: "pascal", nvml.DEVICE_ARCH_VOLTA: "volta",
	nvml.DEVICE_ARCH_TURING: "turing", nvml.DEVICE_ARCH_AMPERE: "ampere",
	nvml.DEVICE_ARCH_ADA: "ada-lovelace", nvml.DEVICE_ARCH_HOPPER: "hopper",
	nvml.DEVICE_ARCH_BLACKWELL: "blackwell",
}

func busID(b []int8) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteByte(byte(c))
	}
	return sb.String()
}
