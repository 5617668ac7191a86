package profiles

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"corral.io/corral/api/v1alpha1"
)

// How a profile was chosen.
const (
	ByAssignment = "assignment" // an operator assigned it
	BySelector   = "selector"   // one of its selectors matched the node
	ByRule       = "rule"       // its match expression was true
)

// Results of one profile in a Decision.
const (
	ResultChosen  = "chosen"   // this profile was chosen
	ResultMatched = "matched"  // it matched, but another profile won
	ResultNoMatch = "no-match" // neither a selector nor the rule matched
	ResultError   = "error"    // the match expression failed; treated as no match
)

// ErrNoProfile is returned by Select when no profile matches the node.
var ErrNoProfile = errors.New("no profile matches the node")

// ErrUnknownProfile is wrapped when an assignment names no known profile.
var ErrUnknownProfile = errors.New("unknown profile")

// SelectOptions are what the registry knows about a node besides its inventory.
type SelectOptions struct {
	// Assignment is a profile name an operator assigned to the node; it
	// wins over selectors and rules.
	Assignment string
	// Hostname is the hostname the registry knows the node by, matched by
	// selectors.hostnames; empty for a node never seen before.
	Hostname string
}

// Decision is the outcome of Select.
type Decision struct {
	// Profile is the chosen profile's name; empty when none matched.
	Profile string `json:"profile" yaml:"profile"`
	// By is how it was chosen: assignment, selector or rule.
	By string `json:"by,omitempty" yaml:"by,omitempty"`
	// Explanations has one entry per profile, in the order they were
	// considered (priority, highest first, then name).
	Explanations []Explanation `json:"explanations" yaml:"explanations"`
}

// Explanation says why one profile was or was not chosen.
type Explanation struct {
	// Profile is the profile's name.
	Profile string `json:"profile" yaml:"profile"`
	// Priority is the profile's priority.
	Priority int `json:"priority" yaml:"priority"`
	// Result is chosen, matched, no-match or error.
	Result string `json:"result" yaml:"result"`
	// Reason says what matched or why nothing did.
	Reason string `json:"reason" yaml:"reason"`
}

// Chosen returns the chosen profile from profiles, nil if none was chosen.
func (d Decision) Chosen(profiles []*Profile) *Profile {
	for _, p := range profiles {
		if p.Name == d.Profile && d.Profile != "" {
			return p
		}
	}
	return nil
}

// Select picks the profile for a node. An operator's assignment wins (an
// assignment naming no profile is an error wrapping ErrUnknownProfile);
// otherwise a profile whose selectors match the node wins over all rules;
// otherwise the profile whose match expression is true. When several
// profiles qualify at the same level, the highest priority wins, and at equal
// priority the name that sorts first. Every profile is evaluated, so the
// Decision explains each one. A match expression that fails (for example by
// exceeding CostLimit) counts as no match and is reported as an error in its
// explanation. When nothing matches, Select returns the Decision and
// ErrNoProfile.
func Select(inv *v1alpha1.Inventory, profiles []*Profile, opts SelectOptions) (Decision, error) {
	if err := CheckUnique(profiles); err != nil {
		return Decision{}, fmt.Errorf("select a profile: %w", err)
	}
	for _, p := range profiles {
		if !p.compiled {
			return Decision{}, fmt.Errorf("select a profile: profile %q was not loaded by Parse, LoadFile, LoadDir or Defaults", p.Name)
		}
	}
	if inv == nil {
		inv = &v1alpha1.Inventory{}
	}
	ordered := append([]*Profile(nil), profiles...)
	sortByPrecedence(ordered)

	var d Decision
	if opts.Assignment != "" {
		found := false
		for _, p := range ordered {
			found = found || p.Name == opts.Assignment
		}
		if !found {
			names := make([]string, 0, len(ordered))
			for _, p := range ordered {
				names = append(names, p.Name)
			}
			sort.Strings(names)
			return Decision{}, fmt.Errorf("%w %q assigned to the node; known profiles: %s", ErrUnknownProfile, opts.Assignment, strings.Join(names, ", "))
		}
		d.Profile, d.By = opts.Assignment, ByAssignment
	}

	invMap := InventoryMap(inv)
	type eval struct {
		selector, rule bool
		why            string
		failed         bool
	}
	evals := make([]eval, len(ordered))
	for i, p := range ordered {
		e := &evals[i]
		selWhy, ok := matchSelectors(p.Selectors, inv, opts.Hostname)
		if ok {
			e.selector, e.why = true, selWhy
		} else if p.program == nil {
			e.why = "no match expression and no selectors: only an assignment chooses it"
			if !p.Selectors.empty() {
				e.why = "no selector matches (" + selWhy + ") and no match expression"
			}
		} else {
			ok, err := evalMatch(p.program, invMap)
			switch {
			case err != nil:
				e.failed, e.why = true, "match expression failed: "+err.Error()
			case ok:
				e.rule, e.why = true, "match expression is true"
			default:
				e.why = "match expression is false"
			}
			if !p.Selectors.empty() {
				e.why = "no selector matches (" + selWhy + "); " + e.why
			}
		}
	}

	if d.Profile == "" {
		for i, p := range ordered {
			if evals[i].selector {
				d.Profile, d.By = p.Name, BySelector
				break
			}
		}
	}
	if d.Profile == "" {
		for i, p := range ordered {
			if evals[i].rule {
				d.Profile, d.By = p.Name, ByRule
				break
			}
		}
	}

	var winner *Profile
	for _, p := range ordered {
		if p.Name == d.Profile {
			winner = p
		}
	}
	for i, p := range ordered {
		e := evals[i]
		x := Explanation{Profile: p.Name, Priority: p.Priority, Reason: e.why}
		switch {
		case p.Name == d.Profile && d.By == ByAssignment:
			x.Result, x.Reason = ResultChosen, "assigned by an operator (wins over selectors and rules)"
			if !e.selector && !e.rule && (p.program != nil || !p.Selectors.empty()) {
				x.Reason += "; note: on its own it would not match: " + e.why
			}
		case p.Name == d.Profile:
			x.Result = ResultChosen
		case e.selector || e.rule:
			x.Result = ResultMatched
			x.Reason += "; " + lostTo(d, winner, p, e.selector)
		case e.failed:
			x.Result = ResultError
		default:
			x.Result = ResultNoMatch
		}
		d.Explanations = append(d.Explanations, x)
	}
	if d.Profile == "" {
		return d, ErrNoProfile
	}
	return d, nil
}

