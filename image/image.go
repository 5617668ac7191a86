// Package image builds the node image's boot artifacts: the kernel
// (vmlinuz, copied from a Debian linux-image package unpacked with dpkg -x),
// the initramfs (initrd.img: corral-agent as /init, its shared libraries, the
// kernel modules a server needs to reach its network and disks, pci.ids) and
// manifest.json, which records the sha256 and size of every artifact and the
// inputs they were built from.
//
// The build is reproducible: the same inputs give byte-identical initrd.img
// and manifest.json (see package cpio for how the archive is fixed, and
// docs/image.md). A build whose inputs match those recorded in an existing
// manifest.json, with its artifacts intact, is not redone.
//
// With Options.Rootfs it also builds rootfs.squashfs: a Debian tree made by
// debootstrap (cached by its inputs), the agent and the pinned k3s (k3s.go),
// packed by mksquashfs; see rootfs.go.
package image

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/image/cpio"
	"corral.io/corral/image/elfdeps"
	"corral.io/corral/image/modules"
)

// The manifest's document type.
const (
	APIVersion = api.Version
	Kind       = api.KindImageManifest
)

// recipe is the version of what BuildInitramfs puts where. Change it when
// the initramfs layout changes, so that images built before are rebuilt.
const recipe = 1

// Artifact file names in the output directory.
const (
	ManifestFile  = api.ImageManifestFile
	InitramfsFile = "initrd.img"
	KernelFile    = "vmlinuz"
)

// DefaultPCIIDs is where Debian's pci.ids package puts the PCI ID database.
const DefaultPCIIDs = "/usr/share/misc/pci.ids"

// KernelPackageFile, in a kernel directory, holds the "Package:" and
// "Version:" fields of the .deb it was unpacked from (image/fetch-kernel.sh
// writes it with dpkg-deb -f).
const KernelPackageFile = "corral-kernel-package"

// Options say what to build from and where to put it.
type Options struct {
	// KernelDir is a Debian linux-image package unpacked with dpkg -x and
	// depmod run on it: boot/vmlinuz-<kver> and lib/modules/<kver>/.
	KernelDir string
	// Agent is the corral-agent binary, /init in the initramfs.
	Agent string
	// OutDir receives vmlinuz, initrd.img and manifest.json.
	OutDir string
	// Version is the image version recorded in the manifest.
	Version string
	// Modules are the kernel modules to include by name, with their
	// dependencies; nil means modules.Default.
	Modules []string
	// PCIIDs is the pci.ids file to include; "" means DefaultPCIIDs. It is
	// left out, with a warning, when it does not exist.
	PCIIDs string
	// LibDirs are where the agent's shared libraries are looked for; nil
	// means elfdeps.DefaultDirs.
	LibDirs []string
	// SourceDateEpoch is the mtime of every file in the initramfs
	// (the SOURCE_DATE_EPOCH convention); 0 is the default.
	SourceDateEpoch int64
	// Rootfs, when set, builds rootfs.squashfs too.
	Rootfs *RootfsOptions
	// Log receives progress; nil discards it.
	Log *slog.Logger
}

// SourceDateEpoch reads the SOURCE_DATE_EPOCH environment variable
// (https://reproducible-builds.org/specs/source-date-epoch/); 0 when unset.
func SourceDateEpoch() (int64, error) {
	v := os.Getenv("SOURCE_DATE_EPOCH")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("SOURCE_DATE_EPOCH=%q: want a non-negative number of seconds since 1970", v)
	}
	return n, nil
}

// plan is everything gathered before anything is written.
type plan struct {
	ix        *modules.Index
	kernel    Kernel
	vmlinuz   string
	modDir    string
	res       modules.Resolution
	depFile   []byte
	builtin   []byte
	libs      []elfdeps.Lib
	pciIDs    string
	inputs    Inputs
	initramfs Initramfs
}

