package inventory

import (
	"bufio"
	"os"
	"strings"
)

// DefaultPCIIDs are where Debian (pci.ids, hwdata) and other distributions
// install the PCI ID database; the first that exists is used.
var DefaultPCIIDs = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"}

// pciNames looks up vendor and device names in a pci.ids file. It reads the
// file once, keeping only the names it was asked for, so the ~1.3 MB
// database costs one sequential read per inventory.
type pciNames struct {
	vendors map[string]string // "10de" → "NVIDIA Corporation"
	devices map[string]string // "10de:20b0" → "GA100 [A100 SXM4 40GB]"
}

// lookupPCINames reads path and returns the names of the wanted
// "vendor:device" pairs (lower-case hex). A missing file gives empty maps.
func lookupPCINames(path string, wanted []string) (pciNames, error) {
	n := pciNames{vendors: map[string]string{}, devices: map[string]string{}}
	if path == "" || len(wanted) == 0 {
		return n, nil
	}
	want := map[string]bool{}
	wantVendor := map[string]bool{}
	for _, w := range wanted {
		want[w] = true
		v, _, _ := strings.Cut(w, ":")
		wantVendor[v] = true
	}
	f, err := os.Open(path)
	if err != nil {
		return n, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var vendor string
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if strings.HasPrefix(line, "C ") {
			break // the device classes section follows all vendors
		}
		if line[0] != '\t' {
			id, name, ok := strings.Cut(line, "  ")
			vendor = ""
			if ok && wantVendor[id] {
				vendor = id
				n.vendors[id] = strings.TrimSpace(name)
			}
			continue
		}
		if vendor == "" || strings.HasPrefix(line, "\t\t") {
			continue // subsystem lines, or a vendor nobody asked for
		}
		id, name, ok := strings.Cut(line[1:], "  ")
		if ok && want[vendor+":"+id] {
			n.devices[vendor+":"+id] = strings.TrimSpace(name)
		}
	}
	return n, sc.Err()
}

func firstExisting(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
