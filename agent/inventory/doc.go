// Package inventory gathers what a node is: system (DMI and SMBIOS), CPUs,
// memory, NUMA, GPUs, disks and NICs, and derives from it a stable node
// identity and Kubernetes node labels.
//
// Every source is a pure reader over a Root, which holds the directories the
// kernel normally mounts at /sys, /proc, /dev, /run and /etc. Pointing a Root
// at a directory in testdata/ runs the same code over a dump of another
// machine (see testdata/README.md). Nothing here changes the machine: disks
// are opened read-only, and only to probe their partition tables and
// superblocks.
//
// Reading hardware is best effort. A value that cannot be read is left empty
// and explained in the inventory's warnings; Collect never fails and never
// panics because of what it finds on a machine.
package inventory
