package rootfs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"corral.io/corral/internal/backoff"
)

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestCopyVerified(t *testing.T) {
	data := bytes.Repeat([]byte("squashfs"), 100000)
	for _, tc := range []struct {
		name string
		want string
		err  error
	}{
		{"right digest", digest(data), nil},
		{"wrong digest", digest([]byte("other")), ErrDigest},
		{"empty digest", "", ErrDigest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			n, err := CopyVerified(&out, bytes.NewReader(data), tc.want)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if n != int64(len(data)) || !bytes.Equal(out.Bytes(), data) {
				t.Errorf("copied %d bytes, want %d", n, len(data))
			}
		})
	}
}

func TestFetchRetriesUntilTheDigestMatches(t *testing.T) {
	good := bytes.Repeat([]byte("rootfs"), 50000)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch calls.Add(1) {
		case 1:
			http.Error(w, "not yet", http.StatusServiceUnavailable)
		case 2:
			_, _ = w.Write([]byte("a different image"))
		default:
			_, _ = w.Write(good)
		}
	}))
	t.Cleanup(srv.Close)
	var logs bytes.Buffer
	dir := t.TempDir()
	path, err := Fetch(context.Background(), FetchConfig{
		Params:  Params{URL: srv.URL + "/rootfs.squashfs", SHA256: digest(good)},
		Dir:     dir,
		Backoff: backoff.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
		Logger:  slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatalf("%v\n%s", err, logs.String())
	}
	got, _ := os.ReadFile(path)
	if !bytes.Equal(got, good) {
		t.Error("downloaded file differs")
	}
	if calls.Load() != 3 {
		t.Errorf("%d requests, want 3", calls.Load())
	}
	for _, want := range []string{"503 Service Unavailable", "sha256 mismatch", "waiting_for=", "downloaded and verified"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}

func TestFetchNeverLeavesAFileWithTheWrongDigest(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("tampered"))
	}))
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	_, err := Fetch(context.Background(), FetchConfig{
		Params:   Params{URL: srv.URL, SHA256: digest([]byte("genuine"))},
		Dir:      dir,
		Attempts: 2,
		Backoff:  backoff.Backoff{Initial: time.Millisecond, Max: time.Millisecond},
	})
	if !errors.Is(err, ErrDigest) || !strings.Contains(err.Error(), "2 attempts") {
		t.Fatalf("err = %v, want a digest mismatch after 2 attempts", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rootfs.squashfs")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a file with the wrong digest was left: %v", err)
	}
}

func TestFetchStopsWithItsContext(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := Fetch(ctx, FetchConfig{Params: Params{URL: "http://127.0.0.1:1/r", SHA256: digest(nil)}, Dir: t.TempDir(),
		Backoff: backoff.Backoff{Initial: 50 * time.Millisecond, Max: 50 * time.Millisecond}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
}

func TestHandoverRoundTrip(t *testing.T) {
	p := filepath.Join(t.TempDir(), "run", "corral", "handover.json")
	h := Handover{Iface: "eth0", MAC: "52:54:00:12:34:56", Addr: "10.77.0.100/24", Gateway: "10.77.0.1",
		DNS: []string{"10.77.0.1"}, Server: "10.77.0.1", LeasedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), RootfsURL: "http://x/r", Loop: "/dev/loop0"}
	if err := WriteHandover(p, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHandover(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Iface != h.Iface || got.Addr != h.Addr || !got.LeasedAt.Equal(h.LeasedAt) || got.Loop != h.Loop || len(got.DNS) != 1 {
		t.Errorf("read %+v, wrote %+v", got, h)
	}
}
