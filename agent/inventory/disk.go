package inventory

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"corral.io/corral/agent/pid1"
	api "corral.io/corral/api/v1alpha1"
)

// virtualDiskPrefixes are kernel block device names that are not hardware:
// loop, RAM and compressed-RAM disks, device-mapper and md arrays built on
// other disks, network block devices, floppies and optical drives.
var virtualDiskPrefixes = []string{"loop", "ram", "zram", "dm-", "md", "nbd", "fd", "sr"}

func isVirtualDisk(name string) bool {
	for _, p := range virtualDiskPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// diskContext is what every disk needs from the rest of the machine.
type diskContext struct {
	mounts  []pid1.Mount
	probe   func(dev string) (probeResult, error) // nil: do not read the disks
	timeout time.Duration                         // for one probe
}

// readDisks lists the physical disks under /sys/block, reading them
// concurrently: a server with two dozen disks should not pay for them one
// after the other.
func readDisks(r Root, w *warnings, dc diskContext) []api.Disk {
	entries, err := os.ReadDir(filepath.Join(r.Sys, "block"))
	if err != nil {
		w.add("disk: %v", err)
		return nil
	}
	var names []string
	for _, e := range entries {
		if !isVirtualDisk(e.Name()) {
			names = append(names, e.Name())
		}
	}
	out := make([]api.Disk, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { out[i] = readDisk(r, w, name, dc) })
	}
	wg.Wait()
	return out
}

// probeTimeout bounds the probe of one disk. A failing disk can block a read
// for the kernel's SCSI timeout times its retries (minutes); the inventory
// then reports the disk unprobed instead of hanging. The blocked read keeps
// its goroutine until the kernel gives up.
const probeTimeout = 3 * time.Second

// probeWithin runs probe(dev) and gives up waiting after timeout.
func probeWithin(probe func(string) (probeResult, error), dev string, timeout time.Duration) (probeResult, error) {
	type result struct {
		res probeResult
		err error
	}
	done := make(chan result, 1)
	go func() {
		res, err := probe(dev)
		done <- result{res, err}
	}()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-done:
		return r.res, r.err
	case <-timer.C:
		return probeResult{}, fmt.Errorf("no answer within %v: the disk may be failing", timeout)
	}
}

// readDisk describes one block device from sysfs, udev's links and, when
// dc.probe is set, its partition table and superblocks.
func readDisk(r Root, w *warnings, name string, dc diskContext) api.Disk {
	dir := filepath.Join(r.Sys, "block", name)
	d := api.Disk{Name: name, Path: "/dev/" + name}
	sectors := optInt(w, filepath.Join(dir, "size"))
	d.SizeBytes = uint64(max(sectors, 0)) * 512 // sysfs counts 512-byte units whatever the sector size
	d.LogicalSectorSize = int(optInt(w, filepath.Join(dir, "queue/logical_block_size")))
	d.PhysicalSectorSize = int(optInt(w, filepath.Join(dir, "queue/physical_block_size")))
	d.Rotational = optInt(w, filepath.Join(dir, "queue/rotational")) == 1
	d.Removable = optInt(w, filepath.Join(dir, "removable")) == 1
	d.ReadOnly = optInt(w, filepath.Join(dir, "ro")) == 1
	d.Model = firstNonEmpty(w, filepath.Join(dir, "device/model"))
	d.Serial = firstNonEmpty(w, filepath.Join(dir, "device/serial"), filepath.Join(dir, "serial"))
	if d.Serial == "" {
		// SCSI, SAS and SATA (through libata) disks have no serial file:
		// their serial is the Unit Serial Number VPD page.
		if b, err := os.ReadFile(filepath.Join(dir, "device/vpd_pg80")); err == nil {
			d.Serial = parseUnitSerial(b)
		}
	}
	d.WWN = firstNonEmpty(w, filepath.Join(dir, "wwid"), filepath.Join(dir, "device/wwid"))
	if real, err := filepath.EvalSymlinks(dir); err == nil {
		d.Transport = transport(real)
	}
	devNo := optString(w, filepath.Join(dir, "dev"))
	links := byIDLinks(r, name, devNo)
	if len(links) > 0 {
		d.ByID = links[0]
	}

	// Partitions as the kernel sees them.
	parts := map[int]api.Partition{}
	devNos := map[string]int{devNo: 0} // device number → partition number, 0 for the disk
	subs, _ := os.ReadDir(dir)
	for _, s := range subs {
		pdir := filepath.Join(dir, s.Name())
		num, err := readInt(filepath.Join(pdir, "partition"))
		if err != nil {
			continue
		}
		p := api.Partition{
			Number:      int(num),
			Name:        s.Name(),
			OffsetBytes: uint64(max(optInt(w, filepath.Join(pdir, "start")), 0)) * 512,
			SizeBytes:   uint64(max(optInt(w, filepath.Join(pdir, "size")), 0)) * 512,
		}
		parts[p.Number] = p
		devNos[optString(w, filepath.Join(pdir, "dev"))] = p.Number
	}

	if dc.probe != nil {
		res, err := probeWithin(dc.probe, filepath.Join(r.Dev, name), dc.timeout)
		if err != nil {
			w.add("disk %s: probe: %v", name, err)
		} else {
			d.Probed = true
			d.PartitionTable, d.PartitionTableUUID, d.Filesystem = res.table, res.tableUUID, res.fs
			for _, p := range res.parts {
				if k, ok := parts[p.Number]; ok {
					p.Name = k.Name
				}
				parts[p.Number] = p
			}
		}
	}
	if d.PartitionTable == "" && len(parts) > 0 {
		d.PartitionTable = "other" // the kernel read a table the prober does not know (MBR)
	}
	for _, m := range dc.mounts {
		num, ok := devNos[m.Dev]
		if !ok {
			continue
		}
		d.Mountpoints = append(d.Mountpoints, m.Point)
		switch m.Point {
		case "/", "/boot", "/boot/efi", "/efi":
			d.Boot = true
		}
		// Unprobed, the mount table still says what a mounted filesystem is.
		if fs := (&api.Filesystem{Type: m.FSType}); !d.Probed && m.FSType != "" {
			if num == 0 && d.Filesystem == nil {
				d.Filesystem = fs
			} else if p, ok := parts[num]; ok && num > 0 && p.Filesystem == nil {
				p.Filesystem = fs
				parts[num] = p
			}
		}
	}
	for _, p := range parts {
		d.Partitions = append(d.Partitions, p)
	}
	sort.Slice(d.Partitions, func(i, j int) bool { return d.Partitions[i].Number < d.Partitions[j].Number })
	sort.Strings(d.Mountpoints)
	d.Mountpoints = compactStrings(d.Mountpoints)
	return d
}

