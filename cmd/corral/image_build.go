package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"corral.io/corral/image"
)

// imageDeps is what the image commands take from outside.
type imageDeps struct {
	// build builds an image (image.BuildInitramfs).
	build func(image.Options) (image.Manifest, error)
	// log receives progress lines.
	log io.Writer
	// epoch reads SOURCE_DATE_EPOCH.
	epoch func() (int64, error)
	// env reads the environment (K3S_BINARY, K3S_AIRGAP_IMAGES, MIRROR).
	env func(string) string
}

func defaultImageDeps() imageDeps {
	return imageDeps{build: image.BuildInitramfs, log: os.Stderr, epoch: image.SourceDateEpoch, env: os.Getenv}
}

type imageBuildFlags struct {
	kernelDir string
	agent     string
	out       string
	version   string
	pciIDs    string
	modules   []string
	rootfs    bool
	cacheDir  string
	suite     string
	mirror    string
	packages  []string
	k3sBinary string
	airgap    string
	offline   bool
}

func newImageBuildCmd(deps imageDeps) *cobra.Command {
	var f imageBuildFlags
	cmd := &cobra.Command{
		Use:   "build --kernel-dir DIR --agent PATH --out DIR",
		Short: "Build a node image: kernel, initramfs, root filesystem and manifest",
		Long: `Build a node image into the output directory:

  vmlinuz        the kernel, copied from the kernel directory
  initrd.img     gzip'ed cpio: corral-agent as /init, the shared libraries it
                 needs, the kernel modules for network and disks with their
                 dependencies, pci.ids
  rootfs.squashfs  with --rootfs: Debian (debootstrap --variant=minbase) with
                 the node's packages, the agent at /usr/local/bin/corral-agent
                 and the pinned k3s at /usr/local/bin/k3s when available,
                 the k3s air-gap images (--k3s-airgap-images) at
                 /usr/share/corral/k3s/, packed by mksquashfs (zstd)
  manifest.json  image version, kernel version, sha256 and size of each file,
                 and the digests of the inputs (with --rootfs: the installed
                 package versions, whether k3s and the air-gap images are
                 included, and the images' sha256 and size)

The kernel directory is a Debian linux-image package unpacked with dpkg -x
and depmod run on it; image/fetch-kernel.sh makes one and prints its path.
The build is reproducible: the same inputs, version and SOURCE_DATE_EPOCH
(the mtime of every initramfs file, default 0) give byte-identical files.
When the output directory already holds an image built from the same inputs,
nothing is rebuilt. Progress goes to stderr.

--rootfs needs root, debootstrap and mksquashfs (make setup). The debootstrap
tree is cached under --cache-dir by suite, packages and mirror, so only the
first build downloads Debian (about 80 s). The mirror defaults to $MIRROR,
else the host's apt sources. k3s comes from --k3s-binary ($K3S_BINARY; its
sha256 must be the pin in image/k3s.go), else a download from the GitHub
release; when neither works the image is built without k3s, says so in one
line and records it in the manifest (k3s.included false).

--k3s-airgap-images ($K3S_AIRGAP_IMAGES) is the release's
k3s-airgap-images-amd64.tar.zst (.tar.gz and .tar are taken too); nodes copy
it into <data-dir>/agent/images, where k3s imports it at start, so pods start
without pulling k3s' own images. Its sha256 is an input: the same file
rebuilds nothing, another file rebuilds rootfs.squashfs. Without it the
manifest says so (k3s.airgapImages.included false) and k3s pulls images over
the network.`,
		Example: `  corral image build --kernel-dir "$(image/fetch-kernel.sh)" \
      --agent bin/corral-agent --out .cache/image/0.1.0 --version 0.1.0
  corral image build --kernel-dir "$(image/fetch-kernel.sh)" --agent bin/corral-agent \
      --out .cache/image/0.1.0 --version 0.1.0 --rootfs --cache-dir .cache
  K3S_BINARY=~/k3s K3S_AIRGAP_IMAGES=~/k3s-airgap-images-amd64.tar.zst make image`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageBuild(cmd.Context(), deps, f, cmd.OutOrStdout())
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.kernelDir, "kernel-dir", "", "unpacked Debian kernel package (boot/vmlinuz-*, lib/modules/*)")
	fl.StringVar(&f.agent, "agent", "", "the corral-agent binary, /init in the initramfs")
	fl.StringVar(&f.out, "out", "", "output directory")
	fl.StringVar(&f.version, "version", "dev", "image version recorded in the manifest")
	fl.StringVar(&f.pciIDs, "pci-ids", image.DefaultPCIIDs, "pci.ids to include; left out when absent")
	fl.StringSliceVar(&f.modules, "modules", nil, "kernel modules to include, with their dependencies (default: network, disk and filesystem drivers a server needs)")
	fl.BoolVar(&f.rootfs, "rootfs", false, "also build rootfs.squashfs (root, debootstrap, mksquashfs)")
	fl.StringVar(&f.cacheDir, "cache-dir", ".cache", "where debootstrap trees, .debs and a downloaded k3s are kept")
	fl.StringVar(&f.suite, "suite", image.DefaultSuite, "Debian release of the root filesystem")
	fl.StringVar(&f.mirror, "mirror", "", "Debian mirror for debootstrap (default $MIRROR, else the host's apt sources)")
	fl.StringSliceVar(&f.packages, "packages", nil, "Debian packages on top of minbase (default "+strings.Join(image.DefaultRootfsPackages, ",")+")")
	fl.StringVar(&f.k3sBinary, "k3s-binary", "", "k3s "+image.K3sVersion+" amd64 binary to include (default $K3S_BINARY)")
	fl.StringVar(&f.airgap, "k3s-airgap-images", "", "k3s air-gap image tarball (k3s-airgap-images-amd64.tar.zst) to include (default $K3S_AIRGAP_IMAGES)")
	fl.BoolVar(&f.offline, "offline", false, "do not try to download k3s")
	return cmd
}