// lostTo says why a matching profile p lost to the winner.
func lostTo(d Decision, winner, p *Profile, bySelector bool) string {
	switch {
	case d.By == ByAssignment:
		return fmt.Sprintf("but the node is assigned to %s", d.Profile)
	case d.By == BySelector && !bySelector:
		return fmt.Sprintf("but a selector of %s matches, and selectors win over rules", d.Profile)
	case winner.Priority > p.Priority:
		return fmt.Sprintf("but %s has a higher priority (%d > %d)", d.Profile, winner.Priority, p.Priority)
	default:
		return fmt.Sprintf("but %s has the same priority (%d) and its name sorts first", d.Profile, p.Priority)
	}
}

// matchSelectors reports whether any selector matches the node and says
// which; when none does, it lists what was compared.
func matchSelectors(s Selectors, inv *v1alpha1.Inventory, hostname string) (string, bool) {
	if s.empty() {
		return "", false
	}
	var macs []string
	for _, n := range inv.NICs {
		for _, m := range []string{n.MAC, n.PermanentMAC} {
			if m = strings.ToLower(m); m != "" && !slices.Contains(macs, m) {
				macs = append(macs, m)
			}
		}
	}
	for i, pat := range s.MACs {
		pat = strings.ReplaceAll(strings.ToLower(pat), "-", ":")
		for _, m := range macs {
			if glob(pat, m) {
				return fmt.Sprintf("selectors.macs[%d] %q matches MAC %s", i, s.MACs[i], m), true
			}
		}
	}
	for i, pat := range s.Serials {
		for _, sn := range []string{inv.System.Serial, inv.System.BoardSerial, inv.System.ChassisSerial} {
			if sn != "" && glob(strings.ToUpper(pat), strings.ToUpper(sn)) {
				return fmt.Sprintf("selectors.serials[%d] %q matches serial %s", i, pat, sn), true
			}
		}
	}
	for i, pat := range s.UUIDs {
		if u := strings.ToLower(inv.System.UUID); u != "" && glob(strings.ToLower(pat), u) {
			return fmt.Sprintf("selectors.uuids[%d] %q matches UUID %s", i, pat, u), true
		}
	}
	for i, pat := range s.NodeIDs {
		if id := inv.Identity.NodeID; id != "" && glob(pat, id) {
			return fmt.Sprintf("selectors.nodeIDs[%d] %q matches node id %s", i, pat, id), true
		}
	}
	for i, pat := range s.Hostnames {
		if hostname != "" && glob(pat, hostname) {
			return fmt.Sprintf("selectors.hostnames[%d] %q matches hostname %s", i, pat, hostname), true
		}
	}
	var tried []string
	if len(s.MACs) > 0 {
		tried = append(tried, "MACs "+orNone(macs))
	}
	if len(s.Serials) > 0 {
		tried = append(tried, "serials "+orNone(nonEmpty(inv.System.Serial, inv.System.BoardSerial, inv.System.ChassisSerial)))
	}
	if len(s.UUIDs) > 0 {
		tried = append(tried, "UUID "+orNone(nonEmpty(inv.System.UUID)))
	}
	if len(s.NodeIDs) > 0 {
		tried = append(tried, "node id "+orNone(nonEmpty(inv.Identity.NodeID)))
	}
	if len(s.Hostnames) > 0 {
		tried = append(tried, "hostname "+orNone(nonEmpty(hostname)))
	}
	return "node has " + strings.Join(tried, ", "), false
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func orNone(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return strings.Join(ss, " ")
}
