package controller

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"

	"corral.io/corral/controller/boot/httpboot"
	"corral.io/corral/controller/boot/ipxe"
	"corral.io/corral/controller/registry"
)

// nodeScripts gives each booting machine its iPXE script: an unknown machine
// gets the default (it boots the agent, which registers it); a known one gets
// its profile's kernel arguments and pinned image version; a decommissioned
// one gets nothing, so its firmware moves on to its next boot device.
type nodeScripts struct {
	base     ipxe.Script
	reg      *registry.Store
	profiles *profileSet
}

func (s nodeScripts) Script(_ context.Context, mac net.HardwareAddr) (ipxe.Script, error) {
	sc := s.base
	n, err := s.reg.ByMAC(mac.String())
	if errors.Is(err, registry.ErrNotFound) {
		return sc, nil
	}
	if err != nil {
		return ipxe.Script{}, err
	}
	if n.State == registry.Decommissioned {
		return ipxe.Script{}, fmt.Errorf("%w: node %s is decommissioned", httpboot.ErrUnknownNode, n.ID)
	}
	if n.Inventory == nil {
		return sc, nil
	}
	_, cfg, err := s.profiles.Resolve(n)
	if err != nil {
		return ipxe.Script{}, fmt.Errorf("profile of node %s: %w", n.ID, err)
	}
	if len(cfg.KernelArgs) > 0 {
		sc.Cmdline = strings.TrimSpace(sc.Cmdline + " " + strings.Join(cfg.KernelArgs, " "))
	}
	if v := cfg.ImageVersion; v != "" {
		sc.Kernel = "/images/" + v + "/vmlinuz"
		sc.Initrd = "/images/" + v + "/" + ipxe.InitrdName
	}
	return sc, nil
}
