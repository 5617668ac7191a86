package inventory

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// ParseBootIF parses the value of the BOOTIF kernel argument, which names
// the NIC the machine network-booted from. PXELINUX writes it as the ARP
// hardware type and the MAC in dashed hex ("01-52-54-00-12-34-56", type 1 is
// Ethernet); iPXE scripts commonly pass the plain MAC ("52:54:00:12:34:56").
// Both are accepted; only Ethernet (6-byte) unicast addresses are.
func ParseBootIF(v string) (net.HardwareAddr, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, errors.New("BOOTIF is empty")
	}
	if len(v) > 64 {
		return nil, fmt.Errorf("BOOTIF %.20q… is too long", v)
	}
	s := strings.ReplaceAll(v, "-", ":")
	parts := strings.Split(s, ":")
	switch len(parts) {
	case 6:
	case 7:
		if parts[0] != "01" {
			return nil, fmt.Errorf("BOOTIF %q: hardware type %q is not Ethernet (01)", v, parts[0])
		}
		parts = parts[1:]
	default:
		return nil, fmt.Errorf("BOOTIF %q: want 01-xx-xx-xx-xx-xx-xx or xx:xx:xx:xx:xx:xx", v)
	}
	mac, err := net.ParseMAC(strings.Join(parts, ":"))
	if err != nil {
		return nil, fmt.Errorf("BOOTIF %q: %w", v, err)
	}
	if mac[0]&1 == 1 {
		// No NIC has a multicast address; this is most likely a truncated "01-…" form.
		return nil, fmt.Errorf("BOOTIF %q: %s is a multicast address", v, mac)
	}
	return mac, nil
}

// kernelArg returns the value of the last name=value argument on a kernel
// command line, stopping at "--" (what follows belongs to init).
func kernelArg(cmdline, name string) (string, bool) {
	val, found := "", false
	for _, f := range strings.Fields(cmdline) {
		if f == "--" {
			break
		}
		if k, v, ok := strings.Cut(f, "="); ok && k == name {
			val, found = v, true
		}
	}
	return val, found
}
