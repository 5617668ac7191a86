package config

import (
	"path/filepath"
	"time"
)

// Kube connects the controller to its Kubernetes cluster's API, for the
// Node reconciler (controller/kube, docs/kube.md): role labels, profile
// labels and taints, readiness, node-password cleanup, drain on
// decommission.
type Kube struct {
	// Kubeconfig is an administrator's kubeconfig, e.g. the one k3s writes
	// (<stateDir>/k3s/kubeconfig.yaml). The controller uses it only to set up
	// its own least-privilege ServiceAccount and to renew that account's
	// tokens. Default: the kubeconfig k3s writes when the controller runs
	// k3s (k3s.binary set), else none — no Kubernetes reconciliation, and a
	// node is ready on its agent's report alone.
	Kubeconfig string `yaml:"kubeconfig,omitempty" json:"kubeconfig,omitempty"`
	// DrainTimeout bounds the drain at decommission; pods still there
	// after it are left to Kubernetes when the Node is deleted. Default 2m.
	DrainTimeout Duration `yaml:"drainTimeout,omitempty" json:"drainTimeout,omitempty"`
}

// Enabled reports whether the controller reconciles Kubernetes Nodes.
func (k *Kube) Enabled() bool { return k.Kubeconfig != "" }

// defaults fills in the defaults; with k3s run by the controller, the
// reconciler uses the kubeconfig k3s writes (controller/k3s puts it at
// <stateDir>/k3s/kubeconfig.yaml, docs/k3s.md).
func (k *Kube) defaults(k3s bool, stateDir string) {
	if k.Kubeconfig == "" && k3s {
		k.Kubeconfig = filepath.Join(stateDir, "k3s", "kubeconfig.yaml")
	}
	if k.DrainTimeout.Duration == 0 {
		k.DrainTimeout.Duration = 2 * time.Minute
	}
}

func (k *Kube) validate() []error {
	var errs []error
	if k.Kubeconfig != "" && !filepath.IsAbs(k.Kubeconfig) {
		errs = append(errs, &FieldError{Field: "kube.kubeconfig", Msg: "is \"" + k.Kubeconfig + "\", must be an absolute path (e.g. /var/lib/corral/k3s/kubeconfig.yaml)"})
	}
	if k.DrainTimeout.Duration < 0 {
		errs = append(errs, &FieldError{Field: "kube.drainTimeout", Msg: "is " + k.DrainTimeout.String() + ", must be positive (e.g. 2m)"})
	}
	return errs
}
