package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/images"
)

// Where the image store verbs find the images directory when not told.
const (
	defaultControllerConfig = "/etc/corral/controller.yaml"
	defaultImagesDir        = "/var/lib/corral/images"
)

// imageStoreDeps is what the image store verbs take from outside.
type imageStoreDeps struct {
	// defaultConfig is read, when it exists, for boot.imagesDir.
	defaultConfig string
	// now is the clock, for progress.
	now func() time.Time
}

func defaultImageStoreDeps() imageStoreDeps {
	return imageStoreDeps{defaultConfig: defaultControllerConfig, now: time.Now}
}

// imageStoreFlags say where the images directory is.
type imageStoreFlags struct {
	imagesDir string
	config    string
}

func addImageStoreFlags(cmd *cobra.Command, f *imageStoreFlags) {
	cmd.Flags().StringVar(&f.imagesDir, "images-dir", "", "the controller's images directory (default: boot.imagesDir of the controller configuration, else "+defaultImagesDir+")")
	cmd.Flags().StringVarP(&f.config, "config", "c", "", "controller configuration file to read boot.imagesDir from (default "+defaultControllerConfig+" when it exists)")
}

const imageStoreHelp = `The images directory is the controller's boot.imagesDir on this host: taken
from --images-dir, else from the controller configuration (--config, or
` + defaultControllerConfig + ` when it exists), else ` + defaultImagesDir + `.
See docs/image-store.md.`

// storeTarget is the resolved images directory and what the configuration
// says about it.
type storeTarget struct {
	store *images.Store
	// config is the configuration file read, "" when none was.
	config string
	// explicitKernel is boot.kernel when the configuration sets it: then
	// the controller boots that, not the active image.
	explicitKernel string
}

func (f imageStoreFlags) open(deps imageStoreDeps) (storeTarget, error) {
	path := f.config
	if path == "" {
		if _, err := os.Stat(deps.defaultConfig); err == nil {
			path = deps.defaultConfig
		}
	}
	var t storeTarget
	if path != "" {
		cfg, err := config.Load(path)
		if err != nil {
			if f.imagesDir != "" && f.config == "" {
				// The directory was given: the default file does not matter.
				return storeTarget{store: images.Open(f.imagesDir)}, nil
			}
			return storeTarget{}, fmt.Errorf("%w (fix it, or name the images directory with --images-dir)", err)
		}
		t.config = path
		t.explicitKernel = cfg.Boot.Kernel
		if cfg.Boot.Kernel == "" && cfg.Boot.Initrd != "" {
			t.explicitKernel = cfg.Boot.Initrd
		}
		t.store = images.Open(cfg.Boot.ImagesDir)
	}
	if f.imagesDir != "" {
		if t.store != nil && filepath.Clean(f.imagesDir) != filepath.Clean(t.store.Dir()) {
			t.explicitKernel = "" // not the directory that configuration serves
		}
		t.store = images.Open(f.imagesDir)
	}
	if t.store == nil {
		t.store = images.Open(defaultImagesDir)
	}
	return t, nil
}

// warnExplicit says, when the configuration names a kernel, that the active
// image is not what nodes boot.
func (t storeTarget) warnExplicit(w io.Writer) {
	if t.explicitKernel != "" {
		fmt.Fprintf(w, "warning: %s sets boot.kernel/boot.initrd (%s): the controller boots that, not the active image; remove both to boot the active image\n", t.config, t.explicitKernel)
	}
}

// storeError adds what to do to an error of the store.
func storeError(err error, dir string) error {
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("%w (the images directory %s belongs to the controller: run as root, or name another with --images-dir)", err, dir)
	}
	return err
}

type imageListFlags struct {
	imageStoreFlags
	output string
}

func newImageListCmd(deps imageStoreDeps) *cobra.Command {
	var f imageListFlags
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the node images on this controller and which one is active",
		Long: `List the images in the controller's images directory, sorted by version
(numbers compared as numbers: 0.9.0 before 0.10.0).

ACTIVE marks with * the image nodes boot unless their profile pins another.
BUILT is when the build wrote the manifest, KERNEL the kernel release, K3S
whether the root filesystem carries k3s ("-" for an image without a root
filesystem), SIZE the total of the image's files. Directories that are not
images (no manifest.json) are skipped with a warning.

` + imageStoreHelp,
		Example: `  corral image list
  corral image list --images-dir /srv/corral/images -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageList(cmd.Context(), deps, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addImageStoreFlags(cmd, &f.imageStoreFlags)
	addOutputFlag(cmd, &f.output, outputTable, "output format: table, json or yaml")
	return cmd
}

// imageListDoc is the JSON and YAML output of image list.
type imageListDoc struct {
	Kind      string      `json:"kind"`
	ImagesDir string      `json:"imagesDir"`
	Active    string      `json:"active,omitempty"`
	History   []string    `json:"history,omitempty"`
	Items     []imageItem `json:"items"`
}

type imageItem struct {
	Version   string                   `json:"version"`
	Active    bool                     `json:"active"`
	Built     time.Time                `json:"built"`
	Kernel    string                   `json:"kernel"`
	K3s       *v1alpha1.ImageK3s       `json:"k3s,omitempty"`
	Size      int64                    `json:"size"`
	Artifacts []v1alpha1.ImageArtifact `json:"artifacts"`
}

func runImageList(_ context.Context, deps imageStoreDeps, f imageListFlags, out, errOut io.Writer) error {
	if err := checkNodesOutput(f.output, outputTable, outputJSON, outputYAML); err != nil {
		return err
	}
	t, err := f.open(deps)
	if err != nil {
		return err
	}
	st, err := t.store.State()
	if err != nil {
		return storeError(err, t.store.Dir())
	}
	imgs, skipped, err := t.store.List()
	if err != nil {
		return storeError(err, t.store.Dir())
	}
	for _, s := range skipped {
		fmt.Fprintf(errOut, "warning: skipped: %v\n", s)
	}
	doc := imageListDoc{Kind: "ImageList", ImagesDir: t.store.Dir(), Active: st.Active, History: st.History, Items: []imageItem{}}
	for _, i := range imgs {
		doc.Items = append(doc.Items, imageItem{
			Version: i.Version, Active: i.Version == st.Active, Built: i.Built.UTC(),
			Kernel: i.Manifest.Kernel.Version, K3s: i.Manifest.K3s, Size: i.Size(), Artifacts: i.Manifest.Artifacts,
		})
	}
	if f.output != outputTable {
		return writeDocument(out, f.output, doc)
	}
	if len(imgs) == 0 {
		fmt.Fprintf(errOut, "no images in %s: build one with corral image build, then corral image import DIR\n", t.store.Dir())
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tACTIVE\tBUILT\tKERNEL\tK3S\tSIZE")
	for _, i := range doc.Items {
		active := ""
		if i.Active {
			active = "*"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.Version, active, stamp(i.Built), dash(i.Kernel), k3sCell(i.K3s), size(uint64(i.Size)))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	if st.Active == "" {
		fmt.Fprintln(errOut, "no image is active: run corral image activate VERSION")
	} else if _, err := t.store.Get(st.Active); err != nil {
		fmt.Fprintf(errOut, "warning: the active image %s is not usable: %v\n", st.Active, err)
	}
	t.warnExplicit(errOut)
	return nil
}

// k3sCell says whether an image carries k3s.
func k3sCell(k *v1alpha1.ImageK3s) string {
	switch {
	case k == nil:
		return "-"
	case k.Included:
		return "included"
	default:
		return "without k3s"
	}
}
