package inventory

import (
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// readMemory reads MemTotal from /proc/meminfo and the memory modules from
// the SMBIOS table (type 17). Virtual machines and some embedded boards have
// no type 17 records; then Modules is empty and that is not a warning.
func readMemory(r Root, w *warnings, structs []SMBIOSStructure) api.Memory {
	var m api.Memory
	if b, err := readFile(filepath.Join(r.Proc, "meminfo")); err != nil {
		w.add("memory: %v", err)
	} else if kb, err := meminfoKB(keyValues(b, ":")["MemTotal"]); err != nil {
		w.add("memory: MemTotal: %v", err)
	} else {
		m.TotalBytes = kb << 10
	}
	m.Modules = MemoryModules(structs)
	for _, mod := range m.Modules {
		m.InstalledBytes += mod.SizeBytes
	}
	return m
}

// meminfoKB parses a meminfo value such as "24684084 kB".
func meminfoKB(v string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
}

// readSMBIOS reads and splits the raw SMBIOS structure table. A machine
// without one (many VMs, ARM boards without firmware tables) gives nil and
// no warning; readSystem already notes missing DMI.
func readSMBIOS(r Root, w *warnings) []SMBIOSStructure {
	path := filepath.Join(r.Sys, "firmware/dmi/tables/DMI")
	b, err := readFile(path)
	if err != nil {
		if !os.IsNotExist(err) {
			w.add("smbios: %v", err)
		}
		return nil
	}
	structs, err := ParseSMBIOS(b)
	if err != nil {
		w.add("smbios: %s: %v", path, err)
	}
	return structs
}

// readNUMA reads /sys/devices/system/node/node*: CPU list, memory
// (MemTotal of the node's meminfo) and SLIT distances.
func readNUMA(r Root, w *warnings) []api.NUMANode {
	dirs, _ := filepath.Glob(filepath.Join(r.Sys, "devices/system/node/node[0-9]*"))
	var out []api.NUMANode
	for _, d := range dirs {
		id, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(d), "node"))
		if err != nil {
			continue
		}
		n := api.NUMANode{ID: id, CPUs: optString(w, filepath.Join(d, "cpulist"))}
		if b, err := readFile(filepath.Join(d, "meminfo")); err == nil {
			// Lines read "Node 0 MemTotal:       24684084 kB".
			for _, line := range strings.Split(string(b), "\n") {
				if _, v, ok := strings.Cut(line, "MemTotal:"); ok {
					if kb, err := meminfoKB(v); err == nil {
						n.MemoryBytes = kb << 10
					} else {
						w.add("numa: node %d MemTotal: %v", id, err)
					}
				}
			}
		} else {
			w.add("numa: %v", err)
		}
		for _, f := range strings.Fields(optString(w, filepath.Join(d, "distance"))) {
			v, err := strconv.Atoi(f)
			if err != nil {
				w.add("numa: node %d distance %q: %v", id, f, err)
				n.Distances = nil
				break
			}
			n.Distances = append(n.Distances, v)
		}
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}
