package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	api "corral.io/corral/api/v1alpha1"
	qemutests "corral.io/corral/qemu-tests"
)

// render is the lab's table: one row per VM, with what the controller
// knows of it (state, profile, hostname), how long after power-on it
// registered, and the last line its serial console printed. key holds only
// what the controller says, to tell when the table has news.
func render(vms []*qemutests.VM, nodes []api.Node, listErr error) (table, key string) {
	byMAC := map[string]api.Node{}
	for _, n := range nodes {
		for _, m := range n.MACs {
			byMAC[strings.ToLower(m)] = n
		}
	}
	var b, k strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "WORKER\tFIRMWARE\tMAC\tSTATE\tPROFILE\tHOSTNAME\tREGISTERED\tUP\tCONSOLE")
	for _, vm := range vms {
		n, known := byMAC[vm.MAC.String()]
		state, profile, host, reg := "booting", "-", "-", "-"
		if known {
			state, profile, host = string(n.State), or(n.Profile, "-"), or(n.Hostname, "-")
			reg = fmt.Sprintf("%.0fs", n.FirstSeen.Sub(vm.Started()).Seconds())
		}
		fmt.Fprintf(&k, "%s %s %s %s %s\n", vm.Name, state, profile, host, reg)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", vm.Name, vm.Firmware.Name, vm.MAC, state, profile, host, reg,
			time.Since(vm.Started()).Round(time.Second), clip(vm.LastConsoleLine(), 60))
	}
	_ = tw.Flush()
	if listErr != nil {
		fmt.Fprintf(&b, "\n(controller not answering: %v)\n", listErr)
		k.WriteString("no answer")
	}
	return b.String(), k.String()
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}