// transport infers the bus from the device's real sysfs path.
func transport(real string) string {
	switch {
	case strings.Contains(real, "/nvme"):
		return "nvme"
	case strings.Contains(real, "/usb"):
		return "usb"
	case strings.Contains(real, "/mmc"):
		return "mmc"
	case strings.Contains(real, "/vbd-"):
		return "xen"
	case strings.Contains(real, "/end_device-") || strings.Contains(real, "/sas_"):
		return "sas"
	case strings.Contains(real, "/ata"):
		return "sata"
	case strings.Contains(real, "/target"):
		// A SCSI target, virtio-scsi's too: lsblk and operators call those disks SCSI.
		return "scsi"
	case strings.Contains(real, "/virtio"):
		return "virtio"
	}
	return ""
}

// byIDLinks returns the /dev/disk/by-id paths of a disk, wwn- links first,
// then the others sorted. udev's database under /run/udev/data is read when
// present (the initramfs has no /dev/disk); otherwise /dev/disk/by-id.
func byIDLinks(r Root, name, devNo string) []string {
	var links []string
	if b, err := readFile(filepath.Join(r.Run, "udev/data", "b"+devNo)); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if l, ok := strings.CutPrefix(line, "S:disk/by-id/"); ok {
				links = append(links, "/dev/disk/by-id/"+l)
			}
		}
	} else if entries, err := os.ReadDir(filepath.Join(r.Dev, "disk/by-id")); err == nil {
		for _, e := range entries {
			if linkBase(filepath.Join(r.Dev, "disk/by-id", e.Name())) == name {
				links = append(links, "/dev/disk/by-id/"+e.Name())
			}
		}
	}
	sort.Slice(links, func(i, j int) bool {
		wi, wj := strings.Contains(links[i], "/wwn-"), strings.Contains(links[j], "/wwn-")
		if wi != wj {
			return wi
		}
		return links[i] < links[j]
	})
	return links
}

// parseUnitSerial reads the product serial number from a SCSI Unit Serial
// Number VPD page (SPC-4 §7.8.18: byte 1 is the page code 0x80, bytes 2–3
// the length of the serial that follows). Devices pad it with spaces, and
// some with NULs; anything malformed gives "".
func parseUnitSerial(b []byte) string {
	if len(b) < 4 || b[1] != 0x80 {
		return ""
	}
	n := int(b[2])<<8 | int(b[3])
	if n > len(b)-4 {
		n = len(b) - 4
	}
	s := strings.Trim(string(b[4:4+n]), " \x00")
	for _, r := range s {
		if r < 0x20 || r > 0x7e {
			return ""
		}
	}
	return s
}

func firstNonEmpty(w *warnings, paths ...string) string {
	for _, p := range paths {
		if s := optString(w, p); s != "" {
			return s
		}
	}
	return ""
}

func compactStrings(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}
