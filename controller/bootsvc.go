package controller

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"

	"corral.io/corral/controller/boot/files"
	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/boot/tftp"
	"corral.io/corral/controller/config"
	"corral.io/corral/internal/atomicfile"
)

// addBootServices adds TFTP (boot programs) and HTTP (iPXE scripts, boot
// programs for UEFI HTTP boot, images, metrics). Both serve boot programs
// through one route table.
func (d *Daemon) addBootServices(cfg *config.Controller, _ netip.Addr, httpBase, apiURL, caFingerprint string) error {
	if err := os.MkdirAll(cfg.Boot.FilesDir, 0o755); err != nil {
		return fmt.Errorf("boot.filesDir: %w", err)
	}
	if src := *cfg.Boot.IPXEDir; src != "" {
		names := []string{cfg.Boot.BIOSFile, cfg.Boot.UEFIFile, "snponly.efi"}
		if err := installPrograms(src, cfg.Boot.FilesDir, names, d.log); err != nil {
			return fmt.Errorf("boot.ipxeDir: %w", err)
		}
	}
	programs, err := files.New(cfg.Boot.FilesDir)
	if err != nil {
		return fmt.Errorf("boot.filesDir: %w", err)
	}
	d.closers = append(d.closers, programs.Close)
	for _, name := range []string{cfg.Boot.BIOSFile, cfg.Boot.UEFIFile} {
		if f, err := programs.Open(name); err != nil {
			d.log.Warn("boot program missing: machines of that firmware cannot boot (install Debian's ipxe package, or put the file in boot.filesDir)", "file", name, "dir", cfg.Boot.FilesDir, "err", err)
		} else {
			f.Close()
		}
	}
	if err := os.MkdirAll(cfg.Boot.ImagesDir, 0o755); err != nil {
		return fmt.Errorf("boot.imagesDir: %w", err)
	}
	images, err := files.New(cfg.Boot.ImagesDir)
	if err != nil {
		return fmt.Errorf("boot.imagesDir: %w", err)
	}
	d.closers = append(d.closers, images.Close)

	if *cfg.TFTP.Enabled {
		t, err := tftp.New(tftp.Options{
			Addr:       cfg.TFTP.Listen,
			Files:      programs,
			Logger:     d.log.With("svc", "tftp"),
			Registerer: d.Registry,
		})
		if err != nil {
			return fmt.Errorf("tftp.listen: %w", err)
		}
		d.services = append(d.services, namedService{"tftp", t})
	}

	script := ipxe.Script{
		Kernel:        cfg.Boot.Kernel,
		Initrd:        cfg.Boot.Initrd,
		Cmdline:       cfg.Boot.Cmdline,
		ControllerURL: httpBase,
		APIURL:        apiURL,
		CAFingerprint: caFingerprint,
	}
	if cfg.Boot.Kernel != "" {
		if err := script.Validate(); err != nil {
			return fmt.Errorf("boot: %w", err)
		}
	} else {
		d.log.Warn("boot.kernel is not set: machines will reach iPXE and be told there is nothing to boot")
	}
	h, err := httpboot.New(httpboot.Options{
		Addr:       cfg.HTTP.Listen,
		Scripts:    nodeScripts{base: script, reg: d.Nodes, profiles: d.profiles},
		Files:      programs,
		Images:     images,
		Gatherer:   d.Registry,
		Registerer: d.Registry,
		Logger:     d.log.With("svc", "http"),
	})
	if err != nil {
		return fmt.Errorf("http.listen: %w", err)
	}
	d.services = append(d.services, namedService{"http", h})
	return nil
}

// installPrograms copies the named boot programs from src (a trusted system
// directory, symlinks followed) into dst, which is served confined. A file is
// rewritten only when it differs; the copy is atomic (temp file + rename).
// Missing programs are logged, not fatal: a BIOS-only rack needs no ipxe.efi.
func installPrograms(src, dst string, names []string, log *slog.Logger) error {
	for _, name := range names {
		from := filepath.Join(src, name)
		in, err := os.ReadFile(from)
		if errors.Is(err, fs.ErrNotExist) {
			log.Warn("boot program not found", "file", from)
			continue
		}
		if err != nil {
			return fmt.Errorf("read boot program: %w", err)
		}
		to := filepath.Join(dst, name)
		if cur, err := os.ReadFile(to); err == nil && bytes.Equal(cur, in) {
			continue
		}
		if err := atomicfile.Write(to, in, 0o644); err != nil {
			return fmt.Errorf("install boot program %s: %w", name, err)
		}
		log.Info("installed boot program", "file", to, "from", from, "bytes", len(in))
	}
	return nil
}
