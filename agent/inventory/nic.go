package inventory

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	api "corral.io/corral/api/v1alpha1"
)

// LinkSource adds what only netlink knows about interfaces: the permanent
// (burned-in) MAC and the IP addresses. NetlinkSource is the real one;
// fixtures run without.
type LinkSource interface {
	Links() (map[string]LinkInfo, error)
}

// LinkInfo is netlink's view of one interface.
type LinkInfo struct {
	PermanentMAC string
	Addresses    []string // CIDR form
}

var pciAddress = regexp.MustCompile(`^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$`)

// readNICs lists the network interfaces under /sys/class/net that are backed
// by a device (a "device" link): physical NICs and their SR-IOV virtual
// functions, but not loopback, bridges, bonds, veths, taps or tunnels.
func readNICs(r Root, w *warnings, links LinkSource, bootMAC string) []api.NIC {
	dir := filepath.Join(r.Sys, "class/net")
	entries, err := os.ReadDir(dir)
	if err != nil {
		w.add("nic: %v", err)
		return nil
	}
	var nl map[string]LinkInfo
	if links != nil {
		if nl, err = links.Links(); err != nil {
			w.add("nic: netlink: %v", err)
		}
	}
	var out []api.NIC
	for _, e := range entries {
		d := filepath.Join(dir, e.Name())
		dev := filepath.Join(d, "device")
		if _, err := os.Lstat(dev); err != nil {
			continue
		}
		n := api.NIC{
			Name:      e.Name(),
			MAC:       normalMAC(optString(w, filepath.Join(d, "address"))),
			Driver:    linkBase(filepath.Join(dev, "driver")),
			MTU:       int(optInt(w, filepath.Join(d, "mtu"))),
			OperState: optString(w, filepath.Join(d, "operstate")),
		}
		// speed and carrier read EINVAL while the interface is down: that is "unknown", not a fault.
		if v, err := readInt(filepath.Join(d, "speed")); err == nil && v > 0 {
			n.SpeedMbps = int(v)
		}
		if v, err := readInt(filepath.Join(d, "carrier")); err == nil {
			n.Carrier = v == 1
		}
		if real, err := filepath.EvalSymlinks(dev); err == nil {
			for p := real; p != "/" && p != "." && p != r.Sys; p = filepath.Dir(p) {
				if pciAddress.MatchString(filepath.Base(p)) {
					n.PCIAddress = filepath.Base(p)
					n.VendorID = strings.TrimPrefix(optString(w, filepath.Join(p, "vendor")), "0x")
					n.DeviceID = strings.TrimPrefix(optString(w, filepath.Join(p, "device")), "0x")
					n.SRIOVTotalVFs = int(optInt(w, filepath.Join(p, "sriov_totalvfs")))
					n.SRIOVNumVFs = int(optInt(w, filepath.Join(p, "sriov_numvfs")))
					break
				}
			}
		}
		if li, ok := nl[n.Name]; ok {
			n.PermanentMAC, n.Addresses = normalMAC(li.PermanentMAC), li.Addresses
		}
		// addr_assign_type 0 (NET_ADDR_PERM): the current address is the burned-in one.
		if n.PermanentMAC == "" {
			if t, err := readInt(filepath.Join(d, "addr_assign_type")); err == nil && t == 0 {
				n.PermanentMAC = n.MAC
			}
		}
		n.Boot = bootMAC != "" && (n.PermanentMAC == bootMAC || n.MAC == bootMAC)
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// normalMAC lower-cases a MAC in colon form; anything unparsable gives "".
func normalMAC(s string) string {
	hw, err := net.ParseMAC(strings.TrimSpace(s))
	if err != nil {
		return ""
	}
	return hw.String()
}
