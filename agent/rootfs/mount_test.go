package rootfs

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// requireMount skips unless the test can mount and make squashfs images.
func requireMount(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	if _, err := exec.LookPath("mksquashfs"); err != nil {
		t.Skip("mksquashfs is not installed (apt-get install squashfs-tools)")
	}
	if _, err := os.Stat("/dev/loop-control"); err != nil {
		t.Skip("no /dev/loop-control (modprobe loop)")
	}
}

// squashfs makes a squashfs image of files with mksquashfs.
func squashfs(t *testing.T, files map[string]string) string {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	img := filepath.Join(t.TempDir(), "rootfs.squashfs")
	if out, err := exec.Command("mksquashfs", src, img, "-noappend", "-all-root", "-no-progress", "-comp", "zstd").CombinedOutput(); err != nil {
		t.Fatalf("mksquashfs: %v\n%s", err, out)
	}
	return img
}

func TestMountPutsAWritableOverlayOnTheSquashfs(t *testing.T) {
	requireMount(t)
	img := squashfs(t, map[string]string{"usr/local/bin/corral-agent": "#!/bin/sh\n", "etc/os-release": "ID=debian\n"})
	dir := t.TempDir()
	m, err := Mount(MountConfig{Image: img, Dir: filepath.Join(dir, "run"), NewRoot: filepath.Join(dir, "newroot")})
	if err != nil {
		t.Fatal(err)
	}
	loopName := filepath.Base(m.Loop)
	t.Cleanup(func() {
		if err := m.Unmount(); err != nil {
			t.Errorf("unmount: %v", err)
		}
		// Autoclear: the loop device is free once the squashfs is unmounted.
		if b, err := os.ReadFile("/sys/block/" + loopName + "/loop/backing_file"); err == nil {
			t.Errorf("%s still attached to %s after unmount", m.Loop, strings.TrimSpace(string(b)))
		}
	})

	if b, err := os.ReadFile("/sys/block/" + loopName + "/ro"); err != nil || strings.TrimSpace(string(b)) != "1" {
		t.Errorf("%s is not read-only: %q %v", m.Loop, b, err)
	}
	got, err := os.ReadFile(filepath.Join(m.NewRoot, "etc/os-release"))
	if err != nil || string(got) != "ID=debian\n" {
		t.Fatalf("file of the squashfs through the overlay: %q %v", got, err)
	}
	// Writes land in the tmpfs upper layer; the squashfs is untouched.
	if err := os.WriteFile(filepath.Join(m.NewRoot, "etc/os-release"), []byte("changed\n"), 0o644); err != nil {
		t.Fatalf("write through the overlay: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(m.RW, "upper/etc/os-release")); string(b) != "changed\n" {
		t.Errorf("upper layer has %q", b)
	}
	if b, _ := os.ReadFile(filepath.Join(m.Lower, "etc/os-release")); string(b) != "ID=debian\n" {
		t.Errorf("lower layer changed to %q", b)
	}
	if err := os.WriteFile(filepath.Join(m.Lower, "x"), nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("writing the squashfs: %v, want EROFS", err)
	}
}

func TestMountRefusesWhatIsNotASquashfs(t *testing.T) {
	requireMount(t)
	img := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(img, make([]byte, 1<<16), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, err := Mount(MountConfig{Image: img, Dir: filepath.Join(dir, "run"), NewRoot: filepath.Join(dir, "newroot")})
	if err == nil {
		_ = m.Unmount()
		t.Fatal("mounted a file of zeros")
	}
	if !strings.Contains(err.Error(), "mount squashfs") {
		t.Errorf("err = %v", err)
	}
	// Nothing is left mounted under dir.
	b, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(b), dir) {
		t.Errorf("a mount under %s was left:\n%s", dir, b)
	}
}

func TestDeleteTreeStaysOnItsFilesystem(t *testing.T) {
	requireMount(t)
	root := t.TempDir()
	for _, p := range []string{"init", "lib/modules/m.ko", "etc/resolv.conf", "newroot/keep", "mnt/keep"} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if p != "mnt/keep" {
			if err := os.WriteFile(full, []byte("12345"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink("init", filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	// Another filesystem mounted inside: not entered.
	mnt := filepath.Join(root, "mnt")
	if err := unix.Mount("tmpfs", mnt, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = unix.Unmount(mnt, unix.MNT_DETACH) })
	if err := os.WriteFile(filepath.Join(mnt, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(root, &st); err != nil {
		t.Fatal(err)
	}
	freed, err := DeleteTree(root, st.Dev, filepath.Join(root, "newroot"))
	if err != nil {
		t.Fatal(err)
	}
	if freed != 15 {
		t.Errorf("freed %d bytes, want 15 (three files of 5)", freed)
	}
	var left []string
	_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if p != root {
			rel, _ := filepath.Rel(root, p)
			left = append(left, rel)
		}
		return nil
	})
	if strings.Join(left, " ") != "mnt mnt/keep newroot newroot/keep" {
		t.Errorf("left %v, want the mount point and the new root", left)
	}
}
