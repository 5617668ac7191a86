package server

import (
	"fmt"
	"net/http"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

// pendingRetry is how long a waiting agent is told to wait between asks.
const pendingRetry = 5

// register records a booting machine and decides, per policy, whether it is
// approved. It returns an enrollment token for this boot; no secret (node
// credential, join data) is ever in this answer.
func (a *API) register(w http.ResponseWriter, r *http.Request) (any, error) {
	var req v1alpha1.RegisterRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	if req.APIVersion != v1alpha1.Version || req.Kind != v1alpha1.KindRegisterRequest {
		return nil, fail(http.StatusBadRequest, "want apiVersion %q and kind %q, got %q and %q", v1alpha1.Version, v1alpha1.KindRegisterRequest, req.APIVersion, req.Kind)
	}
	id := req.Inventory.Identity.NodeID
	if !nodeIDPattern.MatchString(id) {
		return nil, fail(http.StatusBadRequest, "inventory.identity.nodeID %q is not a node id (1-128 of A-Z a-z 0-9 . _ : -)", id)
	}
	// A credential from an earlier approval proves this is the machine
	// that was approved: it keeps its approval across the reboot.
	kept := false
	if req.Credential != "" {
		cid, secret, ok := enroll.SplitNodeToken(req.Credential)
		if old, err := a.o.Registry.Get(id); ok && cid == id && err == nil && enroll.Matches(old.CredentialHash, secret) {
			kept = true
		}
	}
	n, created, err := a.o.Registry.Register(&req.Inventory)
	if err != nil {
		return nil, err
	}
	log := a.log.With("node", id)
	if created {
		log.Info("node registered", "macs", n.MACs)
	}
	switch {
	case n.State == registry.Discovered:
		n, err = a.decide(n, &req.Inventory, "")
	case kept:
		log.Info("node re-registered with its credential")
	case n.State != registry.Pending:
		// Enrolled before, but this boot carries no valid credential:
		// whoever sends this inventory must pass the policy again.
		n, err = a.decide(n, &req.Inventory, "re-registered without its credential: ")
	}
	if err != nil {
		return nil, err
	}
	token, hash := enroll.NodeToken(id)
	n, err = a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
		n.EnrollmentHash = hash
		return nil, nil
	})
	if err != nil {
		return nil, err
	}
	return v1alpha1.RegisterResponse{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
		NodeID: id, State: n.State, EnrollmentToken: token,
		RetryAfterSeconds: pendingRetry, Message: waitMessage(n),
	}, nil
}

// decide applies the enrollment policy to a node.
func (a *API) decide(n registry.Node, inv *v1alpha1.Inventory, prefix string) (registry.Node, error) {
	approve, why := a.o.Policy.Decide(inv)
	to := registry.Pending
	if approve {
		to = registry.Approved
		if n.State != registry.Discovered && n.State != registry.Pending {
			return n, nil // still approved; a new credential will be issued
		}
	}
	if n.State == to {
		return n, nil
	}
	a.log.Info("enrollment decision", "node", n.ID, "state", to, "why", prefix+why)
	return a.o.Registry.Transition(n.ID, to, prefix+why)
}

func waitMessage(n registry.Node) string {
	switch n.State {
	case registry.Pending, registry.Discovered:
		return fmt.Sprintf("waiting for an operator to approve node %s: corral nodes approve %s", n.ID, n.ID)
	case registry.Decommissioned:
		return "node is decommissioned"
	}
	return "approved: collect the credential"
}

