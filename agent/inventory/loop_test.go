package inventory

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	api "corral.io/corral/api/v1alpha1"
)

// loopDisk attaches image as a loop device and returns its kernel name. The
// device is detached by t.Cleanup whether or not the test passes.
func loopDisk(t *testing.T, image string) string {
	t.Helper()
	out, err := exec.Command("losetup", "--find", "--show", "--read-only", image).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup %s: %v: %s", image, err, out)
	}
	dev := strings.TrimSpace(string(out))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v: %s", dev, err, out)
		}
	})
	return filepath.Base(dev)
}

// image creates a sparse file of size bytes and runs each command (with
// the file's path appended) over it.
func image(t *testing.T, size int64, cmds ...[]string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range cmds {
		if out, err := exec.Command(c[0], append(c[1:], path)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	return path
}

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	for _, tool := range append([]string{"losetup"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed (Debian: %s)", tool, map[string]string{
				"losetup": "mount", "sgdisk": "gdisk", "mkfs.ext4": "e2fsprogs", "mkfs.xfs": "xfsprogs",
			}[tool])
		}
	}
}

// TestLoopDisks probes real block devices: what is on each is reported.
func TestLoopDisks(t *testing.T) {
	const mib = 1 << 20
	tests := []struct {
		name  string
		tools []string
		size  int64
		cmds  [][]string
		check func(t *testing.T, d api.Disk)
	}{
		{"blank disk has nothing on it", nil, 64 * mib, nil, func(t *testing.T, d api.Disk) {
			if d.PartitionTable != "" || d.Filesystem != nil || len(d.Partitions) != 0 {
				t.Errorf("blank disk: %+v", d)
			}
		}},
		{"GPT with an ext4 partition", []string{"sgdisk", "mkfs.ext4"}, 64 * mib, [][]string{
			{"sgdisk", "--new=1:2048:+32M", "--typecode=1:8300", "--change-name=1:corral-data"},
			// The filesystem is written into the image at the partition's offset.
			{"mkfs.ext4", "-q", "-F", "-L", "scratch", "-E", "offset=1048576"},
		}, func(t *testing.T, d api.Disk) {
			if d.PartitionTable != "gpt" || d.PartitionTableUUID == "" || len(d.Partitions) != 1 {
				t.Fatalf("want one GPT partition: %+v", d)
			}
			p := d.Partitions[0]
			if p.Label != "corral-data" || p.OffsetBytes != mib || p.SizeBytes != 32*mib ||
				p.TypeUUID != "0fc63daf-8483-4772-8e79-3d69d8477de4" || p.Filesystem == nil ||
				p.Filesystem.Type != "ext4" || p.Filesystem.Label != "scratch" || p.Filesystem.UUID == "" {
				t.Errorf("partition = %+v, fs %+v", p, p.Filesystem)
			}
		}},
		{"whole-disk Ceph bluestore OSD", nil, 64 * mib, [][]string{
			// The label ceph-volume raw mode writes at the start of the device.
			{"sh", "-c", `printf 'bluestore block device\n6f1c2d4e-9a8b-4c3d-8e7f-1a2b3c4d5e6f\n' | dd of="$0" conv=notrunc status=none`},
		}, func(t *testing.T, d api.Disk) {
			if d.Filesystem == nil || d.Filesystem.Type != "bluestore" {
				t.Errorf("want the bluestore OSD: %+v fs %+v", d, d.Filesystem)
			}
		}},
		{"whole-disk xfs", []string{"mkfs.xfs"}, 512 * mib, [][]string{
			{"mkfs.xfs", "-q", "-f", "-L", "osd"},
		}, func(t *testing.T, d api.Disk) {
			if d.Filesystem == nil || d.Filesystem.Type != "xfs" || d.Filesystem.Label != "osd" || d.PartitionTable != "" {
				t.Errorf("want a whole-disk xfs labelled osd: %+v fs %+v", d, d.Filesystem)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			needTools(t, tt.tools...)
			name := loopDisk(t, image(t, tt.size, tt.cmds...))
			w := &warnings{}
			d := readDisk(HostRoot(), w, name, diskContext{probe: probeDisk, timeout: probeTimeout})
			if len(w.all()) > 0 || !d.Probed {
				t.Errorf("warnings %q, probed %v", w.all(), d.Probed)
			}
			if d.SizeBytes != uint64(tt.size) || !d.ReadOnly {
				t.Errorf("size %d read-only %v, want %d and read-only", d.SizeBytes, d.ReadOnly, tt.size)
			}
			tt.check(t, d)
		})
	}
}
