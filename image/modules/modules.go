// Package modules picks the kernel modules an initramfs needs: it parses a
// kernel's modules.dep (as depmod writes it) and resolves a list of wanted
// module names to the files to copy, with their dependencies, in the order
// they must be loaded.
//
// Module files keep the names the kernel package gave them: foo.ko,
// foo.ko.xz or foo.ko.zst (and foo.ko.gz) are all recorded as they are.
// A wanted module that has no file may be built into the kernel (listed in
// modules.builtin) or absent altogether; neither is an error, since kernels
// differ in what they build in, and the caller reports them.
package modules

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"
)

// Default is what a server needs to reach its network and its disks and to
// mount the node root: virtio for VMs, the common Intel and Mellanox NICs,
// NVMe, AHCI and the usual RAID/HBA controllers with sd_mod, without which
// no SCSI, SAS or SATA disk behind them gets a block device, virtio_scsi,
// squashfs, overlay and loop,
// and virtio_rng: early in boot the kernel's random pool may not be ready,
// and the agent needs randomness at once (DHCP transaction ids, TLS); a VM
// without RDRAND (QEMU TCG) waits minutes for it without a hardware RNG.
var Default = []string{
	"virtio_net", "virtio_blk", "virtio_scsi", "virtio_pci", "virtio_rng",
	"e1000", "e1000e", "igb", "ixgbe", "i40e", "ice", "mlx5_core",
	"nvme", "ahci", "megaraid_sas", "mpt3sas", "sd_mod",
	"squashfs", "overlay", "loop",
}

// Dep is one line of modules.dep: a module file and the files it needs,
// paths relative to /lib/modules/<kver>.
type Dep struct {
	Path string
	Deps []string
}

// maxLine bounds one modules.dep line; real lines are well under 4 KiB.
const maxLine = 1 << 20

// ParseDep parses modules.dep. Blank lines and lines starting with '#' are
// skipped; every other line must be "PATH: [DEP...]" with paths that are
// relative and clean (fs.ValidPath), each PATH at most once.
func ParseDep(r io.Reader) ([]Dep, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), maxLine)
	var deps []Dep
	seen := make(map[string]bool)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p, rest, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("modules.dep line %d: no ':' after the module path", n)
		}
		p = strings.TrimSpace(p)
		if err := checkPath(p); err != nil {
			return nil, fmt.Errorf("modules.dep line %d: %w", n, err)
		}
		if seen[p] {
			return nil, fmt.Errorf("modules.dep line %d: %s is listed twice", n, p)
		}
		seen[p] = true
		d := Dep{Path: p}
		for _, dp := range strings.Fields(rest) {
			if err := checkPath(dp); err != nil {
				return nil, fmt.Errorf("modules.dep line %d: dependency of %s: %w", n, p, err)
			}
			d.Deps = append(d.Deps, dp)
		}
		deps = append(deps, d)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return deps, nil
}

func checkPath(p string) error {
	if !fs.ValidPath(p) || p == "." || strings.ContainsAny(p, ": \t") {
		return fmt.Errorf("bad module path %q: want one relative to /lib/modules/<kver>, such as kernel/fs/overlayfs/overlay.ko", p)
	}
	if Name(p) == "" {
		return fmt.Errorf("bad module path %q: not a .ko, .ko.xz, .ko.zst or .ko.gz file", p)
	}
	return nil
}