// credential hands an approved node its credential, once per registration.
func (a *API) credential(w http.ResponseWriter, r *http.Request) (any, error) {
	id, secret, ok := enroll.SplitNodeToken(bearer(r))
	if !ok {
		return nil, fail(http.StatusUnauthorized, "missing or malformed enrollment token: register first")
	}
	n, err := a.o.Registry.Get(id)
	if err != nil || !enroll.Matches(n.EnrollmentHash, secret) {
		return nil, fail(http.StatusUnauthorized, "enrollment token not valid (a newer registration replaced it?): register again")
	}
	switch n.State {
	case registry.Decommissioned:
		return nil, fail(http.StatusForbidden, "node %s is decommissioned or was rejected: corral nodes forget %s lets it enrol again", id, id)
	case registry.Discovered, registry.Pending:
		return status{http.StatusAccepted, v1alpha1.RegisterResponse{
			APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
			NodeID: id, State: n.State, RetryAfterSeconds: pendingRetry, Message: waitMessage(n),
		}}, nil
	}
	token, hash := enroll.NodeToken(id)
	if _, err := a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
		if !enroll.Matches(n.EnrollmentHash, secret) {
			return nil, fail(http.StatusUnauthorized, "enrollment token was used or replaced: register again")
		}
		n.EnrollmentHash, n.CredentialHash = "", hash
		return &registry.Event{Type: v1alpha1.EventCredential, Reason: "credential issued"}, nil
	}); err != nil {
		return nil, err
	}
	a.log.Info("credential issued", "node", id)
	return v1alpha1.Credential{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindCredential, NodeID: id, Credential: token}, nil
}

func nodeFrom(r *http.Request) registry.Node { return r.Context().Value(nodeKey{}).(registry.Node) }

// config answers the node's configuration; an approved node is now
// provisioning.
func (a *API) config(w http.ResponseWriter, r *http.Request) (any, error) {
	n := nodeFrom(r)
	if n.State == registry.Pending {
		return nil, fail(http.StatusForbidden, "node %s awaits approval", n.ID)
	}
	profile, cfg, err := a.o.Profiles.Resolve(n)
	if err != nil {
		return nil, fmt.Errorf("resolve profile for %s: %w", n.ID, err)
	}
	n, err = a.o.Registry.Update(n.ID, func(rn *registry.Node) (*registry.Event, error) {
		var ev *registry.Event
		if rn.Profile != profile {
			ev = &registry.Event{Type: v1alpha1.EventProfile, From: rn.Profile, To: profile, Reason: "profile resolved"}
			rn.Profile = profile
		}
		if rn.Hostname == "" {
			rn.Hostname = cfg.Hostname
		}
		return ev, nil
	})
	if err != nil {
		return nil, err
	}
	if n.State == registry.Approved || n.State == registry.Ready || n.State == registry.Lost {
		if n, err = a.o.Registry.Transition(n.ID, registry.Provisioning, "fetched its configuration"); err != nil {
			return nil, err
		}
	}
	cfg.APIVersion, cfg.Kind = v1alpha1.Version, v1alpha1.KindNodeConfig
	cfg.NodeID, cfg.Hostname, cfg.Profile = n.ID, n.Hostname, profile
	cfg.HeartbeatSeconds = int(a.o.Heartbeat.Seconds())
	cfg.K3s = nil // only the join data below, never a profile's
	if a.o.K3sJoin != nil && mayJoin(n.State) {
		cfg.K3s = a.o.K3sJoin()
	}
	return cfg, nil
}

// mayJoin lists the states in which a node is given the k3s join data: it
// was approved and has not been decommissioned since.
func mayJoin(s registry.State) bool {
	switch s {
	case registry.Approved, registry.Provisioning, registry.Ready, registry.Lost:
		return true
	}
	return false
}

// heartbeat records that the node is alive, and ready once it says so.
func (a *API) heartbeat(w http.ResponseWriter, r *http.Request) (any, error) {
	var hb v1alpha1.Heartbeat
	if err := decode(r, &hb); err != nil {
		return nil, err
	}
	n, err := a.o.Registry.Seen(nodeFrom(r).ID)
	if err != nil {
		return nil, err
	}
	if hb.Ready && n.State == registry.Provisioning {
		if _, err := a.o.Registry.Transition(n.ID, registry.Ready, "reported ready"); err != nil {
			return nil, err
		}
	}
	return status{http.StatusNoContent, nil}, nil
}
