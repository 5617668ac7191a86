package enroll

import (
	"fmt"
	"path"
	"strings"

	"corral.io/corral/api/v1alpha1"
)

// Policy modes.
const (
	// Auto approves every node: for labs.
	Auto = "auto"
	// Manual waits for an operator (the default).
	Manual = "manual"
	// Allowlist approves nodes matching a pattern, and waits for an
	// operator for the others.
	Allowlist = "allowlist"
)

// Pattern matches a machine by MAC, serial or UUID (shell globs, case
// insensitive: "52:54:00:*", "SN-12??"). Every field set must match.
type Pattern struct {
	MAC    string `yaml:"mac,omitempty" json:"mac,omitempty"`
	Serial string `yaml:"serial,omitempty" json:"serial,omitempty"`
	UUID   string `yaml:"uuid,omitempty" json:"uuid,omitempty"`
}

// Policy decides whether a registering node is approved without an operator.
type Policy struct {
	Mode      string
	Allowlist []Pattern
}

// Validate checks the mode and the patterns.
func (p Policy) Validate() error {
	switch p.Mode {
	case Auto, Manual:
	case Allowlist:
		if len(p.Allowlist) == 0 {
			return fmt.Errorf("policy allowlist needs at least one pattern in enrollment.allowlist")
		}
	default:
		return fmt.Errorf("policy is %q, must be auto, manual or allowlist", p.Mode)
	}
	for i, pat := range p.Allowlist {
		if pat.MAC == "" && pat.Serial == "" && pat.UUID == "" {
			return fmt.Errorf("allowlist[%d]: set mac, serial or uuid", i)
		}
		for _, g := range []string{pat.MAC, pat.Serial, pat.UUID} {
			if _, err := path.Match(g, ""); err != nil {
				return fmt.Errorf("allowlist[%d]: pattern %q: %w", i, g, err)
			}
		}
	}
	return nil
}

// Decide says whether inv is approved by the policy, and why.
func (p Policy) Decide(inv *v1alpha1.Inventory) (approve bool, reason string) {
	switch p.Mode {
	case Auto:
		return true, "policy auto"
	case Allowlist:
		for i, pat := range p.Allowlist {
			if pat.matches(inv) {
				return true, fmt.Sprintf("matches enrollment.allowlist[%d]", i)
			}
		}
		return false, "matches no enrollment.allowlist pattern: waiting for an operator"
	}
	return false, "policy manual: waiting for an operator"
}

func (pat Pattern) matches(inv *v1alpha1.Inventory) bool {
	glob := func(pattern, s string) bool {
		ok, _ := path.Match(strings.ToLower(pattern), strings.ToLower(s))
		return ok && s != ""
	}
	if pat.MAC != "" {
		found := false
		for _, n := range inv.NICs {
			if glob(pat.MAC, n.PermanentMAC) || glob(pat.MAC, n.MAC) {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	if pat.Serial != "" && !glob(pat.Serial, inv.System.Serial) {
		return false
	}
	if pat.UUID != "" && !glob(pat.UUID, inv.System.UUID) {
		return false
	}
	return true
}
