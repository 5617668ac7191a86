// Package cpio writes reproducible initramfs archives: newc cpio records
// (through u-root's pkg/cpio) in sorted order with fixed metadata, gzip'ed
// with a fixed header, so the same entries always give the same bytes.
//
// What is fixed, and why it is enough for the kernel's initramfs unpacker
// (init/initramfs.c): every record has uid and gid 0, the one mtime given,
// nlink 1 (2 for directories), dev 0, and an inode number that is its place
// in the sorted list (1, 2, …), so no two records look like hard links. The
// gzip header carries no file name and mtime 0 (RFC 1952 §2.3.1: "MTIME = 0
// means no time stamp is available").
package cpio

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	ucpio "github.com/u-root/u-root/pkg/cpio"
)

// Entry is one file of the archive.
type Entry struct {
	// Name is the path inside the archive; a leading "/" is dropped.
	Name string
	// Mode holds the type (fs.ModeDir, fs.ModeSymlink, fs.ModeDevice|
	// fs.ModeCharDevice, or none for a regular file) and the permission bits.
	Mode fs.FileMode
	// Data is a regular file's content, unless Source is set.
	Data []byte
	// Source is a host file whose content (symlinks followed) is the
	// regular file's content; it is read when the archive is written.
	Source string
	// Target is a symlink's target.
	Target string
	// Major and Minor are a character device's numbers.
	Major, Minor uint64
}

// permBits are the bits of an fs.FileMode that a record keeps besides its type.
const permBits = fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky

// Dir is a directory entry.
func Dir(name string, perm fs.FileMode) Entry {
	return Entry{Name: name, Mode: fs.ModeDir | perm&permBits}
}

// File is a regular file with the content of the host file src.
func File(name, src string, perm fs.FileMode) Entry {
	return Entry{Name: name, Mode: perm & permBits, Source: src}
}

// Bytes is a regular file with the given content.
func Bytes(name string, data []byte, perm fs.FileMode) Entry {
	return Entry{Name: name, Mode: perm & permBits, Data: data}
}

// CharDev is a character device node.
func CharDev(name string, perm fs.FileMode, major, minor uint64) Entry {
	return Entry{Name: name, Mode: fs.ModeDevice | fs.ModeCharDevice | perm&permBits, Major: major, Minor: minor}
}

// Options fix the metadata every record gets.
type Options struct {
	// MTime is the modification time of every record, in seconds since the
	// epoch: SOURCE_DATE_EPOCH, or 0.
	MTime int64
}

// Normalize checks the entries and returns them sorted by name, with the
// parent directories that were not listed added (mode 0755). Sorting by
// name puts every directory before what it holds, since a path sorts
// before any longer path it is a prefix of.
func Normalize(entries []Entry) ([]Entry, error) {
	byName := make(map[string]Entry, len(entries))
	for _, e := range entries {
		name, err := cleanName(e.Name)
		if err != nil {
			return nil, err
		}
		e.Name = name
		if prev, ok := byName[name]; ok {
			if prev.Mode.IsDir() && e.Mode.IsDir() && prev.Mode == e.Mode {
				continue
			}
			return nil, fmt.Errorf("cpio: %s is listed twice", name)
		}
		byName[name] = e
	}
	for name := range byName {
		for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
			p, ok := byName[dir]
			if !ok {
				byName[dir] = Dir(dir, 0o755)
				continue
			}
			if !p.Mode.IsDir() {
				return nil, fmt.Errorf("cpio: %s is inside %s, which is not a directory", name, dir)
			}
		}
	}
	out := make([]Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// cleanName returns the archive name of p: relative, cleaned, without "..".
func cleanName(p string) (string, error) {
	name := strings.TrimSuffix(strings.TrimLeft(p, "/"), "/")
	if name == "" || name == "." || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") {
		return "", fmt.Errorf("cpio: bad entry name %q: want a clean path such as usr/lib/x", p)
	}
	return name, nil
}

