package image

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/image/modules"
)

// RootfsFile is the root filesystem's artifact name.
const RootfsFile = api.ImageRootfsFile

// AgentInRootfs is where the agent is in the root filesystem; the
// initramfs' agent execs it after switch_root.
const AgentInRootfs = "usr/local/bin/corral-agent"

// treeRecipe is the version of what is done to the debootstrap tree before
// it is cached (trimTree); it is part of the tree's cache key, so changing
// it runs debootstrap again.
const treeRecipe = 1

// rootfsRecipe is the version of how a cached tree becomes rootfs.squashfs
// (staging, modules, mksquashfs options); it is in the manifest's inputs,
// so changing it rebuilds images but not the tree.
const rootfsRecipe = 3

// DefaultSuite is the Debian release the root filesystem is made of.
const DefaultSuite = "bookworm"

// DefaultRootfsPackages are installed on top of debootstrap's minbase: what
// a node needs to format and mount its disks (e2fsprogs, xfsprogs, gdisk,
// util-linux), reach the network (iproute2, ca-certificates) and load
// modules (kmod), and name its PCI devices (pci.ids: the agent's inventory
// runs in this root filesystem, not in the initramfs). Ceph is left out: its packages would add hundreds of
// megabytes to a root filesystem that lives in RAM.
var DefaultRootfsPackages = []string{"ca-certificates", "e2fsprogs", "gdisk", "iproute2", "kmod", "pci.ids", "util-linux", "xfsprogs"}

// rootfsTrim are removed from the debootstrap tree: documentation, manual
// pages and translations no node reads (about 55 MB), the downloaded .debs
// and apt's package lists (about 55 MB), and files that hold the build
// host's name, resolver or times.
var rootfsTrim = []string{
	"usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/locale", "usr/share/lintian",
	"var/cache/apt/archives", "var/cache/apt/pkgcache.bin", "var/cache/apt/srcpkgcache.bin",
	"var/lib/apt/lists", "var/cache/ldconfig/aux-cache", "var/cache/debconf/templates.dat-old",
	"var/lib/dpkg/status-old", "var/lib/dpkg/diversions-old", "etc/resolv.conf", "etc/hostname",
}

// RootfsOptions say how to build rootfs.squashfs.
type RootfsOptions struct {
	// Suite is the Debian release; default DefaultSuite.
	Suite string
	// Mirror is the Debian mirror; default the host's (HostMirror).
	Mirror string
	// Packages are installed on top of minbase; nil means DefaultRootfsPackages.
	Packages []string
	// CacheDir keeps debootstrap trees by their inputs, the .debs and a
	// downloaded k3s; required.
	CacheDir string
	// K3s says where k3s comes from (CacheDir is filled in).
	K3s K3sSource
	// AirgapImages is the k3s air-gap image tarball to put at
	// AirgapImagesInRootfs (K3S_AIRGAP_IMAGES); "" builds without one.
	AirgapImages string
	// Compression is mksquashfs' compressor; default zstd.
	Compression string
	// AptDir is where the host's apt sources are read for the mirror;
	// default /etc/apt.
	AptDir string
	// ModuleDirs are the kernel module directories (relative to
	// /lib/modules/<kver>) put in the root filesystem with their
	// dependencies, besides the initramfs' modules; nil means
	// DefaultRootfsModuleDirs.
	ModuleDirs []string
}

// DefaultRootfsModuleDirs are the kernel modules stage 2 may need, which
// modprobe (kmod) finds in /lib/modules/<kver> of the root filesystem: what
// k3s loads (netfilter for kube-proxy and flannel, bridge and
// br_netfilter, vxlan, veth, overlay), the filesystems of data disks (xfs,
// ext4), device mapper, and the kernel's Ceph client (rbd, cephfs).
var DefaultRootfsModuleDirs = []string{
	"kernel/net/netfilter", "kernel/net/ipv4/netfilter", "kernel/net/ipv6/netfilter",
	"kernel/net/bridge", "kernel/drivers/net/vxlan", "kernel/drivers/net/veth.ko",
	"kernel/fs/overlayfs", "kernel/fs/xfs", "kernel/fs/ext4", "kernel/drivers/md",
	"kernel/net/ceph", "kernel/fs/ceph", "kernel/drivers/block/rbd.ko",
}

type rootfsPlan struct {
	tree   string // the cached debootstrap tree
	k3s    string // the k3s binary, "" when none
	airgap string // the air-gap tarball, "" when none
	// airgapAt is where it goes in the root filesystem (relative).
	airgapAt string
	info     K3s
	inputs   RootfsInputs
	// The kernel modules to include, from modDir (kernel release kver).
	modules modules.Resolution
	modDir  string
	kver    string
}

