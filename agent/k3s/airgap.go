package k3s

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"corral.io/corral/internal/atomicfile"
)

// IsAirgapImage says whether a file name is an air-gap image tarball of the
// k3s release (k3s-airgap-images-<arch>.tar, .tar.gz or .tar.zst).
func IsAirgapImage(name string) bool {
	if !strings.HasPrefix(name, "k3s-airgap-images-") {
		return false
	}
	for _, ext := range []string{".tar", ".tar.gz", ".tar.zst"} {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// ImagesDir is where k3s imports image tarballs from at start
// (docs/installation/airgap.md): <data-dir>/agent/images.
func ImagesDir(dataDir string) string { return filepath.Join(dataDir, "agent", "images") }

// InstallAirgapImages copies every air-gap tarball of src into
// <dataDir>/agent/images, under a temporary name then renamed, so that k3s
// never imports half a file. A tarball already there with the same size is
// left alone. A missing src means the image carries none: no error,
// nothing installed.
//
// A copy, not a hard link: src is in the node image, the lower layer of
// the root overlay, and linking a lower file makes overlayfs copy it up
// into the upper layer (RAM) first, so a link costs the same as a copy;
// and a data-dir on a scratch disk is another filesystem, where only a
// copy works.
func InstallAirgapImages(src, dataDir string) ([]string, error) {
	entries, err := os.ReadDir(src)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("air-gap images: %w", err)
	}
	dst := ImagesDir(dataDir)
	var installed []string
	for _, e := range entries {
		if !e.Type().IsRegular() || !IsAirgapImage(e.Name()) {
			continue
		}
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return installed, fmt.Errorf("air-gap images: %w", err)
		}
		from, to := filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())
		fi, err := e.Info()
		if err != nil {
			return installed, fmt.Errorf("air-gap images: %w", err)
		}
		if have, err := os.Stat(to); err == nil && have.Size() == fi.Size() {
			installed = append(installed, to)
			continue
		}
		if err := copyFile(from, to); err != nil {
			return installed, fmt.Errorf("air-gap images: %w", err)
		}
		installed = append(installed, to)
	}
	return installed, nil
}

// copyFile copies from to to atomically, streaming: these tarballs are
// hundreds of MiB on a node whose root is in RAM.
func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	return atomicfile.WriteFrom(to, in, 0o644)
}
