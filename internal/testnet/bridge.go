package testnet

import "os/exec"

// Bridge creates a Linux bridge inside the namespace with address cidr
// (empty for none) and brings it up. Spanning tree stays off, so a port
// forwards as soon as it has carrier.
func (ns *NS) Bridge(name, cidr string) {
	ns.t.Helper()
	ns.MustIP("link", "add", "name", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	if cidr != "" {
		ns.MustIP("addr", "add", cidr, "dev", name)
	}
	ns.MustIP("link", "set", name, "up")
}

// Tap creates a persistent tap device inside the namespace, attaches it to
// bridge and brings it up, ready for a QEMU started inside the namespace with
// `-netdev tap,ifname=<name>,script=no,downscript=no`. The tap is deleted in
// t.Cleanup (deleting the namespace would remove it too).
func (ns *NS) Tap(name, bridge string) {
	ns.t.Helper()
	ns.MustIP("tuntap", "add", "dev", name, "mode", "tap")
	ns.t.Cleanup(func() { _ = exec.Command("ip", "-n", ns.Name, "link", "del", name).Run() })
	ns.MustIP("link", "set", name, "master", bridge)
	ns.MustIP("link", "set", name, "up")
}
