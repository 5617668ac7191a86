package rootfs

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// inMountNamespace runs f on a thread of its own in a private mount
// namespace, so the host's mounts never change; the thread is discarded
// afterwards. It skips unless root.
func inMountNamespace(t *testing.T, f func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces, mounts)")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
			t.Errorf("unshare: %v", err)
			return
		}
		if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
			t.Errorf("make / private: %v", err)
			return
		}
		f()
	}()
	<-done
}

func mountTmpfs(t *testing.T, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs on %s: %v", dir, err)
	}
	if err := os.WriteFile(filepath.Join(dir, "marker"), []byte(dir), 0o644); err != nil {
		t.Fatal(err)
	}
}

// mountedAt reports whether dir holds the tmpfs mountTmpfs put on orig.
func mountedAt(dir, orig string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "marker"))
	return err == nil && string(b) == orig
}

func mountedHere(dir string) bool { return mountedAt(dir, dir) }

func TestMoveMountsPutsBackOnFailure(t *testing.T) {
	dir := t.TempDir()
	inMountNamespace(t, func() {
		a, b := filepath.Join(dir, "proc"), filepath.Join(dir, "sys")
		notMounted := filepath.Join(dir, "dev") // MS_MOVE of a non-mount fails
		if err := os.MkdirAll(notMounted, 0o755); err != nil {
			t.Fatal(err)
		}
		newRoot := filepath.Join(dir, "newroot")
		mountTmpfs(t, a)
		mountTmpfs(t, b)
		mountTmpfs(t, newRoot)
		// The namespace dies with the thread; unmount anyway, deepest first.
		defer func() {
			for _, p := range []string{filepath.Join(newRoot, a), filepath.Join(newRoot, b), newRoot, a, b} {
				_ = unix.Unmount(p, unix.MNT_DETACH)
			}
		}()
		_, err := MoveMounts(newRoot, []string{a, b, notMounted})
		if err == nil || !strings.Contains(err.Error(), notMounted) {
			t.Fatalf("err = %v, want the move of %s to fail", err, notMounted)
		}
		for _, p := range []string{a, b} {
			if !mountedHere(p) {
				t.Errorf("%s not put back after the failed move", p)
			}
			if mountedAt(filepath.Join(newRoot, p), p) {
				t.Errorf("%s still mounted in the new root", p)
			}
		}

		undo, err := MoveMounts(newRoot, []string{a, b})
		if err != nil {
			t.Fatal(err)
		}
		if mountedHere(a) || !mountedAt(filepath.Join(newRoot, a), a) {
			t.Errorf("%s not moved into the new root", a)
		}
		if err := undo(); err != nil {
			t.Fatal(err)
		}
		if !mountedHere(a) || !mountedHere(b) {
			t.Error("undo did not put the mounts back")
		}
	})
}

func TestIsMountPoint(t *testing.T) {
	dir := t.TempDir()
	if err := IsMountPoint(dir); err == nil || !strings.Contains(err.Error(), "not a mount point") {
		t.Errorf("IsMountPoint(plain directory) = %v, want refused", err)
	}
	if err := IsMountPoint(filepath.Join(dir, "missing")); err == nil {
		t.Error("IsMountPoint(missing) = nil")
	}
	if err := IsMountPoint("/"); err != nil {
		t.Errorf("IsMountPoint(/) = %v", err)
	}
	inMountNamespace(t, func() {
		mountTmpfs(t, filepath.Join(dir, "m"))
		defer func() { _ = unix.Unmount(filepath.Join(dir, "m"), unix.MNT_DETACH) }()
		if err := IsMountPoint(filepath.Join(dir, "m")); err != nil {
			t.Errorf("IsMountPoint(tmpfs) = %v", err)
		}
	})
}
