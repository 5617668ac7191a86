package rootfs

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"corral.io/corral/internal/backoff"
)

// ErrDigest is returned when what was downloaded is not what was asked for.
var ErrDigest = errors.New("sha256 mismatch")

// CopyVerified copies src to dst while hashing it, and fails with ErrDigest
// when the sha256 of everything copied is not want (lower-case hex). The
// caller must not use dst's content unless it returns nil.
func CopyVerified(dst io.Writer, src io.Reader, want string) (int64, error) {
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(dst, h), src)
	if err != nil {
		return n, err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return n, fmt.Errorf("%w: got %s after %d bytes, want %s", ErrDigest, got, n, want)
	}
	return n, nil
}

// FetchConfig says what to download where, and how patiently.
type FetchConfig struct {
	Params
	// Dir receives the file (a tmpfs: /run/corral in the initramfs).
	Dir string
	// Client downloads; nil uses one with a 30 s response-header timeout
	// and no overall timeout (a root filesystem is hundreds of MB).
	Client *http.Client
	// Backoff is the wait between attempts; default 2 s doubling to 30 s.
	Backoff backoff.Backoff
	// Attempts bounds the attempts; 0 tries until ctx is done (PID 1 has
	// nothing better to do than wait for its root filesystem).
	Attempts int
	// Progress is how often a download in progress is logged; default 5 s.
	Progress time.Duration
	Logger   *slog.Logger
}

// Fetch downloads the root filesystem into Dir/rootfs.squashfs and returns
// its path. Each attempt is logged; a failed one (network, HTTP status,
// digest) is logged with what it waits for and retried after a backoff. A
// file whose digest is wrong is removed, never left for Mount.
func Fetch(ctx context.Context, cfg FetchConfig) (string, error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Backoff == (backoff.Backoff{}) {
		cfg.Backoff = backoff.Backoff{Initial: 2 * time.Second, Max: 30 * time.Second}
	}
	if cfg.Progress <= 0 {
		cfg.Progress = 5 * time.Second
	}
	if cfg.Client == nil {
		cfg.Client = &http.Client{Transport: &http.Transport{ResponseHeaderTimeout: 30 * time.Second}}
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return "", fmt.Errorf("create %s: %w", cfg.Dir, err)
	}
	dst := filepath.Join(cfg.Dir, "rootfs.squashfs")
	for attempt := 1; ; attempt++ {
		start := time.Now()
		n, err := fetchOnce(ctx, cfg, dst, log.With("attempt", attempt))
		if err == nil {
			secs := time.Since(start).Seconds()
			log.Info("root filesystem downloaded and verified", "url", cfg.URL, "bytes", n, "sha256", cfg.SHA256,
				"took", time.Since(start).Round(10*time.Millisecond), "MBps", fmt.Sprintf("%.1f", float64(n)/1e6/max(secs, 1e-3)))
			return dst, nil
		}
		_ = os.Remove(dst)
		if ctx.Err() != nil {
			return "", ctx.Err()
		}
		if cfg.Attempts > 0 && attempt >= cfg.Attempts {
			return "", fmt.Errorf("root filesystem %s: %d attempts failed, the last: %w", cfg.URL, attempt, err)
		}
		wait := cfg.Backoff.Delay(attempt, rand.Float64())
		what := "waiting for the controller to serve " + cfg.URL
		if errors.Is(err, ErrDigest) {
			what = "waiting for the controller to serve the image whose sha256 the kernel command line names (is the image being replaced?)"
		}
		log.Error("root filesystem download failed: retrying", "err", err, "attempt", attempt, "wait", wait.String(), "waiting_for", what)
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return "", ctx.Err()
		case <-t.C:
		}
	}
}

func fetchOnce(ctx context.Context, cfg FetchConfig, dst string, log *slog.Logger) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.URL, nil)
	if err != nil {
		return 0, err
	}
	resp, err := cfg.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("GET %s: %s", cfg.URL, resp.Status)
	}
	log.Info("downloading the root filesystem", "url", cfg.URL, "bytes", resp.ContentLength)
	f, err := os.OpenFile(dst, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	cr := &countingReader{r: resp.Body}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		t := time.NewTicker(cfg.Progress)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				n := cr.n.Load()
				attrs := []any{"bytes", n}
				if resp.ContentLength > 0 {
					attrs = append(attrs, "of", resp.ContentLength, "percent", n*100/resp.ContentLength)
				}
				log.Info("downloading the root filesystem", attrs...)
			}
		}
	}()
	n, err := CopyVerified(f, cr, cfg.SHA256)
	if err != nil {
		return n, err
	}
	if resp.ContentLength >= 0 && n != resp.ContentLength {
		return n, fmt.Errorf("GET %s: %d bytes, the server announced %d", cfg.URL, n, resp.ContentLength)
	}
	return n, f.Close()
}

type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}