// Write writes the entries as a newc cpio archive with its trailer.
func Write(w io.Writer, entries []Entry, opts Options) error {
	sorted, err := Normalize(entries)
	if err != nil {
		return err
	}
	rw := ucpio.Newc.Writer(w)
	for i, e := range sorted {
		rec, err := record(e, uint64(i+1), opts)
		if err != nil {
			return err
		}
		if err := rw.WriteRecord(rec); err != nil {
			return fmt.Errorf("cpio: write %s: %w", e.Name, err)
		}
	}
	if err := ucpio.WriteTrailer(rw); err != nil {
		return fmt.Errorf("cpio: write trailer: %w", err)
	}
	return nil
}

// WriteGzip writes the archive gzip-compressed (best compression), with a
// header that has no name and no mtime.
func WriteGzip(w io.Writer, entries []Entry, opts Options) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	// The zero Header: no Name, no Comment, ModTime zero (written as 0), OS 255.
	if err := Write(zw, entries, opts); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("cpio: gzip: %w", err)
	}
	return nil
}

func record(e Entry, ino uint64, opts Options) (ucpio.Record, error) {
	info := ucpio.Info{
		Ino:   ino,
		Mode:  uint64(e.Mode.Perm()) | setid(e.Mode),
		NLink: 1,
		MTime: uint64(opts.MTime),
		Name:  e.Name,
	}
	switch {
	case e.Mode.IsDir():
		info.Mode |= ucpio.S_IFDIR
		info.NLink = 2
		return ucpio.Record{Info: info}, nil
	case e.Mode&fs.ModeSymlink != 0:
		if e.Target == "" {
			return ucpio.Record{}, fmt.Errorf("cpio: symlink %s has no target", e.Name)
		}
		info.Mode |= ucpio.S_IFLNK
		return ucpio.StaticRecord([]byte(e.Target), info), nil
	case e.Mode&fs.ModeCharDevice != 0:
		info.Mode |= ucpio.S_IFCHR
		info.Rmajor, info.Rminor = e.Major, e.Minor
		return ucpio.Record{Info: info}, nil
	case e.Mode.IsRegular():
		info.Mode |= ucpio.S_IFREG
		if e.Source == "" {
			return ucpio.StaticRecord(e.Data, info), nil
		}
		// Read whole: module and library files are small, the agent a few
		// tens of MB, and a file that changes while we copy it must not
		// make a record whose size and content disagree.
		data, err := os.ReadFile(e.Source)
		if err != nil {
			return ucpio.Record{}, fmt.Errorf("cpio: read %s for %s: %w", e.Source, e.Name, err)
		}
		return ucpio.StaticRecord(data, info), nil
	default:
		return ucpio.Record{}, fmt.Errorf("cpio: %s: unsupported file type %v", e.Name, e.Mode.Type())
	}
}

func setid(m fs.FileMode) uint64 {
	var v uint64
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

// Record is one record read back from an archive.
type Record struct {
	Name  string
	Mode  uint32 // Linux st_mode: type and permission bits
	UID   uint64
	GID   uint64
	MTime uint64
	Ino   uint64
	Data  []byte // content of a regular file, target of a symlink
}

// Read reads every record of an uncompressed newc archive, the trailer left
// out. It is for tests and for checking a built image.
func Read(data []byte) ([]Record, error) {
	recs, err := ucpio.ReadAllRecords(ucpio.Newc.Reader(bytes.NewReader(data)))
	if err != nil {
		return nil, fmt.Errorf("cpio: read: %w", err)
	}
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		if r.Name == ucpio.Trailer {
			continue
		}
		rec := Record{Name: r.Name, Mode: uint32(r.Mode), UID: r.UID, GID: r.GID, MTime: r.MTime, Ino: r.Ino}
		if r.ReaderAt != nil && r.FileSize > 0 {
			rec.Data = make([]byte, r.FileSize)
			if _, err := r.ReadAt(rec.Data, 0); err != nil && err != io.EOF {
				return nil, fmt.Errorf("cpio: read %s: %w", r.Name, err)
			}
		}
		out = append(out, rec)
	}
	return out, nil
}
