package identity

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests run on real loop devices (root, losetup; sgdisk and
// mkfs.ext4 to make foreign disks).

func loopDisk(t *testing.T, setup ...[]string) (dev, img string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("loop devices need root")
	}
	for _, tool := range []string{"losetup", "sgdisk", "mkfs.ext4"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed", tool)
		}
	}
	img = filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	for _, c := range setup {
		if out, err := exec.Command(c[0], append(c[1:], img)...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(c, " "), err, out)
		}
	}
	// --partscan: partitions the code under test writes are known to the kernel and, on
	// detach, dropped with the device. Without it they outlive the loop device and the next
	// test (of any package) to attach it sees them.
	out, err := exec.Command("losetup", "--find", "--show", "--partscan", img).CombinedOutput()
	if err != nil {
		t.Fatalf("losetup: %v: %s", err, out)
	}
	dev = strings.TrimSpace(string(out))
	t.Cleanup(func() {
		exec.Command("partx", "--delete", dev).Run() // none left is fine
		if out, err := exec.Command("losetup", "--detach", dev).CombinedOutput(); err != nil {
			t.Errorf("detach %s: %v: %s", dev, err, out)
		}
	})
	return dev, img
}

func digest(t *testing.T, path string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

var rec = Record{NodeID: "n1", Credential: "n1.c2VjcmV0", CAFingerprint: strings.Repeat("ab", 32)}

func TestSaveOnABlankAllowedDiskSurvivesReopen(t *testing.T) {
	dev, img := loopDisk(t)
	if _, err := Load(dev); !errors.Is(err, errBlank) {
		t.Errorf("load from a blank disk: %v, want blank", err)
	}
	if err := Save(dev, true, rec); err != nil {
		t.Fatal(err)
	}
	// A reboot: nothing in memory, only the disk.
	got, err := Load(dev)
	if err != nil || got != rec {
		t.Fatalf("load after save: %+v %v, want %+v", got, err, rec)
	}
	// The partition is a real GPT entry other tools see.
	out, err := exec.Command("sgdisk", "--print", img).CombinedOutput()
	if err != nil || !strings.Contains(string(out), PartitionName) {
		t.Errorf("sgdisk --print: %v\n%s", err, out)
	}
	// Saving again (a new credential) rewrites in place.
	rec2 := rec
	rec2.Credential = "n1.bmV3"
	if err := Save(dev, false, rec2); err != nil {
		t.Fatalf("rewrite an existing partition (needs no permission to create): %v", err)
	}
	if got, _ := Load(dev); got != rec2 {
		t.Errorf("after rewrite: %+v", got)
	}
}

func TestNeverWritesADiskThePlanDoesNotAllow(t *testing.T) {
	dev, img := loopDisk(t)
	before := digest(t, img)
	if err := Save(dev, false, rec); !errors.Is(err, ErrNotAllowed) {
		t.Errorf("save on a disk not allowed: %v, want ErrNotAllowed", err)
	}
	if digest(t, img) != before {
		t.Error("the disk changed")
	}
}

func TestNeverWritesForeignData(t *testing.T) {
	for name, setup := range map[string][]string{
		"ext4 on the whole disk":  {"mkfs.ext4", "-q", "-F"},
		"a foreign GPT partition": {"sgdisk", "--new=1:2048:+8M", "--change-name=1:data"},
	} {
		t.Run(name, func(t *testing.T) {
			dev, img := loopDisk(t, setup)
			before := digest(t, img)
			if err := Save(dev, true, rec); !errors.Is(err, ErrForeignData) {
				t.Errorf("save: %v, want ErrForeignData", err)
			}
			if digest(t, img) != before {
				t.Error("the disk changed")
			}
		})
	}
	t.Run("unknown bytes, no signature", func(t *testing.T) {
		dev, img := loopDisk(t)
		f, _ := os.OpenFile(img, os.O_WRONLY, 0)
		_, _ = f.WriteAt(bytes.Repeat([]byte("x"), 4096), 1<<19)
		f.Close()
		before := digest(t, img)
		if err := Save(dev, true, rec); !errors.Is(err, ErrForeignData) {
			t.Errorf("save: %v, want ErrForeignData", err)
		}
		if digest(t, img) != before {
			t.Error("the disk changed")
		}
	})
}

func TestAddsToAGPTOfCorralsOwnPartitions(t *testing.T) {
	dev, _ := loopDisk(t, []string{"sgdisk", "--new=1:2048:+8M", "--change-name=1:corral-data"})
	if err := Save(dev, true, rec); err != nil {
		t.Fatal(err)
	}
	if got, err := Load(dev); err != nil || got != rec {
		t.Errorf("load: %+v %v", got, err)
	}
}

func TestCorruptRecordIsRefused(t *testing.T) {
	body, _ := encode(rec)
	body[len(body)-1] ^= 1
	if _, err := decode(bytes.NewReader(body)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("flipped checksum bit: %v, want ErrCorrupt", err)
	}
}

func FuzzDecode(f *testing.F) {
	body, _ := encode(rec)
	f.Add(body)
	f.Add([]byte("CORRALID1\n\xff\xff\xff\xff"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decode(bytes.NewReader(b))
		if err == nil && (got.NodeID == "" || got.Credential == "") {
			t.Fatalf("accepted an empty record: %+v", got)
		}
	})
}
