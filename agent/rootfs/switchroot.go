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
// initramfs), and checks argv[0] exists in newRoot before changing
// anything. It returns only on failure.
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
	for i, m := range Moved {
		dst := filepath.Join(newRoot, m)
		err := os.MkdirAll(dst, 0o755)
		if err == nil {
			err = unix.Mount(m, dst, "", unix.MS_MOVE, "")
		}
		if err != nil {
			// Put back what was moved: the caller carries on in the
			// initramfs, which needs /proc, /sys, /dev and /run.
			for _, back := range slices.Backward(Moved[:i]) {
				_ = unix.Mount(filepath.Join(newRoot, back), back, "", unix.MS_MOVE, "")
			}
			return fmt.Errorf("switch_root: move %s to %s: %w", m, dst, err)
		}
	}
	if err := os.Chdir(newRoot); err != nil {
		return fmt.Errorf("switch_root: %w", err)
	}
	var root unix.Stat_t
	if err := unix.Stat("/", &root); err != nil {
		return fmt.Errorf("switch_root: stat /: %w", err)
	}
	freed, err := DeleteTree("/", root.Dev, newRoot)
	log.Info("initramfs deleted", "bytes", freed, "err", err)
	if err := unix.Mount(".", "/", "", unix.MS_MOVE, ""); err != nil {
		return fmt.Errorf("switch_root: move %s to /: %w", newRoot, err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("switch_root: chroot: %w", err)
	}
	if err := os.Chdir("/"); err != nil {
		return fmt.Errorf("switch_root: %w", err)
	}
	log.Info("switched root: exec", "argv", argv)
	err = syscall.Exec(argv[0], argv, env)
	return fmt.Errorf("switch_root: exec %s: %w", argv[0], err)
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
