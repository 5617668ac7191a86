package controller

import (
	"net/netip"
	"path/filepath"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/k3s"
)

// addK3s prepares the supervised k3s server when k3s.binary is set; else it
// says, in one line, that the controller runs without a cluster.
func (d *Daemon) addK3s(cfg *config.Controller, advertise netip.Addr) (*k3s.Server, error) {
	if !cfg.K3s.Enabled() {
		d.log.Info("k3s disabled: k3s.binary is not set in the controller configuration, so no cluster runs and nodes get no join data; " +
			"to enable it, install k3s v1.31.6+k3s1 and set k3s.binary: /usr/local/bin/k3s (docs/k3s.md)")
		return nil, nil
	}
	s, err := k3s.New(k3s.Options{
		Binary:    cfg.K3s.Binary,
		Dir:       filepath.Join(cfg.StateDir, "k3s"),
		DataDir:   cfg.K3s.DataDir,
		Advertise: advertise,
		Interface: cfg.Interface,
		Names:     cfg.K3s.TLSSANs,
		Port:      cfg.K3s.HTTPSPort,
		Disable:   cfg.K3s.Disable,
		ExtraArgs: cfg.K3s.ExtraArgs,
		Logger:    d.log.With("svc", "k3s"),
	})
	if err != nil {
		return nil, err
	}
	d.services = append(d.services, namedService{"k3s", s})
	return s, nil
}

// k3sJoin is the join data source for the API: nil without k3s.
func k3sJoin(s *k3s.Server) func() *v1alpha1.K3sJoin {
	if s == nil {
		return nil
	}
	return s.Join
}
