// Command corral is the controller daemon and the operator's CLI.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "corral:", err)
		stop()
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "corral",
		Short: "Corral turns a rack of network-booted servers into one cluster",
		Long: `Corral runs on the controller: it network-boots workers (DHCP, TFTP, HTTP),
and lets an operator see and steer them.

Start the controller with:  corral controller --config /etc/corral/controller.yaml`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newControllerCmd())
	root.AddCommand(newNodesCmd())
	root.AddCommand(newProfilesCmd())
	root.AddCommand(newImageCmd())
	return root
}
