package httpboot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"corral.io/corral/controller/boot/files"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/internal/testutil"
)

var (
	knownMAC     = net.HardwareAddr{0x52, 0x54, 0x00, 0x12, 0x34, 0x56}
	brokenMAC    = net.HardwareAddr{0x52, 0x54, 0x00, 0xde, 0xad, 0x00}
	badScriptMAC = net.HardwareAddr{0x52, 0x54, 0x00, 0xba, 0xd0, 0x00}
	testScript   = ipxe.Script{
		Kernel:        "/images/v1/vmlinuz",
		Initrd:        "/images/v1/initrd.img",
		Cmdline:       "console=ttyS0",
		ControllerURL: "http://10.0.0.1:8080",
	}
)

// fakeScripts knows one node, fails for another and returns an unrenderable
// script for a third.
type fakeScripts struct{}

func (fakeScripts) Script(_ context.Context, mac net.HardwareAddr) (ipxe.Script, error) {
	switch mac.String() {
	case knownMAC.String():
		return testScript, nil
	case brokenMAC.String():
		return ipxe.Script{}, errors.New("registry is down")
	case badScriptMAC.String():
		return ipxe.Script{Kernel: "/k", Initrd: "/i", Cmdline: "a\nb", ControllerURL: "http://x"}, nil
	}
	return ipxe.Script{}, fmt.Errorf("node %s: %w", mac, ErrUnknownNode)
}

// syncBuffer collects log lines written from handler goroutines.
type syncBuffer struct{ testutil.LockedBuffer }

