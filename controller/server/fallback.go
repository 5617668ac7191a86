package server

import (
	"crypto/sha256"
	"encoding/hex"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
)

// Fallback is the Profiles used when no profile set is configured: every
// node is "default", named node-<first 8 hex digits of a hash of its id>.
type Fallback struct{}

// Resolve implements Profiles.
func (Fallback) Resolve(n registry.Node) (string, v1alpha1.NodeConfig, error) {
	sum := sha256.Sum256([]byte(n.ID))
	return "default", v1alpha1.NodeConfig{Hostname: "node-" + hex.EncodeToString(sum[:4]), Labels: n.Labels}, nil
}

// Has implements Profiles.
func (Fallback) Has(name string) bool { return name == "default" }

// Explain implements Profiles.
func (Fallback) Explain(n registry.Node) (v1alpha1.ProfileExplanation, error) {
	return v1alpha1.ProfileExplanation{Profile: "default", By: "rule",
		Profiles: []v1alpha1.ProfileReason{{Profile: "default", Result: "chosen", Reason: "the only profile"}}}, nil
}
