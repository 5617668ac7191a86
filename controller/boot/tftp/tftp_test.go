package tftp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/prometheus/client_golang/prometheus"

	"corral.io/corral/controller/boot/files"
	"corral.io/corral/internal/testnet"
	"corral.io/corral/internal/testutil"
)

const ipxeBIOS = "/usr/lib/ipxe/undionly.kpxe"

// root builds a TFTP root holding a copy of Debian's undionly.kpxe and a
// symlink pointing out of the root, and returns its table and the bytes.
func root(t *testing.T) (*files.Table, []byte) {
	t.Helper()
	want, err := os.ReadFile(ipxeBIOS)
	if err != nil {
		t.Skipf("%s is missing (apt-get install ipxe): %v", ipxeBIOS, err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "undionly.kpxe"), want, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "passwd")); err != nil {
		t.Fatal(err)
	}
	tbl, err := files.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tbl.Close() })
	return tbl, want
}

// logBuffer collects JSON log lines from concurrent goroutines.
type logBuffer struct{ testutil.LockedBuffer }

// lines returns the log records as maps.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
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

// logged reports whether a record with msg and file was logged.
func (b *logBuffer) logged(t *testing.T, msg, file string) bool {
	for _, m := range b.lines(t) {
		if m["msg"] == msg && m["file"] == file && m["peer"] != "" {
			return true
		}
	}
	return false
}

func counter(t *testing.T, g prometheus.Gatherer, name, result string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			match := result == ""
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					match = true
				}
			}
			if match {
				return m.GetCounter().GetValue()
			}
		}
	}
	t.Fatalf("metric %s{result=%q} not found", name, result)
	return 0
}

// fakeTransfer stands in for pin/tftp's sender: it records what the read
// handler sends.
type fakeTransfer struct {
	got  bytes.Buffer
	size int64
}

func (f *fakeTransfer) ReadFrom(r io.Reader) (int64, error) { return f.got.ReadFrom(r) }
func (f *fakeTransfer) SetSize(n int64)                     { f.size = n }
func (f *fakeTransfer) RemoteAddr() net.UDPAddr {
	return net.UDPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 2000}
}

func TestReadHandler(t *testing.T) {
	tbl, want := root(t)
	tests := []struct {
		name, file string
		wantErr    error
		wantResult string
		wantLog    string
	}{
		{name: "existing file is sent whole with its size", file: "undionly.kpxe", wantResult: ResultOK, wantLog: "tftp transfer done"},
		{name: "leading slash is the root", file: "/undionly.kpxe", wantResult: ResultOK, wantLog: "tftp transfer done"},
		{name: "missing file is file not found", file: "pxelinux.0", wantErr: errMsgNotFound, wantResult: ResultNotFound, wantLog: "tftp file not found"},
		{name: "traversal is refused", file: "../../etc/passwd", wantErr: errMsgRefused, wantResult: ResultRefused, wantLog: "tftp read refused"},
		{name: "symlink out of the root is refused", file: "passwd", wantErr: errMsgRefused, wantResult: ResultRefused, wantLog: "tftp read refused"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			var logs logBuffer
			s, err := New(Options{Addr: "127.0.0.1:0", Files: tbl, Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.conn.Close() })
			var tr fakeTransfer
			err = s.read(tc.file, &tr)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("read(%q) error = %v; want %v", tc.file, err, tc.wantErr)
			}
			if got := counter(t, reg, "corral_tftp_transfers_total", tc.wantResult); got != 1 {
				t.Errorf("transfers{result=%q} = %v; want 1", tc.wantResult, got)
			}
			for _, m := range logs.lines(t) {
				if m["msg"] != tc.wantLog {
					t.Errorf("log message = %q; want %q", m["msg"], tc.wantLog)
				}
				if m["file"] != tc.file {
					t.Errorf("log file = %q; want %q", m["file"], tc.file)
				}
			}
			if tc.wantErr != nil {
				return
			}
			if !bytes.Equal(tr.got.Bytes(), want) {
				t.Errorf("sent %d bytes that differ from the file's %d", tr.got.Len(), len(want))
			}
			if diff := cmp.Diff(int64(len(want)), tr.size); diff != "" {
				t.Errorf("tsize (-want +got):\n%s", diff)
			}
			if got := counter(t, reg, "corral_tftp_bytes_sent_total", ""); got != float64(len(want)) {
				t.Errorf("bytes sent = %v; want %d", got, len(want))
			}
		})
	}
}

