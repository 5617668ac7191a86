package inventory

import (
	"bufio"
	"bytes"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// CPUInfo is what /proc/cpuinfo says about the processors.
type CPUInfo struct {
	// Processors is the number of "processor" stanzas.
	Processors int
	// Vendor, Model, Family, ModelID, Stepping, Microcode, MHz and Flags
	// describe the first processor.
	Vendor    string
	Model     string
	Family    int
	ModelID   int
	Stepping  int
	Microcode string
	MHz       float64
	Flags     []string
	// Packages is the set of "physical id" values; Cores the set of
	// "physical id/core id" pairs. Both are empty when the kernel leaves them out.
	Packages map[string]bool
	Cores    map[string]bool
}

// ParseCPUInfo parses /proc/cpuinfo as x86 Linux writes it. It never fails:
// unknown keys are ignored and unparsable numbers are left at zero, which is
// what a reader of an odd kernel wants.
func ParseCPUInfo(data []byte) CPUInfo {
	ci := CPUInfo{Packages: map[string]bool{}, Cores: map[string]bool{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	var pkg string
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "processor" {
			ci.Processors++
			pkg = ""
			continue
		}
		switch k {
		case "physical id":
			pkg = v
			ci.Packages[v] = true
		case "core id":
			ci.Cores[pkg+"/"+v] = true
		}
		if ci.Processors > 1 {
			continue // describe the first processor only
		}
		switch k {
		case "vendor_id":
			ci.Vendor = v
		case "model name":
			ci.Model = v
		case "cpu family":
			ci.Family, _ = strconv.Atoi(v)
		case "model":
			ci.ModelID, _ = strconv.Atoi(v)
		case "stepping":
			ci.Stepping, _ = strconv.Atoi(v)
		case "microcode":
			ci.Microcode = v
		case "cpu MHz":
			ci.MHz, _ = strconv.ParseFloat(v, 64)
		case "flags":
			ci.Flags = strings.Fields(v)
			sort.Strings(ci.Flags)
		}
	}
	return ci
}

// readCPU combines /proc/cpuinfo with the topology and cpufreq directories
// under /sys/devices/system/cpu, which are preferred for counting because
// they exist on every architecture.
func readCPU(r Root, w *warnings) api.CPU {
	var out api.CPU
	data, err := readFile(filepath.Join(r.Proc, "cpuinfo"))
	if err != nil {
		w.add("cpu: %v", err)
	}
	ci := ParseCPUInfo(data)
	out.Vendor, out.Model = ci.Vendor, ci.Model
	out.Family, out.ModelID, out.Stepping = ci.Family, ci.ModelID, ci.Stepping
	out.Microcode, out.CurrentMHz, out.Flags = ci.Microcode, ci.MHz, ci.Flags

	cpuDir := filepath.Join(r.Sys, "devices/system/cpu")
	dirs, _ := filepath.Glob(filepath.Join(cpuDir, "cpu[0-9]*"))
	packages, cores := map[int64]bool{}, map[[2]int64]bool{}
	threads := 0
	var minKHz, maxKHz int64
	for _, d := range dirs {
		pkg, err := readInt(filepath.Join(d, "topology/physical_package_id"))
		if err != nil {
			continue // offline CPUs have no topology
		}
		core, err := readInt(filepath.Join(d, "topology/core_id"))
		if err != nil {
			w.add("cpu: %v", err)
			continue
		}
		threads++
		packages[pkg] = true
		cores[[2]int64{pkg, core}] = true
		if v, err := readInt(filepath.Join(d, "cpufreq/cpuinfo_min_freq")); err == nil && (minKHz == 0 || v < minKHz) {
			minKHz = v
		}
		if v, err := readInt(filepath.Join(d, "cpufreq/cpuinfo_max_freq")); err == nil && v > maxKHz {
			maxKHz = v
		}
	}
	out.MinMHz, out.MaxMHz = int(minKHz/1000), int(maxKHz/1000)
	switch {
	case threads > 0:
		out.Sockets, out.Cores, out.Threads = len(packages), len(cores), threads
	case ci.Processors > 0:
		w.add("cpu: no topology in %s, counting from cpuinfo", cpuDir)
		out.Threads = ci.Processors
		out.Sockets, out.Cores = max(len(ci.Packages), 1), len(ci.Cores)
		if out.Cores == 0 {
			out.Cores = ci.Processors
		}
	default:
		w.add("cpu: found no processors")
	}
	return out
}
