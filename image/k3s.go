package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// The k3s the node image carries: one pin, here.
//
// K3sSHA256 is the sha256 of the amd64 "k3s" binary of the GitHub release.
// Where it came from: it appears, with this exact URL and version, in several
// public third-party files (test fixtures and a version table of an
// unrelated project that downloads and checks this binary). It could NOT be
// confirmed against upstream's own sha256sum-amd64.txt for v1.31.6+k3s1: the
// build machines reach neither github.com nor a copy of that file. Confirm it
// when online:
//
//	curl -sL https://github.com/k3s-io/k3s/releases/download/v1.31.6%2Bk3s1/sha256sum-amd64.txt | grep ' k3s$'
//
// A wrong pin fails closed: every K3S_BINARY and every download is refused
// with a message naming both digests.
const (
	K3sVersion = "v1.31.6+k3s1"
	K3sSHA256  = "9f82f06b4cf318fcf4eeda3f4fedaa10c0cebc418b1a047e72b104f5ea7874c5"
	K3sURL     = "https://github.com/k3s-io/k3s/releases/download/v1.31.6%2Bk3s1/k3s"
)

// K3sInRootfs is the path of k3s in the root filesystem.
const K3sInRootfs = "usr/local/bin/k3s"

// K3sSource says where k3s may come from.
type K3sSource struct {
	// Binary is a k3s binary to use (K3S_BINARY); its sha256 must be K3sSHA256.
	Binary string
	// CacheDir keeps a downloaded binary (k3s-<version>) for the next build.
	CacheDir string
	// Offline skips the download.
	Offline bool
	// URL and SHA256 override the pin (tests); "" uses K3sURL and K3sSHA256.
	URL, SHA256 string
	// ConnectTimeout bounds reaching the download server; default 10 s.
	ConnectTimeout time.Duration
	// Client downloads; nil uses one with ConnectTimeout.
	Client *http.Client
}

// ResolveK3s finds the pinned k3s binary: Binary when given (a digest that
// is not the pin is an error), else a verified copy in CacheDir, else a
// download from the release (short timeouts). When neither works it returns
// no path and a K3s saying why, and logs that in one line: the image is then
// built without k3s.
func ResolveK3s(ctx context.Context, src K3sSource, log *slog.Logger) (string, K3s, error) {
	want, url := src.SHA256, src.URL
	if want == "" {
		want = K3sSHA256
	}
	if url == "" {
		url = K3sURL
	}
	k := K3s{Version: K3sVersion}
	if src.Binary != "" {
		sum, err := sha256File(src.Binary)
		if err != nil {
			return "", k, fmt.Errorf("K3S_BINARY: %w", err)
		}
		if sum != want {
			return "", k, fmt.Errorf("K3S_BINARY %s has sha256 %s, not the pinned %s of k3s %s (image/k3s.go): use the amd64 k3s of that release", src.Binary, sum, want, K3sVersion)
		}
		k.Included, k.SHA256 = true, sum
		return src.Binary, k, nil
	}
	cached := ""
	if src.CacheDir != "" {
		cached = filepath.Join(src.CacheDir, "k3s-"+K3sVersion)
		if sum, err := sha256File(cached); err == nil && sum == want {
			k.Included, k.SHA256 = true, sum
			return cached, k, nil
		}
	}
	if src.Offline || cached == "" {
		k.Reason = "no K3S_BINARY given and download disabled"
		log.Warn("building the image WITHOUT k3s: " + k.Reason + " (set K3S_BINARY=path to the k3s " + K3sVersion + " amd64 binary)")
		return "", k, nil
	}
	if err := download(ctx, src, url, want, cached); err != nil {
		// The reason stays the same from build to build (no error text):
		// it is part of the manifest, which must be reproducible.
		k.Reason = "no K3S_BINARY given and the download from " + url + " failed"
		log.Warn("building the image WITHOUT k3s: "+k.Reason+" (set K3S_BINARY=path to the k3s "+K3sVersion+" amd64 binary)", "err", err)
		return "", k, nil
	}
	k.Included, k.SHA256 = true, want
	log.Info("k3s downloaded", "version", K3sVersion, "path", cached)
	return cached, k, nil
}

func download(ctx context.Context, src K3sSource, url, want, dst string) error {
	c := src.Client
	if c == nil {
		ct := src.ConnectTimeout
		if ct <= 0 {
			ct = 10 * time.Second
		}
		c = &http.Client{Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: ct}).DialContext,
			TLSHandshakeTimeout:   ct,
			ResponseHeaderTimeout: ct,
		}}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".k3s.*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("download %s: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return errors.New("downloaded k3s has sha256 " + got + ", not the pinned " + want)
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dst)
}

// AirgapImagesInRootfs is where the root filesystem keeps the k3s air-gap
// image tarball; before starting k3s agent, the agent copies what is there
// into <data-dir>/agent/images (agent/k3s DefaultImagesDir, docs/k3s.md).
const AirgapImagesInRootfs = "usr/share/corral/k3s"

// airgapExts are the tarball kinds k3s imports; the name in the root
// filesystem keeps the given file's, so k3s reads it right.
var airgapExts = []string{".tar.zst", ".tar.gz", ".tar"}

// ResolveAirgapImages checks the air-gap tarball given (K3S_AIRGAP_IMAGES):
// a regular file named .tar.zst, .tar.gz or .tar. It returns where it goes
// in the root filesystem (relative, "" when none) and what the manifest
// says. No file given is no error: the image is then built without one.
func ResolveAirgapImages(path string) (string, AirgapImages, error) {
	if path == "" {
		return "", AirgapImages{Reason: "no K3S_AIRGAP_IMAGES given"}, nil
	}
	ext := ""
	for _, e := range airgapExts {
		if strings.HasSuffix(path, e) {
			ext = e
			break
		}
	}
	if ext == "" {
		return "", AirgapImages{}, fmt.Errorf("K3S_AIRGAP_IMAGES %s: not a .tar.zst, .tar.gz or .tar: give the k3s release's k3s-airgap-images-amd64.tar.zst", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", AirgapImages{}, fmt.Errorf("K3S_AIRGAP_IMAGES: %w", err)
	}
	if !st.Mode().IsRegular() {
		return "", AirgapImages{}, fmt.Errorf("K3S_AIRGAP_IMAGES %s is not a regular file", path)
	}
	sum, err := sha256File(path)
	if err != nil {
		return "", AirgapImages{}, fmt.Errorf("K3S_AIRGAP_IMAGES: %w", err)
	}
	rel := AirgapImagesInRootfs + "/k3s-airgap-images-amd64" + ext
	return rel, AirgapImages{Included: true, Path: "/" + rel, SHA256: sum, Size: st.Size()}, nil
}
