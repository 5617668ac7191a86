package rootfs

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// MountConfig says what to mount where.
type MountConfig struct {
	// Image is the verified squashfs file.
	Image string
	// Dir holds the mount points of the squashfs (Dir/lower) and of the
	// overlay's tmpfs (Dir/rw: upper, work). In the initramfs it is
	// /run/corral, so they move with /run into the new root.
	Dir string
	// NewRoot is where the overlay is mounted.
	NewRoot string
	Logger  *slog.Logger
}

// Mounted is a mounted root filesystem.
type Mounted struct {
	// Loop is the loop device holding Image, e.g. /dev/loop0.
	Loop               string
	Lower, RW, NewRoot string
}

// Mount attaches Image read-only to a free loop device (it detaches itself
// when unmounted), mounts it on Dir/lower, a tmpfs on Dir/rw, and an
// overlay of the two on NewRoot: the node's root, writable, in RAM. On
// failure what was mounted is unmounted again.
func Mount(cfg MountConfig) (m *Mounted, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m = &Mounted{Lower: filepath.Join(cfg.Dir, "lower"), RW: filepath.Join(cfg.Dir, "rw"), NewRoot: cfg.NewRoot}
	for _, d := range []string{m.Lower, m.RW, m.NewRoot} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	loop, closeLoop, err := attachLoop(cfg.Image)
	if err != nil {
		return nil, err
	}
	// The mount holds the device; with autoclear it is detached once the
	// squashfs is unmounted.
	defer closeLoop()
	m.Loop = loop
	var done []string
	defer func() {
		if err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				_ = unix.Unmount(done[i], unix.MNT_DETACH)
			}
		}
	}()
	if err := unix.Mount(loop, m.Lower, "squashfs", unix.MS_RDONLY, ""); err != nil {
		return nil, fmt.Errorf("mount squashfs %s (%s) on %s: %w (is the squashfs module loaded?)", cfg.Image, loop, m.Lower, err)
	}
	done = append(done, m.Lower)
	if err := unix.Mount("tmpfs", m.RW, "tmpfs", 0, "mode=0755"); err != nil {
		return nil, fmt.Errorf("mount tmpfs on %s: %w", m.RW, err)
	}
	done = append(done, m.RW)
	upper, work := filepath.Join(m.RW, "upper"), filepath.Join(m.RW, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, p := range []string{m.Lower, upper, work} {
		if strings.ContainsAny(p, ",:") {
			return nil, fmt.Errorf("overlay directory %q has a comma or colon", p)
		}
	}
	opts := "lowerdir=" + m.Lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", m.NewRoot, "overlay", 0, opts); err != nil {
		return nil, fmt.Errorf("mount overlay on %s (%s): %w (is the overlay module loaded?)", m.NewRoot, opts, err)
	}
	done = append(done, m.NewRoot)
	log.Info("root filesystem mounted", "loop", loop, "lower", m.Lower, "upper", upper, "root", m.NewRoot)
	return m, nil
}

// Unmount undoes Mount (tests; a node switches into it instead).
func (m *Mounted) Unmount() error {
	var errs []error
	for _, p := range []string{m.NewRoot, m.RW, m.Lower} {
		if err := unix.Unmount(p, 0); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount %s: %w", p, err))
		}
	}
	return errors.Join(errs...)
}

// attachLoop attaches file read-only to a free loop device with autoclear
// and returns the device and a function closing it.
func attachLoop(file string) (string, func(), error) {
	img, err := os.Open(file)
	if err != nil {
		return "", nil, err
	}
	defer img.Close()
	ctl, err := os.OpenFile("/dev/loop-control", os.O_RDWR, 0)
	if err != nil {
		return "", nil, fmt.Errorf("open /dev/loop-control: %w (is the loop module loaded?)", err)
	}
	defer ctl.Close()
	// Another process may take the free device between GET_FREE and
	// CONFIGURE: that gives EBUSY, and a new free one is asked for.
	for try := 0; try < 10; try++ {
		n, err := unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return "", nil, fmt.Errorf("find a free loop device: %w", err)
		}
		dev := fmt.Sprintf("/dev/loop%d", n)
		var f *os.File
		for wait := 0; ; wait++ { // devtmpfs may lag the new device by a moment
			f, err = os.OpenFile(dev, os.O_RDONLY, 0)
			if err == nil || !errors.Is(err, os.ErrNotExist) || wait >= 20 {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if err != nil {
			return "", nil, fmt.Errorf("open %s: %w", dev, err)
		}
		cfg := unix.LoopConfig{Fd: uint32(img.Fd())}
		cfg.Info.Flags = unix.LO_FLAGS_READ_ONLY | unix.LO_FLAGS_AUTOCLEAR
		copy(cfg.Info.File_name[:], file)
		err = unix.IoctlLoopConfigure(int(f.Fd()), &cfg)
		if errors.Is(err, unix.EBUSY) {
			f.Close()
			continue
		}
		if err != nil {
			f.Close()
			return "", nil, fmt.Errorf("attach %s to %s: %w", file, dev, err)
		}
		return dev, func() { f.Close() }, nil
	}
	return "", nil, errors.New("no free loop device after 10 tries")
}
