package cpio

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// sample is an archive with every kind of entry, listed out of order and
// without some of its parent directories.
func sample(t *testing.T) []Entry {
	t.Helper()
	src := filepath.Join(t.TempDir(), "agent")
	if err := os.WriteFile(src, []byte("#!/bin/agent\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []Entry{
		File("/init", src, 0o755),
		Bytes("lib/modules/6.1.0/modules.dep", []byte("kernel/a.ko:\n"), 0o644),
		Dir("/proc", 0o555),
		Dir("tmp", 0o777|fs.ModeSticky),
		Symlink("lib64", "lib"),
		CharDev("dev/console", 0o600, 5, 1),
		Dir("dev", 0o755),
	}
}

func writeGzip(t *testing.T, entries []Entry, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteGzip(&buf, entries, opts); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func gunzip(t *testing.T, data []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestWriteReadsBackSortedWithFixedMetadata(t *testing.T) {
	raw := gunzip(t, writeGzip(t, sample(t), Options{MTime: 1700000000}))
	recs, err := Read(raw)
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		Name  string
		Mode  uint32
		Ino   uint64
		Data  string
		MTime uint64
	}
	var got []row
	for _, r := range recs {
		if r.UID != 0 || r.GID != 0 {
			t.Errorf("%s: uid/gid %d/%d, want 0/0", r.Name, r.UID, r.GID)
		}
		got = append(got, row{r.Name, r.Mode, r.Ino, string(r.Data), r.MTime})
	}
	const m = 1700000000
	want := []row{
		{"dev", 0o040755, 1, "", m},
		{"dev/console", 0o020600, 2, "", m},
		{"init", 0o100755, 3, "#!/bin/agent\n", m},
		{"lib", 0o040755, 4, "", m},
		{"lib/modules", 0o040755, 5, "", m},
		{"lib/modules/6.1.0", 0o040755, 6, "", m},
		{"lib/modules/6.1.0/modules.dep", 0o100644, 7, "kernel/a.ko:\n", m},
		{"lib64", 0o120777, 8, "lib", m},
		{"proc", 0o040555, 9, "", m},
		{"tmp", 0o041777, 10, "", m},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
}

func TestTwoWritesAreByteIdentical(t *testing.T) {
	entries := sample(t)
	a := writeGzip(t, entries, Options{})
	// The same entries in another order give the same bytes.
	rev := append([]Entry(nil), entries...)
	sort.Slice(rev, func(i, j int) bool { return rev[i].Name > rev[j].Name })
	b := writeGzip(t, rev, Options{})
	if !bytes.Equal(a, b) {
		t.Fatalf("two archives of the same entries differ (%d and %d bytes)", len(a), len(b))
	}
	// RFC 1952 §2.3: FLG (byte 3) has no FNAME/FCOMMENT; MTIME (bytes 4-7) is 0.
	if a[3] != 0 || !bytes.Equal(a[4:8], []byte{0, 0, 0, 0}) {
		t.Errorf("gzip header % x: want no flags and mtime 0", a[:10])
	}
}

// TestGNUCpioListsAndExtracts reads the archive with Debian's cpio, as a
// person checking an image would.
func TestGNUCpioListsAndExtracts(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("cpio is not installed (apt-get install cpio)")
	}
	raw := gunzip(t, writeGzip(t, sample(t), Options{}))

	cmd := exec.Command("cpio", "-itv", "--quiet")
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio -itv: %v", err)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		// mode links owner group [size|major, minor] date... name [-> target]
		name := f[len(f)-1]
		if f[0][0] == 'l' {
			name = f[len(f)-3] + " -> " + f[len(f)-1]
		}
		got = append(got, f[0]+" "+f[2]+" "+f[3]+" "+name)
	}
	want := []string{
		"drwxr-xr-x root root dev",
		"crw------- root root dev/console",
		"-rwxr-xr-x root root init",
		"drwxr-xr-x root root lib",
		"drwxr-xr-x root root lib/modules",
		"drwxr-xr-x root root lib/modules/6.1.0",
		"-rw-r--r-- root root lib/modules/6.1.0/modules.dep",
		"lrwxrwxrwx root root lib64 -> lib",
		"dr-xr-xr-x root root proc",
		"drwxrwxrwt root root tmp",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("cpio -itv (-want +got):\n%s", diff)
	}

	dir := t.TempDir()
	cmd = exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames", "--nonmatching", "dev/console")
	cmd.Dir = dir
	cmd.Stdin = bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "init")); err != nil || string(b) != "#!/bin/agent\n" {
		t.Errorf("extracted init = %q, %v", b, err)
	}
	if target, err := os.Readlink(filepath.Join(dir, "lib64")); err != nil || target != "lib" {
		t.Errorf("extracted lib64 -> %q, %v", target, err)
	}
}

func TestNormalizeRejects(t *testing.T) {
	for name, entries := range map[string][]Entry{
		"a name listed twice":        {Bytes("etc/a", nil, 0o644), Bytes("/etc/a", []byte("x"), 0o644)},
		"a file inside a file":       {Bytes("etc", nil, 0o644), Bytes("etc/a", nil, 0o644)},
		"a name that climbs out":     {Bytes("../etc/passwd", nil, 0o644)},
		"a name that is not clean":   {Bytes("etc//a", nil, 0o644)},
		"an empty name":              {Bytes("/", nil, 0o644)},
		"a symlink without a target": {Symlink("lib64", "")},
	} {
		t.Run(name, func(t *testing.T) {
			if err := Write(io.Discard, entries, Options{}); err == nil {
				t.Error("Write succeeded, want an error")
			}
		})
	}
}

func TestMissingSourceNamesTheFile(t *testing.T) {
	err := Write(io.Discard, []Entry{File("init", "/nonexistent/agent", 0o755)}, Options{})
	if err == nil || !strings.Contains(err.Error(), "/nonexistent/agent") {
		t.Errorf("err = %v, want one naming /nonexistent/agent", err)
	}
}

// Symlink is a symbolic link to target. Only these tests build one; the
// image builder writes no symlinks into the initramfs.
func Symlink(name, target string) Entry {
	return Entry{Name: name, Mode: fs.ModeSymlink | 0o777, Target: target}
}