func (b *syncBuffer) records(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

type env struct {
	h       http.Handler
	reg     *prometheus.Registry
	logs    *syncBuffer
	kpxe    []byte
	kernel  []byte
	kernelM time.Time
}

// newEnv builds boot files and images directories:
//
//	boot/undionly.kpxe
//	images/v1/vmlinuz          (4096 bytes)
//	images/v1/escape -> /etc/passwd
func newEnv(t *testing.T) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{reg: prometheus.NewRegistry(), logs: &syncBuffer{}}
	e.kpxe = []byte("pretend iPXE binary\x00\x01\x02")
	e.kernel = make([]byte, 4096)
	for i := range e.kernel {
		e.kernel[i] = byte(i * 7)
	}
	for _, p := range []struct {
		path string
		data []byte
	}{
		{"boot/undionly.kpxe", e.kpxe},
		{"images/v1/vmlinuz", e.kernel},
		// What the image store keeps in the images directory besides
		// images: an import in progress, its state.
		{"images/.import-v3-123/vmlinuz", e.kernel},
		{"images/.state.json", []byte(`{"active":"v1"}`)},
	} {
		full := filepath.Join(dir, p.path)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, p.data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "images/v1/escape")); err != nil {
		t.Fatal(err)
	}
	e.kernelM = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if err := os.Chtimes(filepath.Join(dir, "images/v1/vmlinuz"), e.kernelM, e.kernelM); err != nil {
		t.Fatal(err)
	}
	bootFiles, err := files.New(filepath.Join(dir, "boot"))
	if err != nil {
		t.Fatal(err)
	}
	images, err := files.New(filepath.Join(dir, "images"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bootFiles.Close(); _ = images.Close() })
	e.h, err = NewHandler(Options{
		Scripts: fakeScripts{}, Files: bootFiles, Images: images,
		Gatherer: e.reg, Registerer: e.reg,
		Logger: slog.New(slog.NewJSONHandler(e.logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) do(method, target string, header http.Header) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func render(t *testing.T, s ipxe.Script) string {
	t.Helper()
	var b bytes.Buffer
	if err := s.Render(&b); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestRoutes(t *testing.T) {
	e := newEnv(t)
	etag := ETag(int64(len(e.kernel)), e.kernelM)
	tests := []struct {
		name       string
		method     string
		target     string
		header     http.Header
		wantCode   int
		wantBody   string // exact, unless empty
		wantInBody string // substring, unless empty
		wantHeader map[string]string
	}{
		{name: "known node gets its rendered script", method: "GET", target: "/boot.ipxe?mac=52:54:00:12:34:56",
			wantCode: 200, wantBody: render(t, testScript), wantHeader: map[string]string{"Cache-Control": "no-store"}},
		{name: "hyphenated mac is accepted", method: "GET", target: "/boot.ipxe?mac=52-54-00-12-34-56",
			wantCode: 200, wantBody: render(t, testScript)},
		{name: "HEAD of the script has no body", method: "HEAD", target: "/boot.ipxe?mac=52:54:00:12:34:56", wantCode: 200},
		{name: "missing mac is 400 saying what is expected", method: "GET", target: "/boot.ipxe",
			wantCode: 400, wantInBody: "missing mac parameter: want /boot.ipxe?mac=<MAC"},
		{name: "malformed mac is 400 saying what is expected", method: "GET", target: "/boot.ipxe?mac=not-a-mac",
			wantCode: 400, wantInBody: `malformed mac "not-a-mac": want /boot.ipxe?mac=`},
		{name: "non-Ethernet length mac is 400", method: "GET", target: "/boot.ipxe?mac=00:00:00:00:fe:80:00:00",
			wantCode: 400, wantInBody: "malformed mac"},
		{name: "unknown node is 404", method: "GET", target: "/boot.ipxe?mac=02:00:00:00:00:01",
			wantCode: 404, wantInBody: "unknown node 02:00:00:00:00:01"},
		{name: "backend failure is 500 without details", method: "GET", target: "/boot.ipxe?mac=52:54:00:de:ad:00",
			wantCode: 500, wantInBody: "see the controller log"},
		{name: "unrenderable script is 500", method: "GET", target: "/boot.ipxe?mac=52:54:00:ba:d0:00",
			wantCode: 500, wantInBody: "could not render"},
		{name: "boot program is served", method: "GET", target: "/ipxe/undionly.kpxe",
			wantCode: 200, wantBody: string(e.kpxe)},
		{name: "missing boot program is 404", method: "GET", target: "/ipxe/snponly.efi", wantCode: 404},
		{name: "image file is served whole with a strong ETag", method: "GET", target: "/images/v1/vmlinuz",
			wantCode: 200, wantBody: string(e.kernel),
			wantHeader: map[string]string{"ETag": etag, "Accept-Ranges": "bytes", "Content-Length": "4096",
				"Last-Modified": "Fri, 02 Jan 2026 03:04:05 GMT"}},
		{name: "HEAD of an image has headers and no body", method: "HEAD", target: "/images/v1/vmlinuz",
			wantCode: 200, wantBody: "", wantHeader: map[string]string{"ETag": etag, "Content-Length": "4096"}},
		{name: "range request gets 206 and the range", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"Range": {"bytes=100-199"}}, wantCode: 206, wantBody: string(e.kernel[100:200]),
			wantHeader: map[string]string{"Content-Range": "bytes 100-199/4096", "Content-Length": "100"}},
		{name: "suffix range gets the tail", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"Range": {"bytes=-10"}}, wantCode: 206, wantBody: string(e.kernel[4086:])},
		{name: "unsatisfiable range is 416", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"Range": {"bytes=5000-6000"}}, wantCode: 416},
		{name: "If-None-Match with the ETag is 304", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"If-None-Match": {etag}}, wantCode: 304, wantBody: ""},
		{name: "If-None-Match with another ETag is 200", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"If-None-Match": {`"other"`}}, wantCode: 200, wantBody: string(e.kernel)},
		{name: "If-Modified-Since at the mtime is 304", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"If-Modified-Since": {"Fri, 02 Jan 2026 03:04:05 GMT"}}, wantCode: 304},
		{name: "If-Modified-Since before the mtime is 200", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"If-Modified-Since": {"Thu, 01 Jan 2026 00:00:00 GMT"}}, wantCode: 200},
		{name: "If-Range with a stale ETag sends the whole file", method: "GET", target: "/images/v1/vmlinuz",
			header: http.Header{"Range": {"bytes=0-9"}, "If-Range": {`"stale"`}}, wantCode: 200, wantBody: string(e.kernel)},
		{name: "missing image is 404", method: "GET", target: "/images/v2/vmlinuz", wantCode: 404},
		{name: "an import in progress is 404", method: "GET", target: "/images/.import-v3-123/vmlinuz",
			wantCode: 404, wantInBody: `no image ".import-v3-123"`},
		{name: "an import in progress, dot encoded, is 404", method: "GET", target: "/images/%2eimport-v3-123/vmlinuz",
			wantCode: 404, wantInBody: "no image"},
		// (/images/.state.json is redirected here by the mux, as any
		// /images/<one element> is.)
		{name: "the store's state is 404", method: "GET", target: "/images/.state.json/", wantCode: 404},
		{name: "a version the store would not accept is 404", method: "GET", target: "/images/v1%20x/vmlinuz",
			wantCode: 404, wantInBody: "no image"},
		{name: "traversal under /images is 400", method: "GET", target: "/images/../../etc/passwd",
			wantCode: 400, wantInBody: `has a ".." element`},
		{name: "encoded traversal under /images is 400", method: "GET", target: "/images/v1/..%2f..%2f..%2fetc%2fpasswd",
			wantCode: 400},
		{name: "backslash traversal under /images is 400", method: "GET", target: `/images/v1/..%5c..%5cetc%5cpasswd`,
			wantCode: 400},
		{name: "symlink out of the images directory is 403", method: "GET", target: "/images/v1/escape",
			wantCode: 403, wantInBody: "refused"},
		{name: "image directory itself is 404", method: "GET", target: "/images/v1/", wantCode: 404},
		{name: "health check is ok", method: "GET", target: "/healthz", wantCode: 200, wantBody: "ok\n"},
		{name: "metrics are exposed", method: "GET", target: "/metrics", wantCode: 200, wantInBody: "corral_http_requests_total"},
		{name: "unknown path is 404", method: "GET", target: "/pxelinux.cfg/default", wantCode: 404},
		{name: "POST is not allowed", method: "POST", target: "/boot.ipxe?mac=52:54:00:12:34:56", wantCode: 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.do(tc.method, tc.target, tc.header)
			if w.Code != tc.wantCode {
				t.Fatalf("%s %s: code %d; want %d; body:\n%s", tc.method, tc.target, w.Code, tc.wantCode, w.Body)
			}
			if tc.wantBody != "" || tc.method == "HEAD" || tc.wantCode == 304 {
				if diff := cmp.Diff(tc.wantBody, w.Body.String()); diff != "" {
					t.Errorf("body (-want +got):\n%s", diff)
				}
			}
			if tc.wantInBody != "" && !strings.Contains(w.Body.String(), tc.wantInBody) {
				t.Errorf("body %q lacks %q", w.Body, tc.wantInBody)
			}
			for k, v := range tc.wantHeader {
				if got := w.Header().Get(k); got != v {
					t.Errorf("header %s = %q; want %q", k, got, v)
				}
			}
			if strings.HasPrefix(w.Header().Get("ETag"), "W/") {
				t.Errorf("ETag %q is weak; want strong", w.Header().Get("ETag"))
			}
		})
	}
}

