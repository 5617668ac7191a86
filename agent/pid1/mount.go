package pid1

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Filesystem is one mount MountEssentials makes.
type Filesystem struct {
	Source, Target, FSType string
	Flags                  uintptr
	Data                   string
}

// Essentials are the filesystems an init needs before anything else, in
// order (/dev before /dev/pts).
var Essentials = []Filesystem{
	{"proc", "/proc", "proc", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"sysfs", "/sys", "sysfs", unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC, ""},
	{"devtmpfs", "/dev", "devtmpfs", unix.MS_NOSUID, "mode=0755"},
	{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "gid=5,mode=0620,ptmxmode=0666"},
	{"tmpfs", "/run", "tmpfs", unix.MS_NOSUID | unix.MS_NODEV, "mode=0755"},
}

// MountOptions says where to mount and how to read the mount table.
type MountOptions struct {
	// Root prefixes every target; "" is "/". Tests use a scratch directory.
	Root string
	// Mountinfo is the mount table's path; default /proc/self/mountinfo.
	// A missing table (no /proc yet, the initramfs case) means nothing
	// is mounted.
	Mountinfo string
	// Filesystems default to Essentials.
	Filesystems []Filesystem
	Logger      *slog.Logger
}

// MountEssentials mounts each filesystem whose target has nothing mounted on
// it, creating the target directory. It is idempotent: a second call, or a
// call where the kernel or a container runtime already mounted some, mounts
// nothing twice. It returns the targets it mounted.
func MountEssentials(o MountOptions) ([]string, error) {
	if o.Mountinfo == "" {
		o.Mountinfo = "/proc/self/mountinfo"
	}
	if o.Filesystems == nil {
		o.Filesystems = Essentials
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var done []string
	for _, fsys := range o.Filesystems {
		target := filepath.Join("/", o.Root, fsys.Target)
		// Re-read every time: mounting /proc is what makes the table readable.
		table, err := readMountinfo(o.Mountinfo)
		if err != nil {
			return done, err
		}
		if m, ok := Mounted(table, target); ok {
			log.Debug("already mounted", "target", target, "fstype", m.FSType)
			continue
		}
		if err := os.MkdirAll(target, 0o755); err != nil {
			return done, fmt.Errorf("create mount point %s: %w", target, err)
		}
		if err := unix.Mount(fsys.Source, target, fsys.FSType, fsys.Flags, fsys.Data); err != nil {
			return done, fmt.Errorf("mount %s on %s: %w", fsys.FSType, target, err)
		}
		log.Info("mounted", "target", target, "fstype", fsys.FSType)
		done = append(done, target)
	}
	return done, nil
}

func readMountinfo(path string) ([]Mount, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read mount table: %w", err)
	}
	return ParseMountinfo(b)
}
