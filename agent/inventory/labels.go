package inventory

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// Label prefixes (see docs/inventory.md and ../shared/reference/labels.md).
const (
	nfdPrefix    = "feature.node.kubernetes.io/"
	nvidiaPrefix = "nvidia.com/"
	corralPrefix = "corral.io/"
)

// nfdCPUID maps kernel CPU flags to the names NFD uses for
// feature.node.kubernetes.io/cpu-cpuid.<NAME>. NFD leaves out flags nearly
// every x86-64 CPU has (SSE*, MMX, CMOV, …); so does this table, which
// lists the features workloads select on.
var nfdCPUID = map[string]string{
	"adx": "ADX", "aes": "AESNI", "avx": "AVX", "avx2": "AVX2",
	"avx512f": "AVX512F", "avx512bw": "AVX512BW", "avx512cd": "AVX512CD",
	"avx512dq": "AVX512DQ", "avx512vl": "AVX512VL", "avx512ifma": "AVX512IFMA",
	"avx512vbmi": "AVX512VBMI", "avx512_vbmi2": "AVX512VBMI2",
	"avx512_vnni": "AVX512VNNI", "avx512_bitalg": "AVX512BITALG",
	"avx512_vpopcntdq": "AVX512VPOPCNTDQ", "avx512_bf16": "AVX512BF16",
	"avx512_fp16": "AVX512FP16", "avx_vnni": "AVXVNNI",
	"amx_bf16": "AMXBF16", "amx_int8": "AMXINT8", "amx_tile": "AMXTILE",
	"bmi1": "BMI1", "bmi2": "BMI2", "f16c": "F16C", "fma": "FMA3",
	"gfni": "GFNI", "vaes": "VAES", "vpclmulqdq": "VPCLMULQDQ",
	"sha_ni": "SHA", "hypervisor": "HYPERVISOR", "x2apic": "X2APIC",
	"movbe": "MOVBE", "rdrand": "RDRAND", "rdseed": "RDSEED",
	"sgx": "SGX", "sev": "SEV", "sme": "SME",
}

// nfdVendors maps cpuinfo vendor ids to NFD's cpu-model.vendor_id values.
var nfdVendors = map[string]string{"GenuineIntel": "Intel", "AuthenticAMD": "AMD", "HygonGenuine": "Hygon"}

var kernelVersion = regexp.MustCompile(`^(\d+)\.(\d+)(?:\.(\d+))?`)

// Labels derives Kubernetes node labels from an inventory. It is a pure
// function: the same inventory always gives the same labels. Values that
// are not valid label values are sanitised (see LabelValue); labels whose
// value would be empty are left out.
func Labels(inv *api.Inventory) map[string]string {
	l := map[string]string{}
	set := func(k, v string) {
		if v = LabelValue(v); v != "" {
			l[k] = v
		}
	}

	// NFD: CPU.
	c := inv.CPU
	if v, ok := nfdVendors[c.Vendor]; ok {
		set(nfdPrefix+"cpu-model.vendor_id", v)
	} else {
		set(nfdPrefix+"cpu-model.vendor_id", c.Vendor)
	}
	if c.Vendor != "" {
		set(nfdPrefix+"cpu-model.family", strconv.Itoa(c.Family))
		set(nfdPrefix+"cpu-model.id", strconv.Itoa(c.ModelID))
	}
	for _, f := range c.Flags {
		if name, ok := nfdCPUID[f]; ok {
			l[nfdPrefix+"cpu-cpuid."+name] = "true"
		}
	}
	if c.Threads > 0 && c.Cores > 0 {
		l[nfdPrefix+"cpu-hardware_multithreading"] = strconv.FormatBool(c.Threads > c.Cores)
	}

	// NFD: kernel, OS, memory, storage, PCI.
	if k := inv.System.KernelVersion; k != "" {
		set(nfdPrefix+"kernel-version.full", k)
		if m := kernelVersion.FindStringSubmatch(k); m != nil {
			set(nfdPrefix+"kernel-version.major", m[1])
			set(nfdPrefix+"kernel-version.minor", m[2])
			set(nfdPrefix+"kernel-version.revision", m[3])
		}
	}
	set(nfdPrefix+"system-os_release.ID", inv.System.OSID)
	set(nfdPrefix+"system-os_release.VERSION_ID", inv.System.OSVersionID)
	if len(inv.NUMA) > 1 {
		l[nfdPrefix+"memory-numa"] = "true"
	}
	for _, d := range inv.Disks {
		if !d.Rotational {
			l[nfdPrefix+"storage-nonrotationaldisk"] = "true"
		}
	}
	for _, g := range inv.GPUs {
		if g.Class != "" && g.VendorID != "" {
			l[nfdPrefix+"pci-"+g.Class+"_"+g.VendorID+".present"] = "true"
		}
	}

	nvidiaLabels(inv, l, set)

	// Corral: what neither NFD nor GFD says.
	set(corralPrefix+"node-id", inv.Identity.NodeID)
	set(corralPrefix+"cpu-sockets", itoaPos(c.Sockets))
	set(corralPrefix+"cpu-cores", itoaPos(c.Cores))
	set(corralPrefix+"cpu-threads", itoaPos(c.Threads))
	set(corralPrefix+"memory-gib", itoaPos(int(inv.Memory.TotalBytes>>30)))
	var ssd, hdd int
	for _, d := range inv.Disks {
		switch {
		case d.Removable || d.Boot:
		case d.Rotational:
			hdd++
		default:
			ssd++
		}
	}
	set(corralPrefix+"disk-ssd-count", strconv.Itoa(ssd))
	set(corralPrefix+"disk-hdd-count", strconv.Itoa(hdd))
	set(corralPrefix+"nic-count", strconv.Itoa(len(inv.NICs)))
	set(corralPrefix+"firmware", inv.System.Firmware)
	if h := inv.System.Hypervisor; h != "" {
		l[corralPrefix+"virtual"] = "true"
		set(corralPrefix+"hypervisor", h)
	}
	set(corralPrefix+"system-vendor", inv.System.Vendor)
	set(corralPrefix+"system-product", inv.System.Product)
	return l
}

