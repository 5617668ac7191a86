package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"corral.io/corral/agent/inventory"
	api "corral.io/corral/api/v1alpha1"
)

type inventoryFlags struct {
	output  string
	root    string
	noProbe bool
	verbose bool
}

func newInventoryCmd() *cobra.Command {
	var f inventoryFlags
	cmd := &cobra.Command{
		Use:   "inventory",
		Short: "Print this machine's hardware inventory (read-only)",
		Long: `Print what this machine is: system, CPUs, memory, NUMA, GPUs, disks, NICs,
its stable node id and the Kubernetes labels Corral would give it.
Nothing on the machine is changed; disks are only opened read-only.

Examples:
  corral-agent inventory
  corral-agent inventory -o json
  corral-agent inventory --root agent/inventory/testdata/qemu -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runInventory(f, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	cmd.Flags().StringVarP(&f.output, "output", "o", "table", "output format: table or json")
	cmd.Flags().StringVar(&f.root, "root", "", "read a machine dump under this directory (sys, proc, dev, run, etc) instead of the running machine")
	cmd.Flags().BoolVar(&f.noProbe, "no-probe", false, "do not read partition tables and superblocks")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "log debug records to stderr")
	return cmd
}

func runInventory(f inventoryFlags, out, errOut io.Writer) error {
	if f.output != "table" && f.output != "json" {
		return fmt.Errorf("output format %q: use -o table or -o json", f.output)
	}
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	opts := inventory.HostOptions(logger)
	if f.root != "" {
		if _, err := os.Stat(f.root); err != nil {
			return fmt.Errorf("machine dump: %w", err)
		}
		opts.Root = inventory.PrefixRoot(f.root)
		opts.NVML, opts.Links, opts.ProbeDisks = nil, nil, false
	}
	opts.ProbeDisks = opts.ProbeDisks && !f.noProbe
	inv := inventory.Collect(opts)
	if f.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		if err := enc.Encode(inv); err != nil {
			return fmt.Errorf("write inventory: %w", err)
		}
		return nil
	}
	return writeTable(out, inv)
}

// writeTable prints the inventory for a person: one section per area.
func writeTable(out io.Writer, inv *api.Inventory) error {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	p := func(format string, args ...any) { fmt.Fprintf(tw, format+"\n", args...) }
	s := inv.System
	p("NODE ID\t%s\t(from %s)", inv.Identity.NodeID, inv.Identity.Source)
	p("SYSTEM\t%s %s\tserial %s", s.Vendor, s.Product, dash(s.Serial))
	p("FIRMWARE\t%s\t%s %s %s", s.Firmware, s.BIOSVendor, s.BIOSVersion, s.BIOSDate)
	if s.Hypervisor != "" {
		p("HYPERVISOR\t%s\t", s.Hypervisor)
	}
	p("KERNEL\t%s\t%s %s", s.KernelVersion, s.OSID, s.OSVersionID)
	c := inv.CPU
	p("CPU\t%s\t%d sockets, %d cores, %d threads", c.Model, c.Sockets, c.Cores, c.Threads)
	p("MEMORY\t%s\t%d modules, %s installed", gib(inv.Memory.TotalBytes), len(inv.Memory.Modules), gib(inv.Memory.InstalledBytes))
	for _, n := range inv.NUMA {
		p("NUMA %d\tcpus %s\t%s", n.ID, n.CPUs, gib(n.MemoryBytes))
	}
	p("")
	p("GPU\tSOURCE\tPCI\tNAME\tMEMORY\tNUMA\tDRIVER")
	for _, g := range inv.GPUs {
		p("%d\t%s\t%s\t%s\t%s\t%d\t%s", g.Index, g.Source, dash(g.PCIAddress), dash(strings.TrimSpace(g.Vendor+" "+g.Name)), gib(g.MemoryBytes), g.NUMANode, dash(g.Driver))
	}
	p("")
	p("DISK\tSIZE\tTRANSPORT\tMODEL\tSERIAL\tTABLE\tCONTENTS\tBOOT")
	for _, d := range inv.Disks {
		p("%s\t%s\t%s\t%s\t%s\t%s\t%s\t%v", d.Name, gib(d.SizeBytes), dash(d.Transport), dash(d.Model), dash(d.Serial), dash(d.PartitionTable), d.Contents(), d.Boot)
	}
	p("")
	p("NIC\tMAC\tDRIVER\tPCI\tSPEED\tSTATE\tBOOT")
	for _, n := range inv.NICs {
		p("%s\t%s\t%s\t%s\t%s\t%s\t%v", n.Name, n.MAC, dash(n.Driver), dash(n.PCIAddress), speed(n.SpeedMbps), n.OperState, n.Boot)
	}
	p("")
	p("LABEL\tVALUE")
	keys := make([]string, 0, len(inv.Labels))
	for k := range inv.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		p("%s\t%s", k, inv.Labels[k])
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write inventory: %w", err)
	}
	for _, w := range inv.Warnings {
		if _, err := fmt.Fprintln(out, "warning:", w); err != nil {
			return fmt.Errorf("write inventory: %w", err)
		}
	}
	return nil
}

func gib(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fGiB", float64(b)/(1<<30))
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func speed(mbps int) string {
	switch {
	case mbps <= 0:
		return "-"
	case mbps%1000 == 0:
		return fmt.Sprintf("%dG", mbps/1000)
	}
	return fmt.Sprintf("%dM", mbps)
}
