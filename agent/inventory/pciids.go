package inventory

import (
	"bytes"
	"os"
	"strings"
)

// DefaultPCIIDs are where Debian (pci.ids, hwdata) and other distributions
// install the PCI ID database; the first that exists is used.
var DefaultPCIIDs = []string{"/usr/share/misc/pci.ids", "/usr/share/hwdata/pci.ids", "/usr/share/pci.ids"}

// pciNames are vendor and device names from a pci.ids file.
type pciNames struct {
	vendors map[string]string // "10de" → "NVIDIA Corporation"
	devices map[string]string // "10de:20b0" → "GA100 [A100 SXM4 40GB]"
}

// lookupPCINames returns the names of the wanted "vendor:device" pairs
// (lower-case hex) from the pci.ids file at path. In that format a vendor is
// a line "vvvv  Name" and its devices follow as "\tdddd  Name" lines, so
// each lookup is a substring search of the file (about 1.3 MB) rather than
// a parse of all of it.
func lookupPCINames(path string, wanted []string) (pciNames, error) {
	n := pciNames{vendors: map[string]string{}, devices: map[string]string{}}
	if path == "" || len(wanted) == 0 {
		return n, nil
	}
	data, err := readFile(path)
	if err != nil {
		return n, err
	}
	for _, w := range wanted {
		vendor, device, _ := strings.Cut(w, ":")
		block, name, ok := vendorBlock(data, vendor)
		if !ok {
			continue
		}
		n.vendors[vendor] = name
		if i := bytes.Index(block, []byte("\n\t"+device+"  ")); i >= 0 {
			n.devices[w] = restOfLine(block[i+len(device)+4:])
		}
	}
	return n, nil
}

// vendorBlock finds the line "vendor  Name" and returns the lines that
// follow it up to the next vendor line, and Name.
func vendorBlock(data []byte, vendor string) (block []byte, name string, ok bool) {
	if len(vendor) != 4 {
		return nil, "", false
	}
	i := bytes.Index(data, []byte("\n"+vendor+"  "))
	if i < 0 {
		return nil, "", false
	}
	rest := data[i+len(vendor)+3:]
	name = restOfLine(rest)
	// The block ends where a line begins with something other than a tab or comment.
	end := len(rest)
	for j := bytes.IndexByte(rest, '\n'); j >= 0 && j+1 < len(rest); {
		if c := rest[j+1]; c != '\t' && c != '#' && c != '\n' {
			end = j
			break
		}
		k := bytes.IndexByte(rest[j+1:], '\n')
		if k < 0 {
			break
		}
		j += 1 + k
	}
	return rest[:end], name, true
}

func restOfLine(b []byte) string {
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[:i]
	}
	return strings.TrimSpace(string(b))
}

func firstExisting(paths []string) string {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}
