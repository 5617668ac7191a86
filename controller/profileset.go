package controller

import (
	"errors"
	"fmt"
	"os"
	"slices"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
	"corral.io/corral/profiles"
)

// profileSet gives the API the node configuration its profile makes: the
// shipped profiles, replaced or extended by those in the configured
// directory, selected and resolved per node (package profiles).
type profileSet struct {
	set []*profiles.Profile
	reg *registry.Store
}

// loadProfiles reads the shipped profiles and, when dir is set, the
// directory's (a directory profile replaces a shipped one of the same name).
func loadProfiles(dir string) ([]*profiles.Profile, error) {
	set, err := profiles.Defaults()
	if err != nil {
		return nil, fmt.Errorf("shipped profiles: %w", err)
	}
	if dir == "" {
		return set, nil
	}
	own, err := profiles.LoadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("profiles.dir %s does not exist: create it or remove profiles.dir to use the shipped profiles only", dir)
	}
	if err != nil {
		return nil, fmt.Errorf("profiles.dir: %w (corral profiles validate %s/*.yaml shows every problem)", err, dir)
	}
	set = profiles.Merge(set, own)
	if err := profiles.CheckUnique(set); err != nil {
		return nil, fmt.Errorf("profiles.dir: %w", err)
	}
	return set, nil
}

// Has implements server.Profiles.
func (p *profileSet) Has(name string) bool {
	return slices.ContainsFunc(p.set, func(x *profiles.Profile) bool { return x.Name == name })
}

// Resolve implements server.Profiles: select the node's profile (operator
// assignment, then selectors, then rules) and apply it.
func (p *profileSet) Resolve(n registry.Node) (string, v1alpha1.NodeConfig, error) {
	d, err := profiles.Select(n.Inventory, p.set, profiles.SelectOptions{Assignment: n.AssignedProfile, Hostname: n.Hostname})
	if err != nil {
		return "", v1alpha1.NodeConfig{}, err
	}
	chosen := d.Chosen(p.set)
	// The index only shapes a hostname not given yet: once named, the node
	// keeps its name, so the scan over every node is needed once per node.
	index := 1
	if n.Hostname == "" {
		index = p.index(n, chosen.Name)
	}
	plan, err := profiles.Resolve(n.Inventory, chosen, profiles.ResolveOptions{Index: index})
	if err != nil {
		return "", v1alpha1.NodeConfig{}, err
	}
	cfg := v1alpha1.NodeConfig{
		Hostname:     plan.Hostname,
		Labels:       map[string]string{},
		KernelArgs:   plan.KernelArgs,
		K3sArgs:      plan.K3sArgs,
		ImageVersion: plan.ImageVersion,
	}
	// The node's kubelet sets only what it may set on itself; role labels
	// are the controller's to apply (docs/profiles.md, k3s NodeRestriction).
	for k, v := range plan.Labels {
		if profiles.KubeletMaySet(k) {
			cfg.Labels[k] = v
		}
	}
	for k, v := range n.Labels {
		if profiles.KubeletMaySet(k) {
			cfg.Labels[k] = v
		}
	}
	for _, t := range plan.Taints {
		cfg.Taints = append(cfg.Taints, t.String())
	}
	for _, dd := range plan.Disks {
		cfg.Disks = append(cfg.Disks, v1alpha1.DiskPlan{Name: dd.Name, Path: dd.Path, ByID: dd.ByID, Use: dd.Use, Action: dd.Action, Reason: dd.Reason})
	}
	return plan.Profile, cfg, nil
}

// index is the node's number within its profile, for hostname templates:
// 1 + the number of other nodes that already have the profile and a name.
// The hostname is stored at the first configuration, so it stays.
func (p *profileSet) index(n registry.Node, profile string) int {
	nodes, err := p.reg.List()
	if err != nil {
		return 1
	}
	i := 1
	for _, o := range nodes {
		if o.ID != n.ID && o.Profile == profile && o.Hostname != "" {
			i++
		}
	}
	return i
}

// Explain implements server.Profiles.
func (p *profileSet) Explain(n registry.Node) (v1alpha1.ProfileExplanation, error) {
	d, err := profiles.Select(n.Inventory, p.set, profiles.SelectOptions{Assignment: n.AssignedProfile, Hostname: n.Hostname})
	out := v1alpha1.ProfileExplanation{Profile: d.Profile, By: d.By}
	for _, e := range d.Explanations {
		out.Profiles = append(out.Profiles, v1alpha1.ProfileReason{Profile: e.Profile, Priority: e.Priority, Result: e.Result, Reason: e.Reason})
	}
	if err != nil && len(out.Profiles) == 0 {
		return out, err
	}
	return out, nil
}
