package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newImageRollbackCmd(deps imageStoreDeps) *cobra.Command {
	var f imageStoreFlags
	cmd := &cobra.Command{
		Use:   "rollback",
		Short: "Go back to the image that was active before",
		Long: `Make the previously active image active again. Each activation puts the image
it replaces on a history; rollback takes the last one off it, so rolling back
twice goes two activations back, and rolling back past the first image
activated is an error. The image is checked against its manifest first, as
activate does; when it fails, nothing changes.

` + imageStoreHelp,
		Example: `  corral image rollback
  corral image list      # shows which image is active now`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runImageRollback(cmd.Context(), deps, f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addImageStoreFlags(cmd, &f)
	return cmd
}

func runImageRollback(_ context.Context, deps imageStoreDeps, f imageStoreFlags, out, errOut io.Writer) error {
	t, err := f.open(deps)
	if err != nil {
		return err
	}
	t.store.Progress = progressPrinter(errOut, deps.now)
	ch, err := t.store.Rollback()
	if err != nil {
		return storeError(err, t.store.Dir())
	}
	fmt.Fprintf(out, "rolled back to image %s (was %s): machines boot it from their next boot\n", ch.Image.Version, ch.Previous)
	t.warnExplicit(errOut)
	return nil
}