// prepareRootfs makes (or finds in the cache) the debootstrap tree and k3s.
func prepareRootfs(ctx context.Context, o RootfsOptions, log *slog.Logger) (*rootfsPlan, error) {
	if o.CacheDir == "" {
		return nil, errors.New("root filesystem: a cache directory is required")
	}
	cache, err := filepath.Abs(o.CacheDir)
	if err != nil {
		return nil, err
	}
	in := RootfsInputs{Recipe: rootfsRecipe, Suite: o.Suite, Variant: "minbase", Mirror: o.Mirror, Compression: o.Compression}
	if in.Suite == "" {
		in.Suite = DefaultSuite
	}
	if in.Compression == "" {
		in.Compression = "zstd"
	}
	if in.Mirror == "" {
		dir := o.AptDir
		if dir == "" {
			dir = "/etc/apt"
		}
		if in.Mirror, err = HostMirror(dir, in.Suite); err != nil {
			return nil, err
		}
	}
	in.Packages = slices.Clone(o.Packages)
	if in.Packages == nil {
		in.Packages = slices.Clone(DefaultRootfsPackages)
	}
	slices.Sort(in.Packages)
	in.Packages = slices.Compact(in.Packages)
	in.ModuleDirs = slices.Clone(o.ModuleDirs)
	if in.ModuleDirs == nil {
		in.ModuleDirs = slices.Clone(DefaultRootfsModuleDirs)
	}
	if err := checkRootfsInputs(in); err != nil {
		return nil, err
	}

	tree, installed, err := debootstrapTree(ctx, cache, in, log)
	if err != nil {
		return nil, err
	}
	in.Installed = installed
	src := o.K3s
	if src.CacheDir == "" {
		src.CacheDir = filepath.Join(cache, "k3s")
	}
	k3s, info, err := ResolveK3s(ctx, src, log)
	if err != nil {
		return nil, err
	}
	in.K3sSHA256 = info.SHA256
	at, ai, err := ResolveAirgapImages(o.AirgapImages)
	if err != nil {
		return nil, err
	}
	info.AirgapImages = &ai
	in.AirgapImages, in.AirgapImagesSHA256 = ai.Path, ai.SHA256
	if !ai.Included {
		log.Info("building the image without k3s air-gap images: k3s pulls its images over the network (set K3S_AIRGAP_IMAGES=path to k3s-airgap-images-amd64.tar.zst)")
	}
	return &rootfsPlan{tree: tree, k3s: k3s, airgap: o.AirgapImages, airgapAt: at, info: info, inputs: in}, nil
}