func TestMetricsCountRequestsAndBytes(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/images/v1/vmlinuz", nil)
	e.do("GET", "/images/v1/vmlinuz", http.Header{"Range": {"bytes=0-99"}})
	e.do("GET", "/boot.ipxe", nil)
	e.do("GET", "/images/../x", nil)

	got := map[string]float64{}
	mfs, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(" %s=%s", l.GetName(), l.GetValue())
			}
			got[key] = m.GetCounter().GetValue()
		}
	}
	want := map[string]float64{
		"corral_http_requests_total code=200 route=/images/{version}/{file...}": 1,
		"corral_http_requests_total code=206 route=/images/{version}/{file...}": 1,
		"corral_http_requests_total code=400 route=/boot.ipxe":                  1,
		"corral_http_requests_total code=400 route=refused":                     1,
		"corral_http_response_bytes_total route=/images/{version}/{file...}":    4096 + 100,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v; want %v", k, got[k], v)
		}
	}
}

func TestRequestLogCarriesMAC(t *testing.T) {
	e := newEnv(t)
	e.do("GET", "/boot.ipxe?mac=52-54-00-12-34-56", nil)
	recs := e.logs.records(t)
	if len(recs) != 1 {
		t.Fatalf("got %d log records; want 1: %v", len(recs), recs)
	}
	got := map[string]any{"msg": recs[0]["msg"], "mac": recs[0]["mac"], "code": recs[0]["code"], "route": recs[0]["route"]}
	want := map[string]any{"msg": "http request", "mac": "52:54:00:12:34:56", "code": float64(200), "route": "/boot.ipxe"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("log record (-want +got):\n%s", diff)
	}
}

func TestStaticGivesEveryNodeTheSameScript(t *testing.T) {
	s := Static{Boot: testScript}
	for _, mac := range []net.HardwareAddr{knownMAC, brokenMAC} {
		got, err := s.Script(t.Context(), mac)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(testScript, got); diff != "" {
			t.Errorf("Script(%s) (-want +got):\n%s", mac, diff)
		}
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "missing backend", opts: Options{Addr: "127.0.0.1:0"}, want: "Options.Scripts is required"},
		{name: "address not on this machine", opts: Options{Addr: "192.0.2.1:0", Scripts: Static{}}, want: `listen on "192.0.2.1:0"`},
		{name: "malformed address", opts: Options{Addr: "localhost:http-boot-port", Scripts: Static{}}, want: "listen on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if err == nil {
				_ = s.ln.Close()
				t.Fatalf("New succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestServerServesUntilCancelled(t *testing.T) {
	s, err := New(Options{Addr: "127.0.0.1:0", Scripts: Static{Boot: testScript}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-errc
	})

	resp, err := http.Get("http://" + s.Addr().String() + "/boot.ipxe?mac=52:54:00:12:34:56")
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(render(t, testScript), string(body)); diff != "" {
		t.Errorf("script over a real socket (-want +got):\n%s", diff)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v; want nil after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15 s of cancel")
	}
	errc <- nil // for the cleanup
	if _, err := http.Get("http://" + s.Addr().String() + "/healthz"); err == nil {
		t.Error("server still answers after Run returned")
	}
}

// Static gives every machine the same script: the Scripts backend of these
// tests (the controller's is the node registry).
type Static struct {
	// Boot is the script every machine gets.
	Boot ipxe.Script
}

// Script returns s.Boot for any MAC address.
func (s Static) Script(context.Context, net.HardwareAddr) (ipxe.Script, error) {
	return s.Boot, nil
}
