package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	api "corral.io/corral/api/v1alpha1"
)

// GPULibrary reports GPUs through a vendor library (NVML). GPUs returns a
// nil driver when the library is not there; it reports every problem
// through note and must not panic.
type GPULibrary interface {
	GPUs(note func(format string, args ...any)) (*api.NVIDIADriver, []api.GPU)
}

// pciDevice is one PCI function as sysfs shows it.
type pciDevice struct {
	Address  string // "0000:17:00.0"
	Class    string // six hex digits, "030200"
	VendorID string // "10de"
	DeviceID string // "20b0"
	NUMANode int
	Driver   string
}

// isAccelerator reports whether a PCI class is one NFD's default
// deviceClassWhitelist covers: display controllers (03), co-processors
// (0b40) and processing accelerators (12).
func isAccelerator(class string) bool {
	return strings.HasPrefix(class, "03") || strings.HasPrefix(class, "0b40") || strings.HasPrefix(class, "12")
}

// readPCI lists the PCI functions under /sys/bus/pci/devices whose class
// keep accepts, sorted by address.
func readPCI(r Root, w *warnings, keep func(class string) bool) []pciDevice {
	dir := filepath.Join(r.Sys, "bus/pci/devices")
	entries, err := os.ReadDir(dir)
	if err != nil {
		if !os.IsNotExist(err) {
			w.add("pci: %v", err)
		}
		return nil
	}
	var out []pciDevice
	for _, e := range entries {
		d := filepath.Join(dir, e.Name())
		hex := func(name string) string {
			return strings.TrimPrefix(strings.ToLower(optString(w, filepath.Join(d, name))), "0x")
		}
		class := hex("class")
		if !keep(class) {
			continue
		}
		p := pciDevice{
			Address:  strings.ToLower(e.Name()),
			Class:    class,
			VendorID: hex("vendor"),
			DeviceID: hex("device"),
			NUMANode: -1,
			Driver:   linkBase(filepath.Join(d, "driver")),
		}
		if v, err := readInt(filepath.Join(d, "numa_node")); err == nil {
			p.NUMANode = int(v)
		}
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Address < out[j].Address })
	return out
}

// readGPUs merges what the GPU library reports with a PCI scan. NVML's GPUs
// come first, in NVML index order, completed with NUMA node and driver from
// sysfs; every accelerator-class PCI function NVML did not report follows
// (named later, by namePCIDevices).
func readGPUs(r Root, w *warnings, lib GPULibrary) (*api.NVIDIADriver, []api.GPU) {
	pci := readPCI(r, w, isAccelerator)
	nvidiaOnPCI := false
	for _, p := range pci {
		if p.VendorID == "10de" {
			nvidiaOnPCI = true
		}
	}

	var driver *api.NVIDIADriver
	var gpus []api.GPU
	if lib != nil {
		var notes []string
		driver, gpus, notes = gpusWithin(lib, nvmlTimeout)
		// Without an NVIDIA device, a missing NVML is the normal case, not news.
		if driver != nil || nvidiaOnPCI {
			for _, n := range notes {
				w.add("gpu: nvml: %s", n)
			}
		}
	}

	byAddr := map[string]pciDevice{}
	for _, p := range pci {
		byAddr[p.Address] = p
	}
	seen := map[string]bool{}
	for i := range gpus {
		g := &gpus[i]
		g.NUMANode = -1
		if p, ok := byAddr[g.PCIAddress]; ok {
			seen[p.Address] = true
			g.NUMANode, g.Driver, g.Class = p.NUMANode, p.Driver, p.Class[:min(4, len(p.Class))]
		}
	}

	idx := 0
	for _, p := range pci {
		if seen[p.Address] {
			continue
		}
		gpus = append(gpus, api.GPU{
			Source:     api.GPUSourcePCI,
			Index:      idx,
			PCIAddress: p.Address,
			VendorID:   p.VendorID,
			DeviceID:   p.DeviceID,
			Class:      p.Class[:min(4, len(p.Class))],
			NUMANode:   p.NUMANode,
			Driver:     p.Driver,
		})
		idx++
	}
	return driver, gpus
}

// normalizeBusID turns NVML's "00000000:07:00.0" into sysfs's "0000:07:00.0".
func normalizeBusID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	dom, rest, ok := strings.Cut(id, ":")
	if !ok || strings.Count(rest, ":") != 1 {
		return id
	}
	if len(dom) > 4 {
		dom = dom[len(dom)-4:]
	}
	return dom + ":" + rest
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// namePCIDevices fills in vendor and device names of PCI-scanned GPUs and
// of NICs from pci.ids, with one read of the database.
func namePCIDevices(inv *api.Inventory, w *warnings, pciIDs string) {
	var wanted []string
	for _, g := range inv.GPUs {
		if g.Source == api.GPUSourcePCI && g.VendorID != "" {
			wanted = append(wanted, g.VendorID+":"+g.DeviceID)
		}
	}
	for _, n := range inv.NICs {
		if n.VendorID != "" {
			wanted = append(wanted, n.VendorID+":"+n.DeviceID)
		}
	}
	if len(wanted) == 0 {
		return
	}
	if pciIDs == "" {
		w.add("pci: no pci.ids database found; devices are named by id only (install Debian package pci.ids)")
		return
	}
	names, err := lookupPCINames(pciIDs, wanted)
	if err != nil {
		w.add("pci: pci.ids: %v", err)
	}
	for i := range inv.GPUs {
		if g := &inv.GPUs[i]; g.Source == api.GPUSourcePCI {
			g.Vendor, g.Name = names.vendors[g.VendorID], names.devices[g.VendorID+":"+g.DeviceID]
		}
	}
	for i := range inv.NICs {
		n := &inv.NICs[i]
		n.Vendor, n.Model = names.vendors[n.VendorID], names.devices[n.VendorID+":"+n.DeviceID]
	}
}

// nvmlTimeout bounds NVML. Initialising it without the persistence daemon
// takes a second or two per GPU generation; a GPU that fell off the bus can
// make it hang, and the inventory must still finish.
const nvmlTimeout = 20 * time.Second

// gpusWithin calls lib.GPUs and stops waiting for it after timeout.
func gpusWithin(lib GPULibrary, timeout time.Duration) (*api.NVIDIADriver, []api.GPU, []string) {
	var (
		mu    sync.Mutex
		notes []string
	)
	note := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		notes = append(notes, sprintf(format, args...))
	}
	type result struct {
		drv  *api.NVIDIADriver
		gpus []api.GPU
	}
	done := make(chan result, 1)
	go func() {
		drv, gpus := lib.GPUs(note)
		done <- result{drv, gpus}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var r result
	select {
	case r = <-done:
	case <-timer.C:
		note("no answer within %v: the driver or a GPU may be hung", timeout)
	}
	mu.Lock()
	defer mu.Unlock()
	return r.drv, r.gpus, append([]string(nil), notes...)
}
