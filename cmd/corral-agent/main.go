// Command corral-agent is the node agent. Its verbs: inventory, which prints
// what the machine is without changing anything, and run, which enrolls the
// node with the controller and heartbeats.
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
		fmt.Fprintln(os.Stderr, "corral-agent:", err)
		stop()
		os.Exit(1)
	}
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "corral-agent",
		Short:         "The Corral node agent",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(newInventoryCmd())
	root.AddCommand(newRunCmd())
	return root
}
