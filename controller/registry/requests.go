package registry

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	bolt "go.etcd.io/bbolt"

	"corral.io/corral/api/v1alpha1"
)

// A registration request is one unauthenticated registration attempt that
// the policy did not approve: it keeps its own inventory, source address
// and enrollment-token hash, so an operator approves *a request* (the
// machine whose inventory and address they recognise), not a node id that
// anyone can claim. Requests never change the node's record until one is
// approved; a request for a node that holds a credential is an identity
// conflict (see docs/design/identity.md).

// Request is one registration attempt waiting for a decision.
type Request struct {
	// ID names the request for the operator (the first 12 hex digits of
	// its enrollment-token hash: unique, and useless to guess the token).
	ID   string `json:"id"`
	Node string `json:"node"`
	// Source is the address the registration came from.
	Source  string    `json:"source"`
	Time    time.Time `json:"time"`
	Expires time.Time `json:"expires"`
	// Conflict: the node held a credential and this registration did not
	// present it.
	Conflict bool `json:"conflict,omitempty"`
	// Summary is a one-line digest of the inventory (for lists).
	Summary   string              `json:"summary"`
	Inventory *v1alpha1.Inventory `json:"inventory,omitempty"`
	// EnrollmentHash is the hash of the token this registration was given;
	// the key of the request in the database.
	EnrollmentHash string `json:"enrollmentHash"`
}

// RequestLimits bound what unauthenticated registrations may store.
type RequestLimits struct {
	// PerNode and Total cap the requests waiting at once.
	PerNode, Total int
	// TTL is how long a request waits before it expires.
	TTL time.Duration
}

// DefaultRequestLimits: a request holds at most one inventory (the API
// bounds its size), so the total bounds the disk a flood can take.
var DefaultRequestLimits = RequestLimits{PerNode: 8, Total: 128, TTL: 24 * time.Hour}

// ErrTooManyRequests: the caps of RequestLimits are reached.
var ErrTooManyRequests = errors.New("too many registration requests waiting")

var bucketRequests = []byte("requests")

// AddRequest records a registration attempt: the record of an existing
// node is not changed, only a "registration" event (an
// "identity-conflict" one for a conflict) is added; a node id never seen
// is created, pending, with the request's inventory, in the same
// transaction (so the caps bound new records too). Expired requests are
// dropped first; over the limits it fails with ErrTooManyRequests. A node
// in state discovered becomes pending.
func (s *Store) AddRequest(r Request, lim RequestLimits) (Request, error) {
	if len(r.EnrollmentHash) < 12 {
		return Request{}, errors.New("request has no enrollment hash")
	}
	err := s.db.Batch(func(tx *bolt.Tx) error {
		now := s.now()
		b, err := tx.CreateBucketIfNotExists(bucketRequests)
		if err != nil {
			return err
		}
		n, ok, err := get(tx, r.Node)
		if err != nil {
			return err
		}
		if n.State == Decommissioned {
			return fmt.Errorf("%w: %s was decommissioned; forget it to enrol it again", ErrRefused, r.Node)
		}
		all, err := s.pruneRequests(tx, now)
		if err != nil {
			return err
		}
		perNode := 0
		for _, o := range all {
			if o.Node == r.Node {
				perNode++
			}
		}
		if lim.PerNode > 0 && perNode >= lim.PerNode {
			return fmt.Errorf("%w: node %s has %d (corral nodes show %s lists them; approve or reject one)", ErrTooManyRequests, r.Node, perNode, r.Node)
		}
		if lim.Total > 0 && len(all) >= lim.Total {
			return fmt.Errorf("%w: %d in all (corral nodes show NODE lists a node's; they expire after %s)", ErrTooManyRequests, len(all), lim.TTL)
		}
		if !ok {
			if r.Inventory == nil || r.Inventory.Identity.NodeID != r.Node {
				return fmt.Errorf("request for new node %s has no inventory of it", r.Node)
			}
			n = Node{ID: r.Node, State: Discovered, StateSince: now, FirstSeen: now, LastSeen: now,
				Inventory: r.Inventory, MACs: macs(r.Inventory),
				AgentReadySince: now, AgentReadyReason: ReasonNotApproved + ": registered",
				KubeReadySince: now, KubeReadyReason: ReasonNotSeenYet}
			if err := s.event(tx, Event{Node: r.Node, Time: now, Type: v1alpha1.EventRegistered, To: string(Discovered)}); err != nil {
				return err
			}
		}
		r.ID, r.Time = r.EnrollmentHash[:12], now
		r.Expires = now.Add(lim.TTL)
		v, err := json.Marshal(r)
		if err != nil {
			return err
		}
		if err := b.Put([]byte(r.EnrollmentHash), v); err != nil {
			return err
		}
		ev := Event{Node: r.Node, Time: now, Type: v1alpha1.EventRegistration,
			Reason: fmt.Sprintf("registration request %s from %s: %s", r.ID, r.Source, r.Summary)}
		if r.Conflict {
			ev.Type = v1alpha1.EventIdentityConflict
			ev.Reason = fmt.Sprintf("registration request %s from %s did not present the credential of %s (which holds one): node unchanged; corral nodes approve %s --request %s hands the node to it, corral nodes reject %s --request %s dismisses it: %s",
				r.ID, r.Source, r.Node, r.Node, r.ID, r.Node, r.ID, r.Summary)
		}
		if err := s.event(tx, ev); err != nil {
			return err
		}
		if n.State == Discovered {
			before := n.agentStatus()
			n.State, n.StateSince = Pending, now
			n.noteAgent(before, agentReason(Pending, "waiting for an operator"), now)
			if err := s.event(tx, Event{Node: r.Node, Time: now, Type: v1alpha1.EventState, From: string(Discovered), To: string(Pending), Reason: "registration request " + r.ID + " waits for an operator"}); err != nil {
				return err
			}
		}
		if !ok {
			return put(tx, &n, nil)
		}
		return put(tx, &n, n.MACs)
	})
	return r, err
}

