// Command corral-lab is the virtual lab as a program (make lab): a
// controller in a throwaway network namespace and QEMU workers of
// different shapes network-booting the node image into it, with a live
// table of the nodes as they boot. Ctrl-C tears everything down: no
// namespace, tap, bridge, disk file or process is left.
//
// It drives the same harness as the e2e tests (qemu-tests), through
// qemutests.Runner.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	qemutests "corral.io/corral/qemu-tests"
)

func main() {
	workers := flag.Int("workers", len(qemutests.Workers), fmt.Sprintf("how many workers to boot (0–%d; 0 starts the controller alone)", len(qemutests.Workers)))
	image := flag.String("image", "", "node image directory (default .cache/image/lab, built by make image IMAGE_VERSION=lab)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), `Usage: corral-lab [--workers N] [--image DIR]   (as root; make lab builds what is missing)

Starts the Corral controller in a throwaway network namespace with a bridge,
then boots QEMU workers (-accel tcg) from its network, each with its own
firmware and shape:
`)
		for _, w := range qemutests.Workers {
			fmt.Fprintf(flag.CommandLine.Output(), "  %-18s %s\n", w.Name, describe(w))
		}
		fmt.Fprintf(flag.CommandLine.Output(), `
It shows the nodes as the controller sees them until you press Ctrl-C, then
removes everything it created. The controller's log, its config and every
serial console are kept in qemu-tests/artifacts/lab/ on exit.

Flags:
`)
		flag.PrintDefaults()
	}
	flag.Parse()
	if *workers < 0 || *workers > len(qemutests.Workers) {
		fmt.Fprintf(os.Stderr, "corral-lab: --workers %d: give 0 to %d\n", *workers, len(qemutests.Workers))
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "corral-lab: run as root (sudo make lab): the lab creates network namespaces, taps and a bridge")
		os.Exit(1)
	}
	// Teardown must never depend on the terminal or on whoever reads our
	// output. Under `make lab | tee lab.log`, Ctrl-C kills tee along with
	// us; Go then exits on SIGPIPE at the first log line written to the
	// dead pipe ("stopping: ..."), before any cleanup ran, leaving the
	// namespace and the sparse disk files behind. Ignored, SIGPIPE turns
	// such writes into EPIPE errors, which the logging drops. A closed
	// terminal (SIGHUP) and kill (SIGTERM) stop the lab like Ctrl-C.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	// Keep the logs: a lab is for looking at.
	_ = os.Setenv("CORRAL_LAB_KEEP", "1")
	r := qemutests.NewRunner("lab", os.Stderr)
	err := r.Run(func() {
		dir := *image
		if dir == "" {
			dir = qemutests.RequireNodeImage(r)
		}
		l := qemutests.NewNodeLab(r, dir)
		var vms []*qemutests.VM
		for _, w := range qemutests.Workers[:*workers] {
			vms = append(vms, l.StartShapedVM(w.Name, w.Firmware, w.Shape))
		}
		r.Logf("lab running: controller log %s; press Ctrl-C to stop and tear everything down", l.ControllerLog)
		watch(ctx, l, vms, os.Stdout, isTerminal(os.Stdout))
		r.Logf("stopping: removing the VMs, taps, bridge and namespace")
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "corral-lab:", err)
		os.Exit(1)
	}
}

func describe(w qemutests.Worker) string {
	var disks []string
	for _, d := range w.Shape.Disks {
		bus := d.Bus
		if bus == "" {
			bus = "virtio"
		}
		extra := ""
		if len(d.Files) > 0 {
			extra = " ext4"
		}
		disks = append(disks, fmt.Sprintf("%dG %s%s", d.SizeBytes>>30, bus, extra))
	}
	return fmt.Sprintf("%s, %d vCPU, %d MiB, %d NIC, disks: %s", w.Firmware.Name, w.Shape.CPUs, w.Shape.MemoryMiB,
		1+w.Shape.ExtraNICs, strings.Join(disks, ", "))
}

// watch prints the table every two seconds until ctx ends: redrawn in
// place on a terminal, printed again only when it changes otherwise.
func watch(ctx context.Context, l *qemutests.Lab, vms []*qemutests.VM, out io.Writer, tty bool) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	last := ""
	for {
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		nodes, err := l.Nodes(qctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		table, key := render(vms, nodes, err)
		switch {
		case tty:
			fmt.Fprint(out, "\033[H\033[2J"+time.Now().Format("15:04:05")+"  corral virtual lab — Ctrl-C stops and removes everything\n\n"+table)
		case key != last:
			fmt.Fprint(out, "\n"+time.Now().Format("15:04:05")+"\n"+table)
		}
		last = key
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func isTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
