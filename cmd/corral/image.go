package main

import "github.com/spf13/cobra"

func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Build the node image workers boot",
		Long: `A node image is what a worker network-boots: Debian's kernel (vmlinuz), an
initramfs (initrd.img) whose /init is corral-agent, and manifest.json, which
records the sha256 and size of every file and what they were built from.
See docs/image.md.`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newImageBuildCmd(defaultImageDeps()))
	return cmd
}