func TestWriteHandlerRefuses(t *testing.T) {
	tbl, _ := root(t)
	reg := prometheus.NewRegistry()
	var logs logBuffer
	s, err := New(Options{Addr: "127.0.0.1:0", Files: tbl, Registerer: reg, Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.conn.Close() })
	if err := s.write("undionly.kpxe", nil); !errors.Is(err, errMsgReadOnly) {
		t.Fatalf("write error = %v; want %v", err, errMsgReadOnly)
	}
	if got := counter(t, reg, "corral_tftp_transfers_total", ResultWriteRefused); got != 1 {
		t.Errorf("transfers{result=write_refused} = %v; want 1", got)
	}
	if lines := logs.lines(t); len(lines) != 1 || lines[0]["msg"] != "tftp write refused" {
		t.Errorf("logs = %v; want one \"tftp write refused\"", lines)
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	tbl, _ := root(t)
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{name: "missing files table", opts: Options{Addr: ":0"}, want: "Options.Files is required"},
		{name: "unparsable address", opts: Options{Addr: "no-such-host.invalid:69", Files: tbl}, want: "resolve listen address"},
		{name: "address not on this machine", opts: Options{Addr: "192.0.2.1:0", Files: tbl}, want: "listen on 192.0.2.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if err == nil {
				_ = s.conn.Close()
				t.Fatalf("New succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New error = %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestRunStopsWhenContextIsDone(t *testing.T) {
	tbl, _ := root(t)
	s, err := New(Options{Addr: "127.0.0.1:0", Files: tbl})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() { errc <- s.Run(ctx) }()
	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Fatalf("Run = %v; want nil after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10 s of cancel")
	}
}

// TestRealClients runs the server in one network namespace and tftp-hpa and
// atftp in another, joined by a veth pair.
func TestRealClients(t *testing.T) {
	testnet.RequireRoot(t)
	testnet.RequireCommands(t, "tftp", "atftp")
	tbl, want := root(t)

	srvNS := testnet.New(t, "tftps")
	cliNS := testnet.New(t, "tftpc")
	testnet.Veth(t, srvNS, "eth0", "10.99.0.1/24", cliNS, "eth0", "10.99.0.2/24")

	reg := prometheus.NewRegistry()
	var logs logBuffer
	var s *Server
	err := srvNS.Do(func() error {
		var err error
		s, err = New(Options{Addr: "10.99.0.1:69", Files: tbl, Registerer: reg, Timeout: time.Second,
			Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	// Run on a thread inside the namespace: each transfer opens its own socket.
	go func() { errc <- srvNS.Do(func() error { return s.Run(ctx) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", logs.String())
		}
	})

	run := func(t *testing.T, name string, args ...string) (string, error) {
		t.Helper()
		cctx, ccancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer ccancel()
		out, err := cliNS.Command(cctx, name, args...).CombinedOutput()
		t.Logf("%s %s:\n%s", name, strings.Join(args, " "), out)
		return string(out), err
	}

	t.Run("downloads are byte-identical", func(t *testing.T) {
		tests := []struct {
			name string
			args func(out string) (string, []string)
			// wantOutput are strings the client's trace must show: the
			// options the server acknowledged (RFC 2347 OACK).
			wantOutput []string
		}{
			{name: "tftp-hpa, binary mode, no options", args: func(out string) (string, []string) {
				return "tftp", []string{"-m", "binary", "10.99.0.1", "-c", "get", "undionly.kpxe", out}
			}},
			{name: "tftp-hpa with a leading slash", args: func(out string) (string, []string) {
				return "tftp", []string{"-m", "binary", "10.99.0.1", "-c", "get", "/undionly.kpxe", out}
			}},
			{name: "atftp without options", args: func(out string) (string, []string) {
				return "atftp", []string{"--option", "tsize disable", "--option", "blksize disable", "--get", "-r", "undionly.kpxe", "-l", out, "10.99.0.1"}
			}},
			{name: "atftp with blksize 1428 and tsize", args: func(out string) (string, []string) {
				return "atftp", []string{"--trace", "--option", "blksize 1428", "--option", "tsize enable", "--get", "-r", "undionly.kpxe", "-l", out, "10.99.0.1"}
			}, wantOutput: []string{"received OACK", "blksize: 1428", fmt.Sprintf("tsize: %d", len(want))}},
			{name: "atftp with blksize above the MTU is clamped", args: func(out string) (string, []string) {
				return "atftp", []string{"--trace", "--option", "blksize 8192", "--get", "-r", "undionly.kpxe", "-l", out, "10.99.0.1"}
			}, wantOutput: []string{"received OACK", "blksize: 1472"}}, // veth MTU 1500 - 20 (IPv4) - 8 (UDP)
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				out := filepath.Join(t.TempDir(), "got")
				name, args := tc.args(out)
				output, err := run(t, name, args...)
				if err != nil {
					t.Fatalf("%s failed: %v", name, err)
				}
				for _, w := range tc.wantOutput {
					if !strings.Contains(output, w) {
						t.Errorf("%s output lacks %q", name, w)
					}
				}
				got, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s got %d bytes that differ from undionly.kpxe's %d", name, len(got), len(want))
				}
			})
		}
	})

	t.Run("traversal is refused and logged", func(t *testing.T) {
		before := counter(t, reg, "corral_tftp_transfers_total", ResultRefused)
		for _, tc := range []struct{ client, file string }{
			{"tftp", "../../etc/passwd"},
			{"atftp", "../../etc/passwd"},
			{"tftp", "passwd"}, // symlink out of the root
		} {
			out := filepath.Join(t.TempDir(), "got")
			var args []string
			if tc.client == "tftp" {
				args = []string{"-m", "binary", "10.99.0.1", "-c", "get", tc.file, out}
			} else {
				args = []string{"--get", "-r", tc.file, "-l", out, "10.99.0.1"}
			}
			output, _ := run(t, tc.client, args...) // tftp-hpa exits 0 even on an error packet
			if !strings.Contains(output, errMsgRefused.Error()) {
				t.Errorf("%s get %s: output does not carry the server's refusal %q", tc.client, tc.file, errMsgRefused)
			}
			if b, err := os.ReadFile(out); err == nil && len(b) > 0 {
				t.Errorf("%s get %s: received %d bytes; want none", tc.client, tc.file, len(b))
			}
			if !logs.logged(t, "tftp read refused", tc.file) {
				t.Errorf("no \"tftp read refused\" log line for %s", tc.file)
			}
		}
		if got := counter(t, reg, "corral_tftp_transfers_total", ResultRefused) - before; got != 3 {
			t.Errorf("transfers{result=refused} grew by %v; want 3", got)
		}
	})

	t.Run("write is refused and logged", func(t *testing.T) {
		before := counter(t, reg, "corral_tftp_transfers_total", ResultWriteRefused)
		local := filepath.Join(t.TempDir(), "upload")
		if err := os.WriteFile(local, []byte("not welcome"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			client, remote string
			args           []string
		}{
			{"tftp", "upload-hpa", []string{"-m", "binary", "10.99.0.1", "-c", "put", local, "upload-hpa"}},
			{"atftp", "upload-atftp", []string{"--put", "-l", local, "-r", "upload-atftp", "10.99.0.1"}},
		} {
			output, _ := run(t, tc.client, tc.args...)
			if !strings.Contains(output, errMsgReadOnly.Error()) {
				t.Errorf("%s put: output does not carry the server's refusal %q", tc.client, errMsgReadOnly)
			}
			if !logs.logged(t, "tftp write refused", tc.remote) {
				t.Errorf("no \"tftp write refused\" log line for %s", tc.remote)
			}
			if _, err := os.Stat(filepath.Join(tbl.Dir(), tc.remote)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s put created %s in the root (stat: %v)", tc.client, tc.remote, err)
			}
		}
		if got := counter(t, reg, "corral_tftp_transfers_total", ResultWriteRefused) - before; got != 2 {
			t.Errorf("transfers{result=write_refused} grew by %v; want 2", got)
		}
	})
}
