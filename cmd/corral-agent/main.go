// Command corral-agent is the node agent. Its verbs: inventory, which prints
// what the machine is without changing anything; run, which enrolls the node
// with the controller and heartbeats; and init, the same as the node's first
// process in the initramfs (what the kernel runs as /init).
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
	root := newRoot()
	if os.Getpid() == 1 && len(os.Args) == 1 {
		// Started by the kernel as /init.
		root.SetArgs([]string{"init"})
	}
	if err := root.ExecuteContext(ctx); err != nil {
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
	root.AddCommand(newInitCmd())
	return root
}
