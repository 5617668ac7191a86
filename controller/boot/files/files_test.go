package files

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fixture builds
//
//	<tmp>/secret                  (outside the root)
//	<tmp>/root/undionly.kpxe
//	<tmp>/root/efi/ipxe.efi
//	<tmp>/root/inside -> undionly.kpxe
//	<tmp>/root/outside -> ../secret
//	<tmp>/root/absolute -> <tmp>/secret
//	<tmp>/root/dirlink -> ..
//	<tmp>/root/fifo               (named pipe)
//
// and returns the root directory.
func fixture(t testing.TB) string {
	t.Helper()
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "efi"), 0o755))
	must(os.WriteFile(filepath.Join(tmp, "secret"), []byte("secret"), 0o644))
	must(os.WriteFile(filepath.Join(root, "undionly.kpxe"), []byte("bios"), 0o644))
	must(os.WriteFile(filepath.Join(root, "efi", "ipxe.efi"), []byte("uefi"), 0o644))
	must(os.Symlink("undionly.kpxe", filepath.Join(root, "inside")))
	must(os.Symlink("../secret", filepath.Join(root, "outside")))
	must(os.Symlink(filepath.Join(tmp, "secret"), filepath.Join(root, "absolute")))
	must(os.Symlink("..", filepath.Join(root, "dirlink")))
	must(syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644))
	return root
}

