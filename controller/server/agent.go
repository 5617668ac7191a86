package server

import (
	"errors"
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
//
// A registration that does not present the node's valid credential never
// changes the record of a node that holds one: it becomes a registration
// request flagged as an identity conflict. One for a node without a
// credential that the policy does not approve becomes a request of its own
// too (docs/design/identity.md).
func (a *API) register(w http.ResponseWriter, r *http.Request) (any, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxRegisterBody)
	req, err := decodeRegister(r)
	if err != nil {
		return nil, err
	}
	id := req.Inventory.Identity.NodeID
	old, gerr := a.o.Registry.Get(id)
	exists := gerr == nil
	if gerr != nil && !errors.Is(gerr, registry.ErrNotFound) {
		return nil, gerr
	}
	// A credential from an earlier approval proves this is the machine
	// that was approved: it keeps its approval across the reboot.
	kept := false
	if req.Credential != "" && exists {
		cid, secret, ok := enroll.SplitNodeToken(req.Credential)
		kept = ok && cid == id && enroll.Matches(old.CredentialHash, secret)
	}
	source := sourceOf(r)
	if !kept {
		if err := a.limits.allow(source); err != nil {
			return nil, err
		}
	}
	log := a.log.With("node", id, "source", source)
	token, hash := enroll.NodeToken(id)
	var n registry.Node
	switch {
	case kept:
		if n, _, err = a.o.Registry.Register(&req.Inventory); err != nil {
			return nil, err
		}
		log.Info("node re-registered with its credential")
		if n, err = a.setEnrollment(id, hash); err != nil {
			return nil, err
		}
	case exists && old.State == registry.Decommissioned:
		return nil, fmt.Errorf("%w: %s was decommissioned; forget it to enrol it again", registry.ErrRefused, id)
	case exists && old.CredentialHash != "":
		// Someone sends the id of a node that holds a credential, without
		// it: the same machine that lost its identity, or a copy. Record
		// it; change nothing.
		rq, err := a.o.Registry.AddRequest(a.request(id, source, hash, true, &req.Inventory), a.o.RequestLimits)
		if err != nil {
			return nil, err
		}
		log.Warn("identity conflict: registration without the credential of a node that holds one", "request", rq.ID, "state", old.State)
		n = old
		return v1alpha1.RegisterResponse{
			APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
			NodeID: id, State: registry.Pending, EnrollmentToken: token, RetryAfterSeconds: pendingRetry,
			Message: fmt.Sprintf("node %s holds a credential this registration did not present: identity conflict recorded as request %s; an operator decides (corral nodes approve %s --request %s)", id, rq.ID, id, rq.ID),
		}, nil
	default:
		approve, why := a.o.Policy.Decide(&req.Inventory)
		if approve {
			if n, _, err = a.o.Registry.Register(&req.Inventory); err != nil {
				return nil, err
			}
			if !exists {
				log.Info("node registered", "macs", n.MACs)
			}
			if n.State == registry.Discovered || n.State == registry.Pending {
				log.Info("enrollment decision", "state", registry.Approved, "why", why)
				if n, err = a.o.Registry.Transition(id, registry.Approved, why); err != nil {
					return nil, err
				}
			}
			if n, err = a.setEnrollment(id, hash); err != nil {
				return nil, err
			}
			break
		}
		// Its own request: the node's record keeps its inventory until an
		// operator approves this one.
		rq, err := a.o.Registry.AddRequest(a.request(id, source, hash, false, &req.Inventory), a.o.RequestLimits)
		if err != nil {
			return nil, err
		}
		log.Info("registration request waits for an operator", "request", rq.ID, "why", why)
		return v1alpha1.RegisterResponse{
			APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
			NodeID: id, State: registry.Pending, EnrollmentToken: token, RetryAfterSeconds: pendingRetry,
			Message: fmt.Sprintf("waiting for an operator to approve request %s of node %s: corral nodes approve %s --request %s", rq.ID, id, id, rq.ID),
		}, nil
	}
	return v1alpha1.RegisterResponse{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
		NodeID: id, State: n.State, EnrollmentToken: token,
		RetryAfterSeconds: pendingRetry, Message: waitMessage(n),
	}, nil
}

// setEnrollment makes hash the node's enrollment token: the one that may
// collect its credential.
func (a *API) setEnrollment(id, hash string) (registry.Node, error) {
	return a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
		n.EnrollmentHash = hash
		return nil, nil
	})
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
	n, rq, waiting, err := a.o.Registry.NodeAndRequest(id, enroll.Hash(secret))
	if err == nil && !enroll.Matches(n.EnrollmentHash, secret) {
		// A token of a waiting request: it waits; no secret.
		if waiting && rq.Node == id {
			if n.State == registry.Decommissioned {
				return nil, fail(http.StatusForbidden, "node %s is decommissioned or was rejected: corral nodes forget %s lets it enrol again", id, id)
			}
			return status{http.StatusAccepted, v1alpha1.RegisterResponse{
				APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterResponse,
				NodeID: id, State: registry.Pending, RetryAfterSeconds: pendingRetry,
				Message: fmt.Sprintf("waiting for an operator to approve request %s of node %s: corral nodes approve %s --request %s", rq.ID, id, id, rq.ID),
			}}, nil
		}
	}
	if err != nil || !enroll.Matches(n.EnrollmentHash, secret) {
		return nil, fail(http.StatusUnauthorized, "enrollment token not valid (a newer registration replaced it, or its request was discarded or expired?): register again")
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
