package inventory

import (
	"log/slog"
	"path/filepath"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"corral.io/corral/agent/pid1"
	api "corral.io/corral/api/v1alpha1"
)

// Options says where Collect reads from.
type Options struct {
	// Root is where /sys, /proc, /dev, /run and /etc are.
	Root Root
	// NVML reports NVIDIA GPUs; nil skips it (fixtures).
	NVML GPULibrary
	// Links adds permanent MACs and addresses from netlink; nil skips it (fixtures).
	Links LinkSource
	// ProbeDisks reads each disk's partition table and superblocks under Root.Dev.
	ProbeDisks bool
	// PCIIDs is the path of the pci.ids database used to name PCI devices; "" names none.
	PCIIDs string
	// Logger receives debug records; nil discards them.
	Logger *slog.Logger
}

// HostOptions reads the running machine with every source enabled.
func HostOptions(logger *slog.Logger) Options {
	return Options{
		Root:       HostRoot(),
		NVML:       DefaultNVML(),
		Links:      NetlinkSource{},
		ProbeDisks: true,
		PCIIDs:     firstExisting(DefaultPCIIDs),
		Logger:     logger,
	}
}

// Collect inventories the machine. It always returns an inventory; what
// could not be read is listed in its Warnings. The areas are read
// concurrently, as disk probes and NVML initialisation dominate the time.
func Collect(o Options) *api.Inventory {
	start := time.Now()
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := o.Root
	w := &warnings{}
	inv := &api.Inventory{APIVersion: api.Version, Kind: api.KindInventory}

	var mounts []pid1.Mount
	if b, err := readFile(filepath.Join(r.Proc, "self/mountinfo")); err == nil {
		if mounts, err = pid1.ParseMountinfo(b); err != nil {
			w.add("disk: mounts unknown: %v", err)
		}
	} else {
		w.add("disk: mounts unknown: %v", err)
	}
	bootMAC := ""
	if b, err := readFile(filepath.Join(r.Proc, "cmdline")); err == nil {
		if v, ok := kernelArg(string(b), "BOOTIF"); ok {
			if hw, err := ParseBootIF(v); err == nil {
				bootMAC = hw.String()
			} else {
				w.add("nic: %v", err)
			}
		}
	} else {
		w.add("system: %v", err)
	}

	// area runs one reader; a bug that panics on some odd machine costs that
	// area and a warning, not the agent.
	var wg sync.WaitGroup
	area := func(name string, read func()) {
		wg.Go(func() {
			defer func() {
				if p := recover(); p != nil {
					log.Error("inventory reader panicked", "area", name, "panic", p, "stack", string(debug.Stack()))
					w.add("%s: internal error, area skipped: %v", name, p)
				}
			}()
			read()
		})
	}
	area("gpu", func() { inv.NVIDIA, inv.GPUs = readGPUs(r, w, o.NVML) })
	area("disk", func() {
		dc := diskContext{mounts: mounts, timeout: probeTimeout}
		if o.ProbeDisks {
			dc.probe = probeDisk
		}
		inv.Disks = readDisks(r, w, dc)
	})
	area("nic", func() { inv.NICs = readNICs(r, w, o.Links, bootMAC) })
	area("system", func() {
		inv.CPU = readCPU(r, w)
		inv.System = readSystem(r, w, inv.CPU.Flags)
		inv.System.BootMAC = bootMAC
		inv.Memory = readMemory(r, w, readSMBIOS(r, w))
		inv.NUMA = readNUMA(r, w)
	})
	wg.Wait()

	namePCIDevices(inv, w, o.PCIIDs)
	inv.Identity = DeriveIdentity(inv.System, inv.NICs)
	if inv.Identity.NodeID == "" {
		w.add("identity: no valid DMI UUID, serial number or permanent MAC; the node has no stable id")
	}
	inv.Labels = Labels(inv)
	inv.Warnings = w.all()
	sort.Strings(inv.Warnings)
	log.Debug("inventory collected", "duration", time.Since(start), "warnings", len(inv.Warnings))
	return inv
}