func TestClean(t *testing.T) {
	tests := []struct {
		name, in, want string
		refused        bool
	}{
		{name: "plain name is kept", in: "undionly.kpxe", want: "undionly.kpxe"},
		{name: "leading slash names the root", in: "/undionly.kpxe", want: "undionly.kpxe"},
		{name: "many leading slashes are dropped", in: "///efi/ipxe.efi", want: "efi/ipxe.efi"},
		{name: "backslashes are separators", in: `efi\ipxe.efi`, want: "efi/ipxe.efi"},
		{name: "leading backslash names the root", in: `\efi\ipxe.efi`, want: "efi/ipxe.efi"},
		{name: "dot and empty elements are dropped", in: "efi/./ipxe.efi", want: "efi/ipxe.efi"},
		{name: "double slash is one", in: "efi//ipxe.efi", want: "efi/ipxe.efi"},
		{name: "dot-dot is refused", in: "../../etc/passwd", refused: true},
		{name: "dot-dot in the middle is refused", in: "efi/../undionly.kpxe", refused: true},
		{name: "backslash dot-dot is refused", in: `..\..\etc\passwd`, refused: true},
		{name: "trailing dot-dot is refused", in: "efi/..", refused: true},
		{name: "empty name is refused", in: "", refused: true},
		{name: "root itself is refused", in: "/", refused: true},
		{name: "dot is refused", in: ".", refused: true},
		{name: "NUL is refused", in: "undionly.kpxe\x00.txt", refused: true},
		{name: "newline is refused", in: "a\nb", refused: true},
		{name: "DEL is refused", in: "a\x7fb", refused: true},
		{name: "overlong name is refused", in: strings.Repeat("a/", MaxNameLen/2) + "a", refused: true},
		{name: "overlong element is refused", in: "efi/" + strings.Repeat("a", 256), refused: true},
		{name: "element of 255 bytes is fine", in: strings.Repeat("a", 255), want: strings.Repeat("a", 255)},
		{name: "dots inside a name are fine", in: "a..b", want: "a..b"},
		{name: "three dots are a name", in: "...", want: "..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Clean(tc.in)
			if tc.refused {
				if !errors.Is(err, ErrRefused) {
					t.Fatalf("Clean(%q) = %q, %v; want ErrRefused", tc.in, got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Clean(%q): %v", tc.in, err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Clean(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	tbl, err := New(fixture(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tbl.Close() })

	tests := []struct {
		name, in    string
		wantName    string
		wantContent string
		wantErr     error
	}{
		{name: "file at the root opens", in: "undionly.kpxe", wantName: "undionly.kpxe", wantContent: "bios"},
		{name: "TFTP-style leading slash opens", in: "/undionly.kpxe", wantName: "undionly.kpxe", wantContent: "bios"},
		{name: "file in a subdirectory opens", in: `efi\ipxe.efi`, wantName: "efi/ipxe.efi", wantContent: "uefi"},
		{name: "symlink staying inside is followed", in: "inside", wantName: "inside", wantContent: "bios"},
		{name: "missing file is not found", in: "pxelinux.0", wantErr: ErrNotFound},
		{name: "absolute path is looked up under the root", in: "/etc/passwd", wantErr: ErrNotFound},
		{name: "file below a file is not found", in: "undionly.kpxe/x", wantErr: ErrNotFound},
		{name: "directory is not found", in: "efi", wantErr: ErrNotFound},
		{name: "named pipe is not found (and does not block)", in: "fifo", wantErr: ErrNotFound},
		{name: "traversal is refused", in: "../secret", wantErr: ErrRefused},
		{name: "relative symlink out of the root is refused", in: "outside", wantErr: ErrRefused},
		{name: "absolute symlink is refused", in: "absolute", wantErr: ErrRefused},
		{name: "symlinked parent directory is refused", in: "dirlink/secret", wantErr: ErrRefused},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := tbl.Open(tc.in)
			if tc.wantErr != nil {
				if err == nil {
					_ = f.Close()
				}
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Open(%q) error = %v; want %v", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open(%q): %v", tc.in, err)
			}
			defer f.Close()
			b, err := io.ReadAll(f)
			if err != nil {
				t.Fatal(err)
			}
			got := struct {
				Name, Content string
				Size          int64
			}{f.Name, string(b), f.Size}
			want := struct {
				Name, Content string
				Size          int64
			}{tc.wantName, tc.wantContent, int64(len(tc.wantContent))}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Open(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestNewFailsOnMissingDirectory(t *testing.T) {
	_, err := New(filepath.Join(t.TempDir(), "nope"))
	if err == nil || !strings.Contains(err.Error(), "open boot files directory") {
		t.Fatalf("New(missing) error = %v; want it to name the directory", err)
	}
}

// FuzzOpen checks that no name crashes Open, that every error is classified
// and that a file that opens really lies under the root (resolved by the
// kernel through /proc/self/fd, not lexically).
func FuzzOpen(f *testing.F) {
	for _, s := range []string{
		"undionly.kpxe", "/undionly.kpxe", `efi\ipxe.efi`, "inside", "outside", "absolute",
		"dirlink/secret", "../secret", "..", "/", "", "fifo", "efi/../../secret",
		`..\secret`, "a\x00b", "/proc/self/root/etc/passwd",
	} {
		f.Add(s)
	}
	root := fixture(f)
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		f.Fatal(err)
	}
	tbl, err := New(root)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = tbl.Close() })
	f.Fuzz(func(t *testing.T, name string) {
		file, err := tbl.Open(name)
		if err != nil {
			if !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrRefused) {
				t.Fatalf("Open(%q): unclassified error %v", name, err)
			}
			return
		}
		defer file.Close()
		target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", file.Fd()))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(target, realRoot+string(filepath.Separator)) {
			t.Fatalf("Open(%q) opened %s, outside the root %s", name, target, realRoot)
		}
	})
}

// FuzzClean checks the lexical rules alone: a cleaned name is a valid,
// relative, slash-separated path without ".." and cleaning it again changes
// nothing.
func FuzzClean(f *testing.F) {
	for _, s := range []string{"undionly.kpxe", "/a/b", `a\b`, "../x", "a/./b", "", "\x00", "....//x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		got, err := Clean(name)
		if err != nil {
			if !errors.Is(err, ErrRefused) {
				t.Fatalf("Clean(%q): error %v does not wrap ErrRefused", name, err)
			}
			return
		}
		if !fs.ValidPath(got) || got == "." {
			t.Fatalf("Clean(%q) = %q, not a valid relative path", name, got)
		}
		for _, e := range strings.Split(got, "/") {
			if e == ".." {
				t.Fatalf("Clean(%q) = %q keeps a \"..\" element", name, got)
			}
		}
		if again, err := Clean(got); err != nil || again != got {
			t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", name, again, err, got)
		}
	})
}
