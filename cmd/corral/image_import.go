package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"corral.io/corral/controller/images"
)

func newImageImportCmd(deps imageStoreDeps) *cobra.Command {
	var f imageStoreFlags
	cmd := &cobra.Command{
		Use:   "import DIR",
		Short: "Copy a built node image into the controller's images directory",
		Long: `Copy the image in DIR — the output directory of corral image build — into the
controller's images directory, under its version. manifest.json and every file
it lists are copied; other files in DIR are left behind.

Each file's size and sha256 are checked against the manifest while it is
copied, and the copy goes to a temporary directory that is renamed into place
only when everything matched, so a failed import leaves nothing behind.
Importing a version that is already there with the same manifest changes
nothing; with a different manifest it is an error (build with a new --version).
Importing does not change what nodes boot: corral image activate does.
Progress goes to stderr.

` + imageStoreHelp,
		Example: `  corral image import .cache/image/0.2.0
  corral image import .cache/image/0.2.0 && corral image activate 0.2.0
  corral image import ./out --images-dir /srv/corral/images`,
		Args: exactlyOne("name the directory corral image build wrote: corral image import DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageImport(cmd.Context(), deps, f, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addImageStoreFlags(cmd, &f)
	return cmd
}

// exactlyOne accepts one argument and otherwise says what it should be.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) != 1 {
			return fmt.Errorf("%d arguments: %s", len(args), what)
		}
		return nil
	}
}

func runImageImport(_ context.Context, deps imageStoreDeps, f imageStoreFlags, src string, out, errOut io.Writer) error {
	t, err := f.open(deps)
	if err != nil {
		return err
	}
	t.store.Progress = progressPrinter(errOut, deps.now)
	res, err := t.store.Import(src)
	if err != nil {
		return storeError(err, t.store.Dir())
	}
	img := res.Image
	if res.Unchanged {
		fmt.Fprintf(out, "image %s is already in %s with the same content: nothing changed\n", img.Version, t.store.Dir())
		return nil
	}
	files := "files"
	if len(img.Manifest.Artifacts) == 1 {
		files = "file"
	}
	fmt.Fprintf(out, "imported image %s into %s (%d %s, %s); nodes boot it after: corral image activate %s\n",
		img.Version, img.Dir, len(img.Manifest.Artifacts), files, size(uint64(img.Size())), img.Version)
	return nil
}

// progressPrinter writes a line when a file starts and ends, and at most
// one a second in between.
func progressPrinter(w io.Writer, now func() time.Time) func(images.Progress) {
	var last time.Time
	return func(p images.Progress) {
		verb := map[string]string{"copy": "copying", "verify": "verifying"}[p.Op]
		switch {
		case p.Done == 0:
			fmt.Fprintf(w, "%s %s %s (%s)\n", verb, p.Version, p.Artifact, size(uint64(p.Total)))
			last = now()
		case p.Done == p.Total:
			fmt.Fprintf(w, "%s %s %s: done, sha256 and size match\n", verb, p.Version, p.Artifact)
		case now().Sub(last) >= time.Second:
			fmt.Fprintf(w, "%s %s %s: %s of %s (%d%%)\n", verb, p.Version, p.Artifact, size(uint64(p.Done)), size(uint64(p.Total)), p.Done*100/max(p.Total, 1))
			last = now()
		}
	}
}
