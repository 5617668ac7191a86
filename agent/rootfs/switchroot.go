package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"

	"golang.org/x/sys/unix"
)

// Moved are the mounts SwitchRoot carries into the new root.
var Moved = []string{"/proc", "/sys", "/dev", "/run"}

// SwitchRoot makes newRoot the root filesystem and execs argv there, as
// busybox switch_root: it moves /proc, /sys, /dev and /run (with what is
// mounted under them) into newRoot, deletes every file of the initramfs
// (they would hold RAM for nothing; mounts and newRoot itself are not
// entered), moves newRoot onto /, chroots into it and execs argv[0] with
// env. It refuses unless it runs as PID 1 with "/" a ramfs or tmpfs (the
// initramfs) and newRoot is a mount point, and checks argv[0] exists in
// newRoot before changing anything. A failure before the initramfs is
// deleted puts the moved mounts back; one after it wraps
// ErrInitramfsGone. It returns only on failure.
func SwitchRoot(newRoot string, argv, env []string, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if len(argv) == 0 {
		return errors.New("switch_root: nothing to exec")
	}
	if os.Getpid() != 1 {
		return fmt.Errorf("switch_root: only PID 1 may, this is %d", os.Getpid())
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs("/", &sfs); err != nil {
		return fmt.Errorf("switch_root: statfs /: %w", err)
	}
	if sfs.Type != unix.RAMFS_MAGIC && sfs.Type != unix.TMPFS_MAGIC {
		return fmt.Errorf("switch_root: / is not an initramfs (filesystem magic %#x)", sfs.Type)
	}
	if st, err := os.Stat(filepath.Join(newRoot, argv[0])); err != nil || st.Mode()&0o111 == 0 {
		return fmt.Errorf("switch_root: %s is not an executable in the new root: %v", argv[0], err)
	}
	if err := IsMountPoint(newRoot); err != nil {
		return fmt.Errorf("switch_root: %w", err)
	}
	undo, err := MoveMounts(newRoot, Moved)
	if err != nil {
		return fmt.Errorf("switch_root: %w", err)
	}
	// Until the initramfs is deleted, a failure puts the moved mounts
	// back: the caller carries on in the initramfs, which needs them.
	var root unix.Stat_t
	if err := os.Chdir(newRoot); err != nil {
		return errors.Join(fmt.Errorf("switch_root: %w", err), undo())
	}
	if err := unix.Stat("/", &root); err != nil {
		return errors.Join(fmt.Errorf("switch_root: stat /: %w", err), undo(), os.Chdir("/"))
	}
	freed, err := DeleteTree("/", root.Dev, newRoot)
	log.Info("initramfs deleted", "bytes", freed, "err", err)
	// No way back from here: the initramfs' files (this program among
	// them) are gone.
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch_root: %w: move %s to /: %w", ErrInitramfsGone, newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch_root: %w: chroot: %w", ErrInitramfsGone, err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("switch_root: %w: %w", ErrInitramfsGone, err)
	}
	log.Info("switched root: exec", "argv", argv)
	err = syscall.Exec(argv[0], argv, env)
	return fmt.Errorf("switch_root: %w: exec %s: %w", ErrInitramfsGone, argv[0], err)
}

// ErrInitramfsGone marks a SwitchRoot failure after the initramfs was
// deleted: nothing can run from it any more, and the caller can only log
// it and reboot.
var ErrInitramfsGone = errors.New("the initramfs is deleted")

// IsMountPoint returns nil when dir is the root of a mounted filesystem
// (its device differs from its parent's), as switch_root requires of the
// new root: moving a mere directory onto / would leave the initramfs as /.
func IsMountPoint(dir string) error {
	var st, parent unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		return fmt.Errorf("new root: %w", err)
	}
	if err := unix.Stat(filepath.Join(dir, ".."), &parent); err != nil {
		return fmt.Errorf("new root: %w", err)
	}
	if st.Dev == parent.Dev && st.Ino != parent.Ino {
		return fmt.Errorf("new root %s is not a mount point: mount the root filesystem there first", dir)
	}
	return nil
}

// MoveMounts moves each mount point of points (with what is mounted under
// it) to the same path under newRoot. On failure it puts back what it had
// moved; on success it returns undo, which puts them all back.
func MoveMounts(newRoot string, points []string) (undo func() error, err error) {
	back := func(moved []string) error {
		var errs []error
		for _, m := range slices.Backward(moved) {
			if err := unix.Mount(filepath.Join(newRoot, m), m, "", unix.MS_MOVE, ""); err != nil {
				errs = append(errs, fmt.Errorf("move %s back: %w", m, err))
			}
		}
		return errors.Join(errs...)
	}
	for i, m := range points {
		dst := filepath.Join(newRoot, m)
		err := os.MkdirAll(dst, 0o755)
		if err == nil {
			err = unix.Mount(m, dst, "", unix.MS_MOVE, "")
		}
		if err != nil {
			return nil, errors.Join(fmt.Errorf("move %s to %s: %w", m, dst, err), back(points[:i]))
		}
	}
	return func() error { return back(points) }, nil
}

// DeleteTree removes everything under dir that is on device dev, without
// entering other filesystems (mount points stay, as their directories) or
// skip, and returns the bytes of the regular files removed. dir itself is
// kept. It goes on past errors and returns the first.
func DeleteTree(dir string, dev uint64, skip string) (int64, error) {
	var freed int64
	var first error
	keep := func(err error) {
		if first == nil && err != nil {
			first = err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		p := filepath.Join(dir, e.Name())
		if p == filepath.Clean(skip) {
			continue
		}
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			keep(err)
			continue
		}
		if uint64(st.Dev) != dev {
			continue // another filesystem mounted here
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			n, err := DeleteTree(p, dev, skip)
			freed += n
			keep(err)
			if err := unix.Rmdir(p); err != nil && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EBUSY) {
				keep(err)
			}
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFREG {
			freed += st.Size
		}
		keep(unix.Unlink(p))
	}
	return freed, first
}

// AgentPath is the agent in the root filesystem, exec'ed as stage 2 (the
// image build puts it there).
const AgentPath = "/usr/local/bin/corral-agent"
