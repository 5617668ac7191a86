package main

import (
	"encoding/json"
	"testing"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
)

// TestProfilesExplainNodeAsksTheController explains a node the controller
// knows, by hostname, through the real API.
func TestProfilesExplainNodeAsksTheController(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	cfg := writeClientConfig(t, ctl.URL, ctl.CAPEM, ctl.AdminToken)
	n := seed(t, ctl.Registry, "qemu", "worker-9", registry.Pending)

	out, err := corralCLI(t, "", "profiles", "explain", "worker-9", "--client-config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantContains(t, out, "Node:", n.ID, "Profile:", "default (by rule)", "PROFILE", "RESULT", "chosen")

	out, err = corralCLI(t, "", "profiles", "explain", n.ID, "--client-config", cfg, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var ex v1alpha1.ProfileExplanation
	if err := json.Unmarshal([]byte(out), &ex); err != nil || ex.NodeID != n.ID || ex.Profile != "default" {
		t.Errorf("json: %+v %v", ex, err)
	}

	if _, err := corralCLI(t, "", "profiles", "explain", "no-such-node", "--client-config", cfg); err == nil {
		t.Errorf("an unknown node must be an error")
	}
	if _, err := corralCLI(t, "", "profiles", "explain", "worker-9", "--inventory", "x.json"); err == nil {
		t.Errorf("NODE and --inventory together must be refused")
	}
	if _, err := corralCLI(t, "", "profiles", "explain"); err == nil {
		t.Errorf("neither NODE nor --inventory must be refused")
	}
}
