// Package files is the one route table for boot files: TFTP and HTTP both
// open the programs a booting machine asks for (undionly.kpxe, ipxe.efi, …)
// through a Table, so both transports answer the same name with the same
// file and refuse the same names (STYLE.md rule 3).
//
// A Table is confined to its directory with os.Root: a name cannot reach
// outside it, neither with ".." nor with an absolute path nor through a
// symbolic link pointing outside (symbolic links that stay inside are
// followed). Names are normalised the way PXE clients spell them before they
// are looked up; see Clean.
package files

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors; check them with errors.Is.
var (
	// ErrNotFound: no regular file by that name exists under the root
	// (missing, or a directory, device or other non-regular file).
	ErrNotFound = errors.New("boot file not found")
	// ErrRefused: the name is not allowed (empty, contains NUL or control
	// characters, has a ".." element, or resolves outside the root through a
	// symbolic link). Servers log it as a traversal attempt.
	ErrRefused = errors.New("boot file name refused")
)

// MaxNameLen bounds a requested name. A TFTP request with the default block
// size cannot carry more than about 500 bytes anyway (RFC 1350 §5); Linux
// refuses paths over 4096 bytes.
const MaxNameLen = 1024

// maxElemLen is the longest name of one directory entry Linux allows
// (NAME_MAX).
const maxElemLen = 255

// Table opens boot files by the name a client asks for, confined to one
// directory. It is safe for concurrent use.
type Table struct {
	root *os.Root
}

// New opens dir as the root of a Table. Close it when done.
func New(dir string) (*Table, error) {
	r, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open boot files directory %s: %w", dir, err)
	}
	return &Table{root: r}, nil
}

// Dir is the directory the Table serves.
func (t *Table) Dir() string { return t.root.Name() }

// Close releases the directory.
func (t *Table) Close() error { return t.root.Close() }

// File is an open boot file. Close it when done.
type File struct {
	*os.File
	// Name is the cleaned name, relative to the root.
	Name string
	// Size is the file's length in bytes.
	Size int64
	// ModTime is the file's modification time.
	ModTime time.Time
}

// Clean turns a requested name into a name relative to the root, or refuses
// it with an error wrapping ErrRefused. The choices:
//
//   - Backslashes become slashes: some PXE ROMs and Windows-built DHCP
//     configurations send "boot\x64\file" (tftp-hpa users remap them with
//     "rg \\ /" for the same reason). "..\" is therefore refused like "../".
//   - Leading slashes are dropped: "/undionly.kpxe" names the file at the root,
//     as a DHCP boot-file name often starts with "/" (RFC 2132 §9.5 leaves
//     the form to the server). No name can be absolute.
//   - Empty elements and "." elements are dropped ("a//./b" is "a/b").
//   - Any ".." element is refused outright, even one that would stay inside
//     ("a/../b"): no legitimate client needs it, and refusing is simpler to
//     reason about than resolving.
//   - NUL, other control characters, names longer than MaxNameLen and
//     elements longer than 255 bytes (NAME_MAX) are refused; an empty name
//     (or one that names the root itself) is refused.
//
// Clean is lexical only; symbolic links are checked by os.Root when opening.
func Clean(name string) (string, error) {
	if len(name) > MaxNameLen {
		return "", fmt.Errorf("%w: name longer than %d bytes", ErrRefused, MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("%w: control character %#02x in name", ErrRefused, c)
		}
	}
	name = strings.ReplaceAll(name, `\`, "/")
	elems := strings.Split(name, "/")
	kept := elems[:0]
	for _, e := range elems {
		switch e {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q has a \"..\" element", ErrRefused, name)
		}
		if len(e) > maxElemLen {
			return "", fmt.Errorf("%w: an element is longer than %d bytes", ErrRefused, maxElemLen)
		}
		kept = append(kept, e)
	}
	if len(kept) == 0 {
		return "", fmt.Errorf("%w: empty name", ErrRefused)
	}
	clean := strings.Join(kept, "/")
	// Belt and braces: what remains must be a local, slash-separated path.
	if !fs.ValidPath(clean) || path.IsAbs(clean) {
		return "", fmt.Errorf("%w: %q is not a relative path", ErrRefused, name)
	}
	return clean, nil
}

// Open opens the regular file called name under the root. The error wraps
// ErrRefused for a name that is not allowed or escapes the root, ErrNotFound
// when there is no regular file by that name, or is another error (for
// instance a permission problem on the server) otherwise.
func (t *Table) Open(name string) (*File, error) {
	clean, err := Clean(name)
	if err != nil {
		return nil, err
	}
	// O_NONBLOCK: opening a FIFO must not block; O_NOCTTY: opening a
	// terminal must not make it ours. Neither changes how a regular file reads.
	f, err := t.root.OpenFile(clean, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, classify(clean, err)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat boot file %s: %w", clean, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, fmt.Errorf("%w: %s is not a regular file (%s)", ErrNotFound, clean, fi.Mode().Type())
	}
	return &File{File: f, Name: clean, Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// classify maps an error of os.Root to the package's sentinels.
func classify(name string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w: %s", ErrNotFound, name)
	case isEscape(err), errors.Is(err, syscall.ELOOP):
		// ELOOP: O_NOFOLLOW met a symlink os.Root would not resolve, or a
		// symlink loop; either way the name does not lead to a file here.
		return fmt.Errorf("%w: %s leads outside the root: %v", ErrRefused, name, err)
	default:
		return fmt.Errorf("open boot file %s: %w", name, err)
	}
}

// isEscape reports whether err is os.Root's refusal of a path that leaves
// the root. The os package does not export that error, so it is matched by
// its text; TestOpen's symlink cases catch a change in a new Go release.
func isEscape(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Err != nil && pe.Err.Error() == "path escapes from parent"
}
