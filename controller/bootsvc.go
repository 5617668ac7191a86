package controller

import (
	"net/netip"

	"corral.io/corral/controller/config"
)

// addBootServices adds TFTP and HTTP.
func (d *Daemon) addBootServices(cfg *config.Controller, server netip.Addr, httpBase string) error {
	return nil
}