// FormatDep writes deps in modules.dep's format; ParseDep reads it back.
func FormatDep(deps []Dep) []byte {
	var b bytes.Buffer
	for _, d := range deps {
		b.WriteString(d.Path)
		b.WriteByte(':')
		for _, dp := range d.Deps {
			b.WriteByte(' ')
			b.WriteString(dp)
		}
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// Name is the module name of a module file, as modprobe and lsmod spell it:
// the base name without .ko and its compression suffix, '-' read as '_'.
// It is "" for a path that is not a module file.
func Name(p string) string {
	base := path.Base(p)
	for _, ext := range []string{".ko", ".ko.xz", ".ko.zst", ".ko.gz"} {
		if stem, ok := strings.CutSuffix(base, ext); ok && stem != "" {
			return normalize(stem)
		}
	}
	return ""
}

func normalize(name string) string { return strings.ReplaceAll(name, "-", "_") }

// Index is a kernel's modules.dep (and modules.builtin) by module name.
type Index struct {
	byName  map[string]Dep
	byPath  map[string]Dep
	builtin map[string]bool
}

// NewIndex indexes parsed modules.dep lines and the names of the built-in
// modules.
func NewIndex(deps []Dep, builtin []string) (*Index, error) {
	ix := &Index{byName: map[string]Dep{}, byPath: map[string]Dep{}, builtin: map[string]bool{}}
	for _, d := range deps {
		name := Name(d.Path)
		if prev, ok := ix.byName[name]; ok {
			return nil, fmt.Errorf("module %s has two files: %s and %s", name, prev.Path, d.Path)
		}
		ix.byName[name] = d
		ix.byPath[d.Path] = d
	}
	for _, b := range builtin {
		ix.builtin[normalize(b)] = true
	}
	return ix, nil
}

// Load reads modules.dep and, if present, modules.builtin from a kernel's
// module directory (fsys is /lib/modules/<kver>).
func Load(fsys fs.FS) (*Index, error) {
	f, err := fsys.Open("modules.dep")
	if err != nil {
		return nil, fmt.Errorf("open modules.dep: %w (unpacked kernels need `depmod -b DIR KVER`; image/fetch-kernel.sh runs it)", err)
	}
	deps, err := ParseDep(f)
	f.Close()
	if err != nil {
		return nil, err
	}
	var builtin []string
	data, err := fs.ReadFile(fsys, "modules.builtin")
	switch {
	case err == nil:
		for _, line := range strings.Fields(string(data)) {
			if n := Name(line); n != "" {
				builtin = append(builtin, n)
			}
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}
	return NewIndex(deps, builtin)
}

// Under returns the names of the modules whose file is one of paths or
// lies under one of them (directories relative to /lib/modules/<kver>,
// e.g. "kernel/net/netfilter"), sorted.
func (ix *Index) Under(paths []string) []string {
	var names []string
	for p, d := range ix.byPath {
		for _, want := range paths {
			want = strings.TrimSuffix(want, "/")
			if p == want || strings.HasPrefix(p, want+"/") {
				names = append(names, Name(d.Path))
				break
			}
		}
	}
	sort.Strings(names)
	return names
}

// Module is one module to put in the initramfs.
type Module struct {
	Name string   `json:"name"`
	Path string   `json:"path"`           // relative to /lib/modules/<kver>
	Deps []string `json:"deps,omitempty"` // paths, as modules.dep lists them
}

// Resolution is what Resolve found.
type Resolution struct {
	// Modules are the wanted modules and everything they need, each once,
	// every module after the modules it needs.
	Modules []Module
	// Builtin are wanted modules that the kernel has built in (sorted).
	Builtin []string
	// Missing are wanted modules the kernel has neither as a file nor
	// built in (sorted).
	Missing []string
}

// Resolve finds the wanted modules (names as modprobe takes them) and their
// dependencies. The result depends only on the index and the wanted list.
func (ix *Index) Resolve(wanted []string) Resolution {
	var res Resolution
	done := make(map[string]bool)
	active := make(map[string]bool)
	var visit func(d Dep)
	visit = func(d Dep) {
		if done[d.Path] || active[d.Path] {
			return // active: a dependency cycle, which depmod refuses; stop here
		}
		active[d.Path] = true
		// modprobe loads a module's dependencies from the last listed to
		// the first; do the same.
		for _, dp := range slices.Backward(d.Deps) {
			dd, ok := ix.byPath[dp]
			if !ok {
				dd = Dep{Path: dp} // listed only as a dependency: no deps of its own known
			}
			visit(dd)
		}
		delete(active, d.Path)
		done[d.Path] = true
		res.Modules = append(res.Modules, Module{Name: Name(d.Path), Path: d.Path, Deps: d.Deps})
	}
	for _, w := range wanted {
		name := normalize(w)
		if d, ok := ix.byName[name]; ok {
			visit(d)
			continue
		}
		if ix.builtin[name] {
			res.Builtin = appendOnce(res.Builtin, name)
		} else {
			res.Missing = appendOnce(res.Missing, name)
		}
	}
	sort.Strings(res.Builtin)
	sort.Strings(res.Missing)
	return res
}

func appendOnce(s []string, v string) []string {
	if slices.Contains(s, v) {
		return s
	}
	return append(s, v)
}

// DepFile is the modules.dep of just the resolved modules, in load order.
func (r Resolution) DepFile() []byte {
	deps := make([]Dep, len(r.Modules))
	for i, m := range r.Modules {
		deps[i] = Dep{Path: m.Path, Deps: m.Deps}
	}
	return FormatDep(deps)
}