// RequestByHash returns the request whose enrollment-token hash is h.
func (s *Store) RequestByHash(h string) (Request, bool, error) {
	var r Request
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, ok, err = s.requestByHash(tx, h)
		return err
	})
	return r, ok, err
}

// NodeAndRequest returns node id and the waiting request whose
// enrollment-token hash is h, read in one transaction: an approval between
// two separate reads (it approves the node and deletes its request) would
// otherwise show neither the approval nor the request.
func (s *Store) NodeAndRequest(id, h string) (n Node, r Request, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		var found bool
		if n, found, err = get(tx, id); err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		r, ok, err = s.requestByHash(tx, h)
		return err
	})
	return n, r, ok, err
}

// requestByHash reads the unexpired request whose enrollment-token hash is h.
func (s *Store) requestByHash(tx *bolt.Tx, h string) (Request, bool, error) {
	var r Request
	b := tx.Bucket(bucketRequests)
	if b == nil {
		return r, false, nil
	}
	v := b.Get([]byte(h))
	if v == nil {
		return r, false, nil
	}
	if err := json.Unmarshal(v, &r); err != nil {
		return Request{}, false, err
	}
	if s.now().After(r.Expires) {
		return Request{}, false, nil
	}
	return r, true, nil
}

// Requests returns the waiting requests of node id ("" for every node),
// oldest first, without the expired ones.
func (s *Store) Requests(id string) ([]Request, error) {
	var out []Request
	err := s.db.View(func(tx *bolt.Tx) error {
		all, err := readRequests(tx)
		now := s.now()
		for _, r := range all {
			if (id == "" || r.Node == id) && !now.After(r.Expires) {
				out = append(out, r)
			}
		}
		return err
	})
	return out, err
}

// ApproveRequest makes request reqID the node's identity, in one
// transaction: its inventory and MACs become the node's, its enrollment
// token is the only one that can collect a credential, the node's old
// credential is revoked, the node is approved, and every other request for
// the node is discarded. reqID "" picks the node's only request.
func (s *Store) ApproveRequest(id, reqID, reason string) (Node, Request, error) {
	var n Node
	var chosen Request
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		var ok bool
		var err error
		n, ok, err = get(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if n.State == Decommissioned {
			return fmt.Errorf("%w: %s is decommissioned, cannot become approved", ErrTransition, id)
		}
		chosen, err = pickRequest(tx, id, reqID, now)
		if err != nil {
			return err
		}
		oldMACs := n.MACs
		if changes := Diff(n.Inventory, chosen.Inventory); len(changes) > 0 {
			if err := s.event(tx, Event{Node: id, Time: now, Type: v1alpha1.EventInventory, Reason: "inventory of approved request " + chosen.ID, Changes: changes}); err != nil {
				return err
			}
		}
		n.Inventory, n.MACs = chosen.Inventory, macs(chosen.Inventory)
		n.EnrollmentHash, n.CredentialHash = chosen.EnrollmentHash, ""
		from := n.State
		before := n.agentStatus()
		n.State, n.StateSince, n.AgentReady = Approved, now, false
		why := fmt.Sprintf("%s: request %s from %s", reason, chosen.ID, chosen.Source)
		n.noteAgent(before, agentReason(Approved, why), now)
		if err := s.event(tx, Event{Node: id, Time: now, Type: v1alpha1.EventState, From: string(from), To: string(Approved), Reason: why}); err != nil {
			return err
		}
		if err := s.dropRequests(tx, id, chosen.ID, now, "another request ("+chosen.ID+") was approved"); err != nil {
			return err
		}
		return put(tx, &n, oldMACs)
	})
	return n, chosen, err
}

