package inventory

import (
	"testing"
)

// BenchmarkInventory times a full inventory of the machine running the
// benchmark, with every source the agent uses (NVML, netlink, disk probes).
func BenchmarkInventory(b *testing.B) {
	opts := HostOptions(nil)
	for b.Loop() {
		if inv := Collect(opts); inv.CPU.Threads == 0 {
			b.Fatalf("no CPUs found: %q", inv.Warnings)
		}
	}
}

// BenchmarkInventoryDGX times the DGX A100 fixture (256 threads, 8 NUMA
// nodes, 6 NVMe disks probed), i.e. the cost of a large machine's sysfs.
func BenchmarkInventoryDGX(b *testing.B) {
	opts := Options{Root: PrefixRoot(dgxRoot(b)), ProbeDisks: true, PCIIDs: firstExisting(DefaultPCIIDs)}
	for b.Loop() {
		Collect(opts)
	}
}