// nvidiaLabels sets GPU feature discovery's labels from the GPUs NVML
// reported; GFD describes a node by its first GPU.
func nvidiaLabels(inv *api.Inventory, l map[string]string, set func(k, v string)) {
	var nv []api.GPU
	present := false
	for _, g := range inv.GPUs {
		if g.Source == api.GPUSourceNVML {
			nv = append(nv, g)
		}
		if g.VendorID == "10de" {
			present = true
		}
	}
	if present {
		l[nvidiaPrefix+"gpu.present"] = "true"
	}
	if len(nv) == 0 {
		return
	}
	g := nv[0]
	set(nvidiaPrefix+"gpu.count", strconv.Itoa(len(nv)))
	set(nvidiaPrefix+"gpu.product", GPUProduct(g.Name))
	if g.MemoryBytes > 0 {
		set(nvidiaPrefix+"gpu.memory", strconv.FormatUint(g.MemoryBytes>>20, 10))
	}
	if maj, min, ok := strings.Cut(g.ComputeCapability, "."); ok {
		set(nvidiaPrefix+"gpu.compute.major", maj)
		set(nvidiaPrefix+"gpu.compute.minor", min)
		set(nvidiaPrefix+"gpu.family", gpuFamily(maj, min))
	}
	migCapable := slices.ContainsFunc(nv, func(g api.GPU) bool { return g.MIGMode != "" })
	l[nvidiaPrefix+"mig.capable"] = strconv.FormatBool(migCapable)
	if inv.NVIDIA != nil {
		if v := inv.NVIDIA.DriverVersion; v != "" {
			set(nvidiaPrefix+"cuda.driver-version.full", v)
			parts := strings.SplitN(v, ".", 3)
			for i, name := range []string{"major", "minor", "revision"} {
				if i < len(parts) {
					set(nvidiaPrefix+"cuda.driver-version."+name, parts[i])
				}
			}
		}
		if v := inv.NVIDIA.CUDAVersion; v != "" {
			set(nvidiaPrefix+"cuda.runtime-version.full", v)
			if maj, min, ok := strings.Cut(v, "."); ok {
				set(nvidiaPrefix+"cuda.runtime-version.major", maj)
				set(nvidiaPrefix+"cuda.runtime-version.minor", min)
			}
		}
	}
}

// GPUProduct turns an NVML device name into GFD's gpu.product value:
// characters outside [A-Za-z0-9-_. ] removed, spaces turned into "-". A
// leading "NVIDIA " is dropped first, because drivers before R510 reported
// "A100-SXM4-40GB" and later ones "NVIDIA A100-SXM4-40GB" for the same
// board, and a label that changes with a driver upgrade breaks selectors.
func GPUProduct(name string) string {
	name = strings.TrimPrefix(strings.TrimSpace(name), "NVIDIA ")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		case r == ' ':
			b.WriteByte('-')
		}
	}
	return b.String()
}

// gpuFamily names the architecture from the CUDA compute capability, as GFD does.
func gpuFamily(major, minor string) string {
	maj, err1 := strconv.Atoi(major)
	mnr, err2 := strconv.Atoi(minor)
	if err1 != nil || err2 != nil {
		return ""
	}
	switch {
	case maj == 1:
		return "tesla"
	case maj == 2:
		return "fermi"
	case maj == 3:
		return "kepler"
	case maj == 5:
		return "maxwell"
	case maj == 6:
		return "pascal"
	case maj == 7 && mnr < 5:
		return "volta"
	case maj == 7:
		return "turing"
	case maj == 8 && mnr < 9:
		return "ampere"
	case maj == 8:
		return "ada-lovelace"
	case maj == 9:
		return "hopper"
	case maj == 10 || maj == 12:
		return "blackwell"
	}
	return "undefined"
}

// LabelValue makes s a valid Kubernetes label value: at most 63
// characters from [A-Za-z0-9-_.], beginning and ending with an alphanumeric.
// Other characters become "-", runs of "-" one; a value with nothing left is "".
func LabelValue(s string) string {
	b := []byte(strings.TrimSpace(s))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			b[i] = '-'
		}
	}
	for bytes.Contains(b, []byte("--")) {
		b = bytes.ReplaceAll(b, []byte("--"), []byte("-"))
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return strings.TrimFunc(string(b), func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
}

func itoaPos(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}