// RejectRequest discards one request of node id (reqID "" for its only
// one); the node is not changed.
func (s *Store) RejectRequest(id, reqID, reason string) (Request, error) {
	var r Request
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if r, err = pickRequest(tx, id, reqID, s.now()); err != nil {
			return err
		}
		if err := tx.Bucket(bucketRequests).Delete([]byte(r.EnrollmentHash)); err != nil {
			return err
		}
		return s.event(tx, Event{Node: id, Time: s.now(), Type: v1alpha1.EventRegistration, Reason: fmt.Sprintf("request %s from %s rejected: %s", r.ID, r.Source, reason)})
	})
	return r, err
}

// ErrNoRequest: the node has no (such) waiting request.
var ErrNoRequest = errors.New("no such registration request")

func pickRequest(tx *bolt.Tx, id, reqID string, now time.Time) (Request, error) {
	all, err := readRequests(tx)
	if err != nil {
		return Request{}, err
	}
	var mine []Request
	for _, r := range all {
		if r.Node == id && !now.After(r.Expires) {
			mine = append(mine, r)
		}
	}
	if reqID == "" {
		switch len(mine) {
		case 0:
			return Request{}, fmt.Errorf("%w: node %s has no registration request waiting (boot the machine so that it registers)", ErrNoRequest, id)
		case 1:
			return mine[0], nil
		}
		ids := make([]string, len(mine))
		for i, r := range mine {
			ids[i] = r.ID + " (" + r.Source + ")"
		}
		return Request{}, fmt.Errorf("%w: node %s has %d registration requests: %v; choose one with --request (corral nodes show %s shows their inventories)", ErrNoRequest, id, len(mine), ids, id)
	}
	for _, r := range mine {
		if r.ID == reqID {
			return r, nil
		}
	}
	return Request{}, fmt.Errorf("%w: node %s has no waiting request %s (corral nodes show %s lists them)", ErrNoRequest, id, reqID, id)
}

// dropRequests deletes node id's requests but keep, with an event each.
func (s *Store) dropRequests(tx *bolt.Tx, id, keep string, now time.Time, why string) error {
	all, err := readRequests(tx)
	if err != nil {
		return err
	}
	for _, r := range all {
		if r.Node != id {
			continue
		}
		if err := tx.Bucket(bucketRequests).Delete([]byte(r.EnrollmentHash)); err != nil {
			return err
		}
		if r.ID == keep {
			continue
		}
		if err := s.event(tx, Event{Node: id, Time: now, Type: v1alpha1.EventRegistration, Reason: fmt.Sprintf("request %s from %s discarded: %s", r.ID, r.Source, why)}); err != nil {
			return err
		}
	}
	return nil
}

// pruneRequests deletes expired requests and returns the others.
func (s *Store) pruneRequests(tx *bolt.Tx, now time.Time) ([]Request, error) {
	all, err := readRequests(tx)
	if err != nil {
		return nil, err
	}
	live := all[:0]
	for _, r := range all {
		if now.After(r.Expires) {
			if err := tx.Bucket(bucketRequests).Delete([]byte(r.EnrollmentHash)); err != nil {
				return nil, err
			}
			continue
		}
		live = append(live, r)
	}
	return live, nil
}

func readRequests(tx *bolt.Tx) ([]Request, error) {
	b := tx.Bucket(bucketRequests)
	if b == nil {
		return nil, nil
	}
	var out []Request
	err := b.ForEach(func(_, v []byte) error {
		var r Request
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].Time.Before(out[j].Time) })
	return out, err
}

// forgetRequests deletes a node's requests (Forget).
func forgetRequests(tx *bolt.Tx, id string) error {
	all, err := readRequests(tx)
	if err != nil {
		return err
	}
	for _, r := range all {
		if r.Node == id {
			if err := tx.Bucket(bucketRequests).Delete([]byte(r.EnrollmentHash)); err != nil {
				return err
			}
		}
	}
	return nil
}
