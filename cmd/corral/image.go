package main

import "github.com/spf13/cobra"

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the node image workers boot, and choose which one the controller serves",
		Long: `A node image is what a worker network-boots: Debian's kernel (vmlinuz), an
initramfs (initrd.img) whose /init is corral-agent, and manifest.json, which
records the sha256 and size of every file and what they were built from.
See docs/image.md.

The controller keeps images by version in its images directory; one is
active, and machines boot it: build, then import, then activate (list shows
them, rollback goes back). See docs/image-store.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newImageBuildCmd(defaultImageDeps()))
	store := defaultImageStoreDeps()
	cmd.AddCommand(newImageListCmd(store), newImageImportCmd(store), newImageActivateCmd(store), newImageRollbackCmd(store))
	return cmd
}
