// Package elfdeps lists the shared libraries a dynamically linked ELF
// program needs to run: its interpreter (PT_INTERP, the dynamic loader) and
// every DT_NEEDED library, transitively, found in the multiarch library
// directories the way the loader would find them without ld.so.cache.
package elfdeps

import (
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// DefaultDirs are where Debian's loader finds amd64 libraries.
var DefaultDirs = []string{"/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64"}

// Lib is one file the program needs.
type Lib struct {
	// Path is where the program looks for it: the interpreter's path as
	// PT_INTERP gives it, or the search directory joined with the soname.
	// This is where it goes in the initramfs.
	Path string `json:"path"`
	// Source is the real file, every symlink followed: its content is what
	// goes there.
	Source string `json:"-"`
}

// Resolver finds libraries in Dirs, in order (DefaultDirs when empty).
type Resolver struct {
	Dirs []string
}

// Needed returns the libraries the ELF file at path needs, sorted by Path;
// none for a statically linked program. A library that is not found is an
// error naming it and the program.
func (r Resolver) Needed(path string) ([]Lib, error) {
	dirs := r.Dirs
	if len(dirs) == 0 {
		dirs = DefaultDirs
	}
	found := map[string]Lib{}
	seen := map[string]bool{}
	var walk func(file, who string) error
	walk = func(file, who string) error {
		interp, needed, err := read(file)
		if err != nil {
			return err
		}
		if interp != "" && !seen[interp] {
			seen[interp] = true
			// libc lists the loader as DT_NEEDED; the loader is that library.
			seen[filepath.Base(interp)] = true
			src, err := filepath.EvalSymlinks(interp)
			if err != nil {
				return fmt.Errorf("interpreter %s of %s: %w", interp, who, err)
			}
			found[interp] = Lib{Path: interp, Source: src}
		}
		for _, soname := range needed {
			if seen[soname] {
				continue
			}
			seen[soname] = true
			lib, err := find(dirs, soname)
			if err != nil {
				return fmt.Errorf("library %s needed by %s: %w", soname, who, err)
			}
			found[lib.Path] = lib
			if err := walk(lib.Source, soname); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(path, path); err != nil {
		return nil, err
	}
	libs := make([]Lib, 0, len(found))
	for _, l := range found {
		libs = append(libs, l)
	}
	sort.Slice(libs, func(i, j int) bool { return libs[i].Path < libs[j].Path })
	return libs, nil
}

// read returns the interpreter and the DT_NEEDED entries of an ELF file.
func read(path string) (string, []string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", nil, fmt.Errorf("read ELF %s: %w", path, err)
	}
	defer f.Close()
	var interp string
	for _, p := range f.Progs {
		if p.Type != elf.PT_INTERP {
			continue
		}
		b := make([]byte, p.Filesz)
		if _, err := p.ReadAt(b, 0); err != nil {
			return "", nil, fmt.Errorf("read PT_INTERP of %s: %w", path, err)
		}
		if n := len(b); n > 0 && b[n-1] == 0 {
			b = b[:n-1]
		}
		interp = string(b)
	}
	needed, err := f.ImportedLibraries()
	if err != nil {
		return "", nil, fmt.Errorf("read DT_NEEDED of %s: %w", path, err)
	}
	if interp != "" && !filepath.IsAbs(interp) {
		return "", nil, fmt.Errorf("%s: interpreter %q is not an absolute path", path, interp)
	}
	return interp, needed, nil
}

func find(dirs []string, soname string) (Lib, error) {
	if soname != filepath.Base(soname) {
		return Lib{}, fmt.Errorf("%q is not a plain file name", soname)
	}
	for _, d := range dirs {
		p := filepath.Join(d, soname)
		src, err := filepath.EvalSymlinks(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return Lib{}, err
		}
		if st, err := os.Stat(src); err != nil || !st.Mode().IsRegular() {
			continue
		}
		return Lib{Path: p, Source: src}, nil
	}
	return Lib{}, fmt.Errorf("not found in %v (install the package that ships it, or build the program with CGO_ENABLED=0)", dirs)
}
