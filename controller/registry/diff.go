package registry

import (
	"fmt"
	"slices"

	"corral.io/corral/api/v1alpha1"
)

// Diff lists the hardware differences between two inventories of one
// machine, in words an operator reads in the node's events: disks by serial
// (else by-id path, else name), GPUs by UUID (else PCI address), NICs by MAC,
// and the CPU and memory totals. Volatile facts (addresses, link state,
// mounts, current frequency) are not compared.
func Diff(old, cur *v1alpha1.Inventory) []string {
	if old == nil || cur == nil {
		return nil
	}
	var out []string
	if a, b := old.CPU.Threads, cur.CPU.Threads; a != b {
		out = append(out, fmt.Sprintf("cpu threads %d → %d", a, b))
	}
	if a, b := old.CPU.Model, cur.CPU.Model; a != b {
		out = append(out, fmt.Sprintf("cpu model %q → %q", a, b))
	}
	if a, b := old.Memory.TotalBytes, cur.Memory.TotalBytes; a != b {
		out = append(out, fmt.Sprintf("memory %s → %s", bytes(a), bytes(b)))
	}
	out = append(out, diffSet("disk", keyed(old.Disks, diskKey, diskDesc), keyed(cur.Disks, diskKey, diskDesc))...)
	out = append(out, diffSet("gpu", keyed(old.GPUs, gpuKey, gpuDesc), keyed(cur.GPUs, gpuKey, gpuDesc))...)
	out = append(out, diffSet("nic", keyed(old.NICs, nicKey, nicDesc), keyed(cur.NICs, nicKey, nicDesc))...)
	return out
}

func keyed[T any](items []T, key, desc func(T) string) map[string]string {
	m := make(map[string]string, len(items))
	for _, it := range items {
		if k := key(it); k != "" {
			m[k] = desc(it)
		}
	}
	return m
}

func diffSet(kind string, old, cur map[string]string) []string {
	var out []string
	for k, d := range cur {
		if _, ok := old[k]; !ok {
			out = append(out, fmt.Sprintf("%s added: %s", kind, d))
		}
	}
	for k, d := range old {
		if _, ok := cur[k]; !ok {
			out = append(out, fmt.Sprintf("%s removed: %s", kind, d))
		}
	}
	slices.Sort(out)
	return out
}

func diskKey(d v1alpha1.Disk) string {
	switch {
	case d.Serial != "":
		return "serial:" + d.Serial
	case d.ByID != "":
		return "id:" + d.ByID
	}
	return "name:" + d.Name
}

func diskDesc(d v1alpha1.Disk) string {
	s := fmt.Sprintf("%s %s", d.Name, bytes(d.SizeBytes))
	if d.Serial != "" {
		s += " serial " + d.Serial
	}
	return s
}

func gpuKey(g v1alpha1.GPU) string {
	if g.UUID != "" {
		return g.UUID
	}
	return g.PCIAddress
}

func gpuDesc(g v1alpha1.GPU) string { return fmt.Sprintf("%s at %s", g.Name, g.PCIAddress) }

func nicKey(n v1alpha1.NIC) string {
	if n.PermanentMAC != "" {
		return n.PermanentMAC
	}
	return n.MAC
}

func nicDesc(n v1alpha1.NIC) string { return fmt.Sprintf("%s %s", n.Name, nicKey(n)) }

func bytes(b uint64) string {
	const gib = 1 << 30
	if b >= gib {
		return fmt.Sprintf("%.1f GiB", float64(b)/gib)
	}
	return fmt.Sprintf("%d MiB", b>>20)
}
