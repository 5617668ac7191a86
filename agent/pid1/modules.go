package pid1

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Module is one entry of modules.dep.
type Module struct {
	// Name is the module name as the kernel knows it (dashes as underscores).
	Name string
	// Path is the file, relative to the modules directory.
	Path string
	// Deps are the paths of every module it needs, in modules.dep order
	// (depmod lists them so that loading from the last to the first works).
	Deps []string
}

// ModuleName derives a module's name from its file name, as kmod does:
// the base name without .ko and a compression suffix, dashes made underscores.
func ModuleName(path string) string {
	base := filepath.Base(path)
	for _, ext := range []string{".xz", ".zst", ".gz"} {
		base = strings.TrimSuffix(base, ext)
	}
	base = strings.TrimSuffix(base, ".ko")
	return strings.ReplaceAll(base, "-", "_")
}

// ParseModulesDep parses depmod's modules.dep ("path: dep dep …" per line)
// into modules by name. A line without a colon is an error naming its number.
func ParseModulesDep(b []byte) (map[string]Module, error) {
	out := map[string]Module{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		path, deps, ok := strings.Cut(line, ":")
		path = strings.TrimSpace(path)
		if !ok || path == "" || strings.ContainsAny(path, " \t") {
			return nil, fmt.Errorf("modules.dep line %d: want \"path: deps\": %q", n, line)
		}
		m := Module{Name: ModuleName(path), Path: path, Deps: strings.Fields(deps)}
		if m.Name == "" || m.Name == "." {
			return nil, fmt.Errorf("modules.dep line %d: %q names no module", n, path)
		}
		out[m.Name] = m
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return out, nil
}

// LoadOrder returns the module files to load, dependencies first and each
// once, for the named modules; names not in dep are returned as missing.
func LoadOrder(dep map[string]Module, names []string) (paths []string, missing []string) {
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, n := range names {
		m, ok := dep[n]
		if !ok {
			m, ok = dep[ModuleName(n)]
		}
		if !ok {
			missing = append(missing, n)
			continue
		}
		for i := len(m.Deps) - 1; i >= 0; i-- {
			add(m.Deps[i])
		}
		add(m.Path)
	}
	return paths, missing
}

// ModuleOptions says which modules to load and from where.
type ModuleOptions struct {
	// Names are the modules wanted, e.g. "virtio_net", "e1000e", "nvme".
	Names []string
	// Dir holds modules.dep and the module files; default
	// /lib/modules/<running kernel release>.
	Dir string
	// Sys is where sysfs is mounted, to see what is loaded; default /sys.
	Sys string
	// Logger receives progress and warnings; nil discards them.
	Logger *slog.Logger
	// Finit loads one module file (default finit_module(2)); tests replace it.
	Finit func(f *os.File, compressed bool) error
}

// ModuleReport says what LoadModules did.
type ModuleReport struct {
	// Loaded are module names loaded now; Present were loaded or built in
	// already; Missing were asked for but are not in modules.dep.
	Loaded, Present, Missing []string
}

// LoadModules loads the named modules and their dependencies. A module
// already loaded or built in is fine, and a module this kernel does not have
// is a warning (a server lacks most NIC drivers the image carries); a module
// that is there but fails to load is an error, naming it, after every other
// module was tried.
func LoadModules(o ModuleOptions) (ModuleReport, error) {
	var rep ModuleReport
	if o.Dir == "" {
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return rep, fmt.Errorf("kernel release: %w", err)
		}
		o.Dir = filepath.Join("/lib/modules", unix.ByteSliceToString(u.Release[:]))
	}
	if o.Sys == "" {
		o.Sys = "/sys"
	}
	if o.Finit == nil {
		o.Finit = finit
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	b, err := os.ReadFile(filepath.Join(o.Dir, "modules.dep"))
	if err != nil {
		return rep, fmt.Errorf("read the module index (is the initramfs missing %s?): %w", o.Dir, err)
	}
	dep, err := ParseModulesDep(b)
	if err != nil {
		return rep, err
	}
	builtin := map[string]bool{}
	if b, err := os.ReadFile(filepath.Join(o.Dir, "modules.builtin")); err == nil {
		for _, l := range strings.Fields(string(b)) {
			builtin[ModuleName(l)] = true
		}
	}
	var want []string
	for _, n := range o.Names {
		if builtin[ModuleName(n)] {
			rep.Present = append(rep.Present, ModuleName(n))
			continue
		}
		want = append(want, n)
	}
	paths, missing := LoadOrder(dep, want)
	for _, n := range missing {
		log.Warn("kernel module not found, skipping", "module", n, "dir", o.Dir)
	}
	rep.Missing = missing
	var errs []error
	for _, p := range paths {
		name := ModuleName(p)
		if _, err := os.Stat(filepath.Join(o.Sys, "module", name)); err == nil {
			rep.Present = append(rep.Present, name)
			continue
		}
		err := loadFile(filepath.Join(o.Dir, p), o.Finit)
		switch {
		case errors.Is(err, unix.EEXIST):
			rep.Present = append(rep.Present, name)
		case err != nil:
			log.Error("kernel module failed to load", "module", name, "err", err)
			errs = append(errs, fmt.Errorf("load module %s: %w", name, err))
		default:
			log.Info("kernel module loaded", "module", name)
			rep.Loaded = append(rep.Loaded, name)
		}
	}
	return rep, errors.Join(errs...)
}

func loadFile(path string, load func(*os.File, bool) error) error {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s is listed in modules.dep but missing: %w", path, err)
	}
	if err != nil {
		return err
	}
	defer f.Close()
	compressed := !strings.HasSuffix(path, ".ko")
	return load(f, compressed)
}

// finit loads a module with finit_module(2); compressed files are handed to
// the kernel to decompress (MODULE_INIT_COMPRESSED_FILE, Linux 5.17 and
// later, with CONFIG_MODULE_DECOMPRESS).
func finit(f *os.File, compressed bool) error {
	flags := 0
	if compressed {
		flags = unix.MODULE_INIT_COMPRESSED_FILE
	}
	return unix.FinitModule(int(f.Fd()), "", flags)
}
