package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

func newImageActivateCmd(deps imageStoreDeps) *cobra.Command {
	var f imageStoreFlags
	cmd := &cobra.Command{
		Use:   "activate VERSION",
		Short: "Make an imported image the one nodes boot",
		Long: `Make VERSION the active image: the controller gives it to every machine that
boots from now on, unless the machine's profile pins an imageVersion. The
running controller notices the change at the next boot script it serves; it
needs no restart. Nodes already running keep their image until they reboot.

Every file of the image is read and checked against its manifest first; an
image that fails is refused and the active image stays as it was. The
image active before goes on the history that corral image rollback walks
back through.

When the controller configuration sets boot.kernel and boot.initrd, the
controller boots those instead of the active image; a warning says so.

` + imageStoreHelp,
		Example: `  corral image activate 0.2.0
  corral image import .cache/image/0.2.0 && corral image activate 0.2.0`,
		Args: exactlyOne("name the version to activate (corral image list shows them): corral image activate VERSION"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runImageActivate(cmd.Context(), deps, f, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	addImageStoreFlags(cmd, &f)
	return cmd
}

func runImageActivate(_ context.Context, deps imageStoreDeps, f imageStoreFlags, version string, out, errOut io.Writer) error {
	t, err := f.open(deps)
	if err != nil {
		return err
	}
	t.store.Progress = progressPrinter(errOut, deps.now)
	ch, err := t.store.Activate(version)
	if err != nil {
		return storeError(err, t.store.Dir())
	}
	switch {
	case ch.Unchanged:
		fmt.Fprintf(out, "image %s was already active: nothing changed\n", version)
	case ch.Previous == "":
		fmt.Fprintf(out, "image %s is active: machines boot it from their next boot\n", version)
	default:
		fmt.Fprintf(out, "image %s is active (was %s): machines boot it from their next boot; corral image rollback goes back to %s\n", version, ch.Previous, ch.Previous)
	}
	t.warnExplicit(errOut)
	return nil
}
