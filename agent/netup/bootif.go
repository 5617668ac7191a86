package netup

import (
	"net"
	"strings"

	"corral.io/corral/agent/inventory"
	api "corral.io/corral/api/v1alpha1"
)

// BootMAC returns the MAC address named by BOOTIF= on a kernel command line
// (/proc/cmdline), nil when there is none. The line is split as the kernel
// splits it (api.SplitCmdline). The value is parsed by
// inventory.ParseBootIF, so both report the same boot NIC.
func BootMAC(cmdline string) (net.HardwareAddr, error) {
	val, found := "", false
	for _, f := range api.SplitCmdline(cmdline) {
		if f == "--" { // what follows belongs to init
			break
		}
		if v, ok := strings.CutPrefix(f, "BOOTIF="); ok {
			val, found = v, true // the last occurrence wins, as in the kernel
		}
	}
	if !found {
		return nil, nil
	}
	return inventory.ParseBootIF(val)
}
