// Package rootfs takes a network-booted node from its initramfs (stage 1)
// to its real root filesystem (stage 2):
//
//   - [ParseCmdline] reads corral.rootfs=<http URL of rootfs.squashfs> and
//     corral.rootfs.sha256=<hex> from the kernel command line (the
//     controller writes both from the active image's manifest);
//   - [Fetch] downloads the squashfs into a tmpfs, hashing as it writes,
//     logging progress, retrying with backoff; a file whose sha256 is not
//     the one asked for is deleted and never mounted;
//   - [Mount] attaches it read-only to a loop device, mounts it, and puts a
//     tmpfs overlay (upper, work) on it at the new root;
//   - [SwitchRoot] moves /proc, /sys, /dev and /run into the new root,
//     deletes the initramfs' files (as busybox switch_root), makes the new
//     root "/" and execs the agent there as stage 2;
//   - [Handover] is what stage 1 leaves stage 2 in /run: the boot NIC and
//     its DHCP lease, which the kernel keeps across the exec.
//
// The parsers and the digest check are pure and tested (cmdline fuzzed);
// Mount is tested with real loop devices and a squashfs made by mksquashfs.
package rootfs
