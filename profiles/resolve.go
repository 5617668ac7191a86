package profiles

import (
	"fmt"
	"maps"
	"text/template"

	"corral.io/corral/api/v1alpha1"
)

// ResolveOptions are what the registry supplies when resolving a profile.
type ResolveOptions struct {
	// Index is the node's number within its profile, from 1, for
	// hostname templates that use {{.Index}}. The registry assigns it and
	// keeps it for the node's lifetime.
	Index int
}

// Plan is what a profile makes of one node.
type Plan struct {
	// Profile is the profile's name.
	Profile string `json:"profile" yaml:"profile"`
	// Hostname is the rendered hostname template.
	Hostname string `json:"hostname" yaml:"hostname"`
	// Labels are the node's labels: the inventory's, then the profile's
	// (which win), then corral.io/profile and the role label. Use
	// KubeletMaySet to split them between the agent (k3s node-label) and
	// the controller.
	Labels map[string]string `json:"labels" yaml:"labels"`
	// Taints are the profile's taints.
	Taints []Taint `json:"taints,omitempty" yaml:"taints,omitempty"`
	// KernelArgs are appended to the node's kernel command line.
	KernelArgs []string `json:"kernelArgs,omitempty" yaml:"kernelArgs,omitempty"`
	// K3sArgs are extra k3s agent arguments.
	K3sArgs []string `json:"k3sArgs,omitempty" yaml:"k3sArgs,omitempty"`
	// ImageVersion is the pinned image version; empty for the active image.
	ImageVersion string `json:"imageVersion,omitempty" yaml:"imageVersion,omitempty"`
	// Disks is the disk plan, one entry per disk of the inventory.
	Disks []DiskDecision `json:"disks" yaml:"disks"`
}

// Resolve applies profile p to a node's inventory. It fails when the
// hostname template cannot render a valid hostname for this node (for
// example {{.Serial}} on a machine without a serial number).
func Resolve(inv *v1alpha1.Inventory, p *Profile, opts ResolveOptions) (*Plan, error) {
	if p == nil {
		return nil, fmt.Errorf("resolve: no profile")
	}
	if !p.compiled {
		return nil, fmt.Errorf("resolve profile %q: it was not loaded by Parse, LoadFile, LoadDir or Defaults", p.Name)
	}
	if inv == nil {
		inv = &v1alpha1.Inventory{}
	}
	tmpl := p.hostname
	if tmpl == nil {
		tmpl = template.Must(template.New("hostnameTemplate").Parse(DefaultHostnameTemplate))
	}
	host, err := renderHostname(tmpl, hostnameData(inv, p.Name, opts.Index))
	if err != nil {
		return nil, fmt.Errorf("resolve profile %s: hostname: %w", p.Name, err)
	}
	labels := make(map[string]string, len(inv.Labels)+len(p.Labels)+2)
	maps.Copy(labels, inv.Labels)
	maps.Copy(labels, p.Labels)
	labels[ProfileLabel] = p.Name
	if p.Role != "" {
		labels[RoleLabelPrefix+p.Role] = "true"
	}
	return &Plan{
		Profile:      p.Name,
		Hostname:     host,
		Labels:       labels,
		Taints:       append([]Taint(nil), p.taints...),
		KernelArgs:   append([]string(nil), p.KernelArgs...),
		K3sArgs:      append([]string(nil), p.K3sArgs...),
		ImageVersion: p.ImageVersion,
		Disks:        p.PlanDisks(inv),
	}, nil
}