// BuildInitramfs builds vmlinuz, initrd.img and manifest.json into
// opts.OutDir and returns the manifest. When the manifest there already has
// the same version and inputs and its artifacts are intact, it returns that
// manifest and writes nothing.
func BuildInitramfs(opts Options) (Manifest, error) {
	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.KernelDir == "" || opts.Agent == "" || opts.OutDir == "" || opts.Version == "" {
		return Manifest{}, errors.New("image build: the kernel directory, agent, output directory and version are all required")
	}
	start := time.Now()
	p, err := gather(opts, log)
	if err != nil {
		return Manifest{}, err
	}
	var rp *rootfsPlan
	if opts.Rootfs != nil {
		if rp, err = prepareRootfs(context.Background(), *opts.Rootfs, log); err != nil {
			return Manifest{}, fmt.Errorf("root filesystem: %w", err)
		}
		p.inputs.Rootfs = &rp.inputs
		// The root filesystem carries the initramfs' modules and those
		// its programs load (k3s, mkfs/mount of data disks).
		rp.modDir, rp.kver = p.modDir, p.kernel.Version
		rp.modules = p.ix.Resolve(append(slices.Clone(p.inputs.Modules), p.ix.Under(rp.inputs.ModuleDirs)...))
		log.Info("root filesystem modules resolved", "step", "modules", "files", len(rp.modules.Modules))
	}
	if m, ok := upToDate(opts, p.inputs, log); ok {
		log.Info("image is up to date, not rebuilt", "version", m.Version, "dir", opts.OutDir)
		return m, nil
	}
	if err := os.MkdirAll(opts.OutDir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("create output directory: %w", err)
	}

	m := Manifest{
		APIVersion: APIVersion,
		Kind:       Kind,
		Version:    opts.Version,
		Kernel:     p.kernel,
		Inputs:     p.inputs,
		Initramfs:  p.initramfs,
	}
	log.Info("writing initramfs", "step", "initramfs", "files", len(p.libs)+len(p.res.Modules)+1)
	t := time.Now()
	initrd, err := writeFile(filepath.Join(opts.OutDir, InitramfsFile), func(w io.Writer) error {
		return cpio.WriteGzip(w, entries(p, opts), cpio.Options{MTime: opts.SourceDateEpoch})
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("write initramfs: %w", err)
	}
	log.Info("initramfs written", "step", "initramfs", "bytes", initrd.Size, "took", time.Since(t).Round(time.Millisecond))
	kernel, err := writeFile(filepath.Join(opts.OutDir, KernelFile), func(w io.Writer) error {
		f, err := os.Open(p.vmlinuz)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(w, f)
		return err
	})
	if err != nil {
		return Manifest{}, fmt.Errorf("copy kernel: %w", err)
	}
	m.Artifacts = []Artifact{initrd, kernel}
	if rp != nil {
		rootfs, err := buildSquashfs(context.Background(), rp, opts.Agent, opts.OutDir, opts.SourceDateEpoch, log)
		if err != nil {
			return Manifest{}, fmt.Errorf("root filesystem: %w", err)
		}
		m.Artifacts = append(m.Artifacts, rootfs)
		m.K3s = &rp.info
	}
	slices.SortFunc(m.Artifacts, func(a, b Artifact) int { return strings.Compare(a.Name, b.Name) })
	// The manifest is written last: a build that stops half-way leaves no
	// manifest that vouches for its files.
	if _, err := writeFile(filepath.Join(opts.OutDir, ManifestFile), func(w io.Writer) error {
		_, err := w.Write(encodeManifest(m))
		return err
	}); err != nil {
		return Manifest{}, fmt.Errorf("write manifest: %w", err)
	}
	log.Info("image built", "version", m.Version, "kernel", m.Kernel.Version, "dir", opts.OutDir, "took", time.Since(start).Round(time.Millisecond))
	return m, nil
}

// gather finds the kernel, the modules and the libraries and digests every
// input.
func gather(opts Options, log *slog.Logger) (*plan, error) {
	p := &plan{}
	log.Info("reading kernel", "step", "kernel", "dir", opts.KernelDir)
	kver, err := kernelVersion(opts.KernelDir)
	if err != nil {
		return nil, err
	}
	p.kernel.Version = kver
	p.vmlinuz = filepath.Join(opts.KernelDir, "boot", "vmlinuz-"+kver)
	for _, d := range []string{"lib/modules", "usr/lib/modules"} {
		if st, err := os.Stat(filepath.Join(opts.KernelDir, d, kver)); err == nil && st.IsDir() {
			p.modDir = filepath.Join(opts.KernelDir, d, kver)
			break
		}
	}
	if p.modDir == "" {
		return nil, fmt.Errorf("kernel %s: no lib/modules/%s in %s", kver, kver, opts.KernelDir)
	}
	p.kernel.Package, p.kernel.PackageVersion, err = kernelPackage(opts.KernelDir)
	if err != nil {
		return nil, err
	}
	if p.kernel.PackageVersion == "" {
		log.Warn("kernel package version unknown: the manifest will not record it", "file", filepath.Join(opts.KernelDir, KernelPackageFile), "fix", "unpack the kernel with image/fetch-kernel.sh")
	}

	in := &p.inputs
	in.Recipe = recipe
	in.KernelPackage, in.KernelPackageVersion = p.kernel.Package, p.kernel.PackageVersion
	in.SourceDateEpoch = opts.SourceDateEpoch
	if in.AgentSHA256, err = sha256File(opts.Agent); err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	if in.VmlinuzSHA256, err = sha256File(p.vmlinuz); err != nil {
		return nil, fmt.Errorf("kernel: %w", err)
	}

	// Modules.
	wanted := opts.Modules
	if wanted == nil {
		wanted = modules.Default
	}
	in.Modules = append([]string{}, wanted...)
	modFS := os.DirFS(p.modDir)
	ix, err := modules.Load(modFS)
	if err != nil {
		return nil, fmt.Errorf("kernel %s: %w", kver, err)
	}
	p.ix = ix
	if in.ModulesDepSHA256, err = sha256File(filepath.Join(p.modDir, "modules.dep")); err != nil {
		return nil, err
	}
	p.res = ix.Resolve(wanted)
	p.depFile = p.res.DepFile()
	if b, err := fs.ReadFile(modFS, "modules.builtin"); err == nil {
		p.builtin = b
	}
	for _, name := range p.res.Missing {
		log.Warn("kernel module not found, left out", "module", name, "kernel", kver)
	}
	p.initramfs.Modules = []string{}
	for _, mod := range p.res.Modules {
		if _, err := os.Stat(filepath.Join(p.modDir, mod.Path)); err != nil {
			return nil, fmt.Errorf("module %s: %w", mod.Name, err)
		}
		p.initramfs.Modules = append(p.initramfs.Modules, mod.Path)
	}
	p.initramfs.BuiltinModules = p.res.Builtin
	p.initramfs.MissingModules = p.res.Missing
	log.Info("modules resolved", "step", "modules", "files", len(p.res.Modules), "builtin", len(p.res.Builtin), "missing", len(p.res.Missing))

	// Shared libraries.
	p.libs, err = elfdeps.Resolver{Dirs: opts.LibDirs}.Needed(opts.Agent)
	if err != nil {
		return nil, fmt.Errorf("agent's shared libraries: %w", err)
	}
	in.Libraries = []File{}
	p.initramfs.Libraries = []string{}
	for _, l := range p.libs {
		sum, err := sha256File(l.Source)
		if err != nil {
			return nil, err
		}
		in.Libraries = append(in.Libraries, File{Path: l.Path, SHA256: sum})
		p.initramfs.Libraries = append(p.initramfs.Libraries, l.Path)
	}
	log.Info("agent's libraries resolved", "step", "libraries", "count", len(p.libs))

	// pci.ids, optional.
	pciIDs := opts.PCIIDs
	if pciIDs == "" {
		pciIDs = DefaultPCIIDs
	}
	switch sum, err := sha256File(pciIDs); {
	case err == nil:
		p.pciIDs, in.PCIIDsSHA256, p.initramfs.PCIIDs = pciIDs, sum, true
	case errors.Is(err, fs.ErrNotExist):
		log.Warn("pci.ids not found, left out: the agent reports PCI devices by number only", "file", pciIDs, "fix", "apt-get install pci.ids")
	default:
		return nil, err
	}
	return p, nil
}

// entries is the initramfs' file list.
func entries(p *plan, opts Options) []cpio.Entry {
	es := []cpio.Entry{
		cpio.File("init", opts.Agent, 0o755),
		cpio.Dir("proc", 0o555),
		cpio.Dir("sys", 0o555),
		cpio.Dir("dev", 0o755),
		// The kernel opens /dev/console for /init's stdio before anything
		// could mount devtmpfs; without it /init runs with no console.
		cpio.CharDev("dev/console", 0o600, 5, 1),
		cpio.Dir("run", 0o755),
		cpio.Dir("tmp", 0o777|fs.ModeSticky),
		cpio.Dir("etc", 0o755),
	}
	for _, l := range p.libs {
		es = append(es, cpio.File(l.Path, l.Source, 0o755))
	}
	modRoot := path.Join("lib/modules", p.kernel.Version)
	for _, m := range p.res.Modules {
		es = append(es, cpio.File(path.Join(modRoot, m.Path), filepath.Join(p.modDir, filepath.FromSlash(m.Path)), 0o644))
	}
	es = append(es, cpio.Bytes(path.Join(modRoot, "modules.dep"), p.depFile, 0o644))
	if p.builtin != nil {
		es = append(es, cpio.Bytes(path.Join(modRoot, "modules.builtin"), p.builtin, 0o644))
	}
	if p.pciIDs != "" {
		es = append(es, cpio.File("usr/share/misc/pci.ids", p.pciIDs, 0o644))
	}
	return es
}

// upToDate returns the manifest in the output directory when it was built
// from the same inputs with the same version and its artifacts are intact.
func upToDate(opts Options, in Inputs, log *slog.Logger) (Manifest, bool) {
	m, err := ReadManifest(filepath.Join(opts.OutDir, ManifestFile))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			log.Warn("existing manifest unreadable, rebuilding", "err", err)
		}
		return Manifest{}, false
	}
	a, _ := json.Marshal(m.Inputs)
	b, _ := json.Marshal(in)
	if m.Version != opts.Version || !bytes.Equal(a, b) {
		log.Info("inputs changed, rebuilding", "dir", opts.OutDir)
		return Manifest{}, false
	}
	names := []string{InitramfsFile, KernelFile}
	if in.Rootfs != nil {
		names = append(names, RootfsFile)
	}
	for _, name := range names {
		want, ok := m.Artifact(name)
		if !ok {
			return Manifest{}, false
		}
		sum, err := sha256File(filepath.Join(opts.OutDir, name))
		if err != nil || sum != want.SHA256 {
			log.Warn("artifact missing or changed, rebuilding", "file", name)
			return Manifest{}, false
		}
	}
	return m, true
}

