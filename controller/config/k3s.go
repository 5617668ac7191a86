package config

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"corral.io/corral/controller/k3s"
	"corral.io/corral/internal/fielderr"
)

// K3s configures the cluster's k3s server, run by the controller
// (docs/k3s.md).
type K3s struct {
	// Binary is the k3s executable (k3s v1.31.6+k3s1), e.g.
	// /usr/local/bin/k3s. Unset: no k3s server runs and nodes get no join
	// data; the controller says so in one line at start.
	Binary string `yaml:"binary,omitempty" json:"binary,omitempty"`
	// DataDir is k3s' data-dir. Default <stateDir>/k3s/data.
	DataDir string `yaml:"dataDir,omitempty" json:"dataDir,omitempty"`
	// Disable lists the packaged components not to run (k3s.Components).
	// Default k3s.DefaultDisable (traefik and servicelb); an empty list
	// disables nothing.
	Disable []string `yaml:"disable,omitempty" json:"disable,omitempty"`
	// TLSSANs are extra names and addresses for the API certificate; the
	// advertise address and host name are always in it.
	TLSSANs []string `yaml:"tlsSANs,omitempty" json:"tlsSANs,omitempty"`
	// HTTPSPort is the API port. Default 6443.
	HTTPSPort int `yaml:"httpsPort,omitempty" json:"httpsPort,omitempty"`
	// ExtraArgs are appended to `k3s server --config <file>`.
	ExtraArgs []string `yaml:"extraArgs,omitempty" json:"extraArgs,omitempty"`
}

// Enabled reports whether the controller runs k3s.
func (k *K3s) Enabled() bool { return k.Binary != "" }

func (k *K3s) defaults(stateDir string) {
	if k.DataDir == "" {
		k.DataDir = filepath.Join(stateDir, "k3s", "data")
	}
	if k.Disable == nil {
		k.Disable = slices.Clone(k3s.DefaultDisable)
	}
	if k.HTTPSPort == 0 {
		k.HTTPSPort = 6443
	}
}

func (k *K3s) validate() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.New(field, format, args...))
	}
	if k.Binary != "" && !filepath.IsAbs(k.Binary) {
		bad("k3s.binary", "is %q, must be an absolute path (e.g. /usr/local/bin/k3s)", k.Binary)
	}
	if !filepath.IsAbs(k.DataDir) {
		bad("k3s.dataDir", "is %q, must be an absolute path", k.DataDir)
	}
	for i, c := range k.Disable {
		if !slices.Contains(k3s.Components, c) {
			bad(fmt.Sprintf("k3s.disable[%d]", i), "is %q, must be one of %s", c, strings.Join(k3s.Components, ", "))
		}
	}
	for i, s := range k.TLSSANs {
		if s == "" || strings.ContainsAny(s, " ,/") {
			bad(fmt.Sprintf("k3s.tlsSANs[%d]", i), "is %q, must be a host name or an IP address", s)
		}
	}
	if k.HTTPSPort < 1 || k.HTTPSPort > 65535 {
		bad("k3s.httpsPort", "is %d, must be a TCP port (1-65535)", k.HTTPSPort)
	}
	for i, a := range k.ExtraArgs {
		if !strings.HasPrefix(a, "--") {
			bad(fmt.Sprintf("k3s.extraArgs[%d]", i), "is %q, must be a flag of k3s server (--name=value)", a)
		}
	}
	return errs
}
