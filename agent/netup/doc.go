// Package netup brings up the boot NIC of a node the way corral-agent must
// do it as PID 1 in the initramfs, where no network manager or DHCP client
// exists: it finds the interface named by BOOTIF (or, without BOOTIF, tries
// every physical interface with carrier), sets it up, waits for carrier,
// runs DHCPv4 (insomniacslk nclient4) with retries and backoff, and applies
// the lease with netlink: address and prefix, MTU, default route, and
// resolv.conf.
//
// The pipeline is gather → decide → apply: [planFromLease] turns a DHCPACK
// into a [Plan] and [ResolvConf] renders it, both pure; the kernel is reached
// only through the small [Netlink] and [Dialer] interfaces, so the decisions
// are tested without sockets and the real implementations are tested in
// network namespaces against the real controller.
//
// Not done here: renewing the lease (RFC 2131 §4.4.5). The address is
// installed without a lifetime; the agent must renew or re-run netup before
// the lease expires once it outlives the initramfs.
package netup
