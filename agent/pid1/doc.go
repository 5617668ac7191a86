// Package pid1 holds what corral-agent needs when the kernel starts it as
// /init (PID 1) in the initramfs, where nothing has been set up for it:
//
//   - [MountEssentials] mounts /proc, /sys, /dev (devtmpfs), /dev/pts and
//     /run (tmpfs) unless already mounted, so it is safe to call again after
//     switch_root or in a container;
//   - [Reaper] reaps every child that exits, including orphans the kernel
//     re-parents to PID 1, so none stays a zombie;
//   - [LoadModules] loads kernel modules by name with their dependencies from
//     modules.dep, the way modprobe would, with finit_module(2).
//
// The parsers ([ParseMountinfo], [ParseModulesDep]) are pure and fuzzed; the
// parts that change the machine take an injectable root so tests run them in
// a private mount namespace or against a fake loader.
package pid1