func runImageBuild(_ context.Context, deps imageDeps, f imageBuildFlags, out io.Writer) error {
	var missing []error
	for _, fv := range [][2]string{{"--kernel-dir", f.kernelDir}, {"--agent", f.agent}, {"--out", f.out}, {"--version", f.version}} {
		if fv[1] == "" {
			missing = append(missing, fmt.Errorf("%s is required", fv[0]))
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("image build: %w (see corral image build --help)", errors.Join(missing...))
	}
	epoch, err := deps.epoch()
	if err != nil {
		return err
	}
	var rootfs *image.RootfsOptions
	if f.rootfs {
		rootfs = &image.RootfsOptions{
			Suite:        f.suite,
			Mirror:       firstNonEmpty(f.mirror, deps.env("MIRROR")),
			Packages:     f.packages,
			CacheDir:     f.cacheDir,
			K3s:          image.K3sSource{Binary: firstNonEmpty(f.k3sBinary, deps.env("K3S_BINARY")), Offline: f.offline},
			AirgapImages: firstNonEmpty(f.airgap, deps.env("K3S_AIRGAP_IMAGES")),
		}
	}
	m, err := deps.build(image.Options{
		Rootfs:          rootfs,
		KernelDir:       f.kernelDir,
		Agent:           f.agent,
		OutDir:          f.out,
		Version:         f.version,
		Modules:         f.modules,
		PCIIDs:          f.pciIDs,
		SourceDateEpoch: epoch,
		Log:             slog.New(slog.NewTextHandler(deps.log, nil)),
	})
	if err != nil {
		return fmt.Errorf("image build: %w", err)
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "image %s, kernel %s", m.Version, m.Kernel.Version)
	if m.Kernel.PackageVersion != "" {
		fmt.Fprintf(tw, " (%s %s)", m.Kernel.Package, m.Kernel.PackageVersion)
	}
	fmt.Fprintf(tw, ", %d modules, %d libraries", len(m.Initramfs.Modules), len(m.Initramfs.Libraries))
	switch {
	case m.K3s == nil:
	case m.K3s.Included:
		fmt.Fprintf(tw, ", k3s %s", m.K3s.Version)
	default:
		fmt.Fprintf(tw, ", WITHOUT k3s (%s)", m.K3s.Reason)
	}
	if m.K3s != nil && m.K3s.AirgapImages != nil {
		if m.K3s.AirgapImages.Included {
			fmt.Fprintf(tw, ", air-gap images %d bytes", m.K3s.AirgapImages.Size)
		} else {
			fmt.Fprint(tw, ", without air-gap images")
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintln(tw, "FILE\tSIZE\tSHA256")
	for _, a := range m.Artifacts {
		fmt.Fprintf(tw, "%s\t%d\t%s\n", a.Name, a.Size, a.SHA256)
	}
	return tw.Flush()
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
