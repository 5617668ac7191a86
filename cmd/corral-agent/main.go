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
	if os.Getpid() == 1 && !isVerb(root, os.Args[1:]) {
		// Started by the kernel as /init. The kernel hands init every
		// command-line word it does not know (UEFI iPXE puts the kernel
		// image's name first: "vmlinuz initrd=…"), and PID 1 must not
		// exit over them.
		if len(os.Args) > 1 {
			fmt.Fprintf(os.Stderr, "corral-agent: ignoring kernel command-line words passed to init: %q\n", os.Args[1:])
		}
		root.SetArgs([]string{"init"})
	}
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "corral-agent:", err)
		stop()
		os.Exit(1)
	}
}

// isVerb reports whether args start with one of root's commands.
func isVerb(root *cobra.Command, args []string) bool {
	if len(args) == 0 {
		return false
	}
	for _, c := range root.Commands() {
		if c.Name() == args[0] {
			return true
		}
	}
	return false
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
