package controller

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"

	"corral.io/corral/controller/boot/files"
	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/boot/tftp"
	"corral.io/corral/controller/config"
	imagestore "corral.io/corral/controller/images"
	"corral.io/corral/controller/registry"
	"corral.io/corral/internal/atomicfile"
)

// addBootServices adds TFTP (boot programs) and HTTP (iPXE scripts, boot
// programs for UEFI HTTP boot, images, metrics). Both serve boot programs
// through one route table.
func (d *Daemon) addBootServices(cfg *config.Controller, httpBase, apiURL, caFingerprint string, reg *registry.Store, ps *profileSet) error {
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
	store := imagestore.NewCache(imagestore.Open(cfg.Boot.ImagesDir))
	store.Log = d.log.With("svc", "images")
	explicit := cfg.Boot.Kernel != "" || cfg.Boot.Initrd != ""
	active, activeErr := store.ActiveVersion()
	switch {
	case explicit:
		if err := script.Validate(); err != nil {
			return fmt.Errorf("boot: %w", err)
		}
		if active != "" {
			d.log.Warn("boot.kernel and boot.initrd are set: nodes boot them, not the active image (remove both to boot the active image)", "kernel", cfg.Boot.Kernel, "active", active)
		}
	case activeErr != nil:
		d.log.Warn("cannot read the active image: machines will reach iPXE and get no boot script until it is fixed", "err", activeErr)
	case active == "":
		d.log.Warn("no image is active and boot.kernel is not set: machines will reach iPXE and get no boot script (run corral image import DIR && corral image activate VERSION)", "imagesDir", cfg.Boot.ImagesDir)
	default:
		d.log.Info("nodes boot the active image; corral image activate changes it without a restart", "active", active, "imagesDir", cfg.Boot.ImagesDir)
	}
	for _, p := range ps.set {
		if v := p.ImageVersion; v != "" {
			if _, err := store.Image(v); err != nil {
				d.log.Warn("a profile pins an image the store does not hold: its nodes may not boot (corral image import DIR)", "profile", p.Name, "imageVersion", v, "err", err)
			}
		}
	}
	h, err := httpboot.New(httpboot.Options{
		Addr:       cfg.HTTP.Listen,
		Scripts:    nodeScripts{base: script, reg: reg, profiles: ps, images: store, explicit: explicit},
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