// kernelVersion finds the one boot/vmlinuz-<kver> in dir.
func kernelVersion(dir string) (string, error) {
	found, err := filepath.Glob(filepath.Join(dir, "boot", "vmlinuz-*"))
	if err != nil {
		return "", err
	}
	switch len(found) {
	case 0:
		return "", fmt.Errorf("no boot/vmlinuz-* in %s: unpack a linux-image package there (image/fetch-kernel.sh)", dir)
	case 1:
		return strings.TrimPrefix(filepath.Base(found[0]), "vmlinuz-"), nil
	default:
		return "", fmt.Errorf("%d kernels in %s/boot: unpack one linux-image package per directory", len(found), dir)
	}
}

// kernelPackage reads KernelPackageFile; both fields are empty when it is
// absent.
func kernelPackage(dir string) (pkg, version string, err error) {
	f, err := os.Open(filepath.Join(dir, KernelPackageFile))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", nil
	}
	if err != nil {
		return "", "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		switch strings.TrimSpace(k) {
		case "Package":
			pkg = strings.TrimSpace(v)
		case "Version":
			version = strings.TrimSpace(v)
		}
	}
	return pkg, version, sc.Err()
}

func sha256File(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeFile writes a file through a temporary file and a rename, and
// returns its digest and size.
func writeFile(p string, write func(io.Writer) error) (Artifact, error) {
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".*")
	if err != nil {
		return Artifact{}, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, h), 1<<20)
	if err := write(bw); err != nil {
		tmp.Close()
		return Artifact{}, err
	}
	if err := bw.Flush(); err != nil {
		tmp.Close()
		return Artifact{}, err
	}
	st, err := tmp.Stat()
	if err != nil {
		tmp.Close()
		return Artifact{}, err
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return Artifact{}, err
	}
	if err := tmp.Close(); err != nil {
		return Artifact{}, err
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return Artifact{}, err
	}
	return Artifact{Name: filepath.Base(p), SHA256: hex.EncodeToString(h.Sum(nil)), Size: st.Size()}, nil
}