// Debian's spellings (Debian Policy §5.6.1 for package names).
var (
	suiteRE   = regexp.MustCompile(`^[a-z][a-z0-9.-]*$`)
	packageRE = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// checkRootfsInputs refuses inputs debootstrap would misread.
func checkRootfsInputs(in RootfsInputs) error {
	if !suiteRE.MatchString(in.Suite) {
		return fmt.Errorf("suite %q: want a Debian release name such as %s", in.Suite, DefaultSuite)
	}
	for _, p := range in.Packages {
		if !packageRE.MatchString(p) {
			return fmt.Errorf("package %q: not a Debian package name", p)
		}
	}
	u, err := url.Parse(in.Mirror)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || strings.ContainsAny(in.Mirror, " \t\n") {
		return fmt.Errorf("mirror %q: want http://host/debian (MIRROR= or --mirror)", in.Mirror)
	}
	return nil
}

// buildSquashfs stages the tree with the agent and k3s and packs it.
func buildSquashfs(ctx context.Context, rp *rootfsPlan, agent, outDir string, epoch int64, log *slog.Logger) (Artifact, error) {
	bin, err := exec.LookPath("mksquashfs")
	if err != nil {
		return Artifact{}, errors.New("mksquashfs is not installed: apt-get install squashfs-tools (or make setup)")
	}
	// A copy of the cached tree made of hard links: cheap, and the files
	// added below are new names, so the cache is not changed.
	stage, err := os.MkdirTemp(filepath.Dir(filepath.Dir(rp.tree)), "stage-")
	if err != nil {
		return Artifact{}, err
	}
	defer os.RemoveAll(stage)
	root := filepath.Join(stage, "root")
	if out, err := exec.CommandContext(ctx, "cp", "-al", rp.tree, root).CombinedOutput(); err != nil {
		return Artifact{}, fmt.Errorf("stage the root filesystem (cp -al): %w: %s", err, out)
	}
	add := map[string]string{AgentInRootfs: agent}
	if rp.k3s != "" {
		add[K3sInRootfs] = rp.k3s
	}
	for dst, src := range add {
		if err := copyFile(src, filepath.Join(root, dst), 0o755); err != nil {
			return Artifact{}, fmt.Errorf("add %s to the root filesystem: %w", dst, err)
		}
	}
	if rp.airgap != "" {
		if err := copyFile(rp.airgap, filepath.Join(root, rp.airgapAt), 0o644); err != nil {
			return Artifact{}, fmt.Errorf("add %s to the root filesystem: %w", rp.airgapAt, err)
		}
		// The file copied must be the one whose digest the manifest records.
		if sum, err := sha256File(filepath.Join(root, rp.airgapAt)); err != nil || sum != rp.inputs.AirgapImagesSHA256 {
			return Artifact{}, fmt.Errorf("K3S_AIRGAP_IMAGES %s changed during the build (sha256 %s, was %s): build again", rp.airgap, sum, rp.inputs.AirgapImagesSHA256)
		}
	}
	// What minbase lacks and every node needs: localhost for the resolver
	// (no /etc/hosts at all otherwise) and the classic mtab link.
	// Removed first: a name in the stage may be a hard link into the cache.
	hosts := filepath.Join(root, "etc/hosts")
	_ = os.Remove(hosts)
	if err := os.WriteFile(hosts, []byte("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"), 0o644); err != nil {
		return Artifact{}, err
	}
	mtab := filepath.Join(root, "etc/mtab")
	_ = os.Remove(mtab)
	if err := os.Symlink("../proc/self/mounts", mtab); err != nil {
		return Artifact{}, err
	}

	if err := addModules(ctx, rp, root, log); err != nil {
		return Artifact{}, fmt.Errorf("kernel modules in the root filesystem: %w", err)
	}

	// A name of its own: two builds into one directory must not share it.
	tf, err := os.CreateTemp(outDir, "."+RootfsFile+".*")
	if err != nil {
		return Artifact{}, err
	}
	tf.Close()
	tmp := tf.Name()
	defer os.Remove(tmp)
	e := strconv.FormatInt(epoch, 10)
	args := []string{root, tmp, "-noappend", "-comp", rp.inputs.Compression,
		"-all-root", "-mkfs-time", e, "-all-time", e}
	if rp.inputs.Compression == "zstd" {
		// Level 3 packs about as small as gzip -9 in a fraction of the time.
		args = append(args, "-Xcompression-level", "3")
	}
	_, ttyErr := unix.IoctlGetTermios(int(os.Stderr.Fd()), unix.TCGETS)
	tty := ttyErr == nil
	if !tty {
		args = append(args, "-no-progress")
	}
	log.Info("packing the root filesystem", "step", "mksquashfs", "compression", rp.inputs.Compression, "k3s", rp.info.Included)
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, args...)
	if tty {
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		err = cmd.Run()
	} else {
		err = runLogged(cmd, "mksquashfs", log, func(string) string { return "" })
	}
	if err != nil {
		return Artifact{}, fmt.Errorf("mksquashfs: %w", err)
	}
	sum, err := sha256File(tmp)
	if err != nil {
		return Artifact{}, err
	}
	st, err := os.Stat(tmp)
	if err != nil {
		return Artifact{}, err
	}
	if err := os.Chmod(tmp, 0o644); err != nil {
		return Artifact{}, err
	}
	if err := os.Rename(tmp, filepath.Join(outDir, RootfsFile)); err != nil {
		return Artifact{}, err
	}
	a := Artifact{Name: RootfsFile, SHA256: sum, Size: st.Size()}
	log.Info("root filesystem packed", "step", "mksquashfs", "bytes", a.Size, "took", time.Since(start).Round(100*time.Millisecond))
	return a, nil
}

// addModules copies the resolved modules into root/lib/modules/<kver> and
// runs depmod there, so modprobe in the root filesystem finds them. The
// modules.order written first (the modules sorted by path) fixes the order
// depmod lists them in, whatever order the directories are read in.
func addModules(ctx context.Context, rp *rootfsPlan, root string, log *slog.Logger) error {
	if len(rp.modules.Modules) == 0 {
		return nil
	}
	dst := filepath.Join(root, "lib/modules", rp.kver)
	var order []string
	for _, m := range rp.modules.Modules {
		if err := copyFile(filepath.Join(rp.modDir, filepath.FromSlash(m.Path)), filepath.Join(dst, filepath.FromSlash(m.Path)), 0o644); err != nil {
			return err
		}
		order = append(order, m.Path)
	}
	slices.Sort(order)
	if err := os.WriteFile(filepath.Join(dst, "modules.order"), []byte(strings.Join(order, "\n")+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dst, "modules.dep"), rp.modules.DepFile(), 0o644); err != nil {
		return err
	}
	for _, f := range []string{"modules.builtin", "modules.builtin.modinfo"} {
		if err := copyFile(filepath.Join(rp.modDir, f), filepath.Join(dst, f), 0o644); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	depmod, err := exec.LookPath("depmod")
	if err != nil {
		log.Warn("depmod not found: the root filesystem has modules.dep but no index files; modprobe is slower", "fix", "apt-get install kmod")
		return nil
	}
	if out, err := exec.CommandContext(ctx, depmod, "-b", root, rp.kver).CombinedOutput(); err != nil {
		return fmt.Errorf("depmod -b %s %s: %w: %s", root, rp.kver, err, out)
	}
	log.Info("kernel modules added to the root filesystem", "step", "modules", "files", len(rp.modules.Modules), "kernel", rp.kver)
	return nil
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(mode); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
