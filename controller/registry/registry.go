// Package registry is the controller's memory of every machine: one record per
// node (identity, inventory, state, profile, operator labels) and an
// append-only history of events (state transitions with their reason,
// inventory changes with the difference).
//
// It is a bbolt file under the state directory (see docs/design/leases.md for
// why bbolt): every write is one fsynced transaction, so anything a caller
// was told succeeded survives kill -9. The schema is versioned and migrated at
// Open.
package registry

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"corral.io/corral/api/v1alpha1"
)

// Node is one machine.
type Node struct {
	// ID is the stable node id from the inventory (see docs/inventory.md).
	ID string `json:"id"`
	// Hostname is given by the profile's template at approval; empty before.
	Hostname string `json:"hostname,omitempty"`
	State    State  `json:"state"`
	// StateSince is when the node entered State.
	StateSince time.Time `json:"stateSince"`
	// Profile is the profile in force; AssignedProfile is an operator's
	// explicit choice, which wins over rules.
	Profile         string `json:"profile,omitempty"`
	AssignedProfile string `json:"assignedProfile,omitempty"`
	// Labels are set by the operator, on top of the profile's.
	Labels map[string]string `json:"labels,omitempty"`
	// MACs are the permanent addresses of its NICs.
	MACs      []string            `json:"macs,omitempty"`
	Inventory *v1alpha1.Inventory `json:"inventory,omitempty"`
	FirstSeen time.Time           `json:"firstSeen"`
	LastSeen  time.Time           `json:"lastSeen"`
	// Generation counts changes to the record.
	Generation int64 `json:"generation"`
	// EnrollmentHash and CredentialHash are SHA-256 hashes of the node's
	// current enrollment token and credential; the secrets themselves are
	// never stored.
	EnrollmentHash string `json:"enrollmentHash,omitempty"`
	CredentialHash string `json:"credentialHash,omitempty"`
	// AgentReady: the agent reported ready since it last fetched its
	// configuration. KubeReady: its Kubernetes Node is Ready. Both matter
	// only with RequireKubeReady (see kube.go).
	AgentReady bool `json:"agentReady,omitempty"`
	KubeReady  bool `json:"kubeReady,omitempty"`
	// AgentReadySince and KubeReadySince are when each flag's condition
	// last changed status (for AgentReady, lost counts as a status of its
	// own: Unknown); AgentReadyReason and KubeReadyReason say why, as
	// "Reason" or "Reason: message" (see SplitReason), and follow every
	// report even when the status stays. Records written before these
	// fields existed decode with them zero; they are filled at the next
	// change (see conditions.go).
	AgentReadySince  time.Time `json:"agentReadySince,omitzero"`
	AgentReadyReason string    `json:"agentReadyReason,omitempty"`
	KubeReadySince   time.Time `json:"kubeReadySince,omitzero"`
	KubeReadyReason  string    `json:"kubeReadyReason,omitempty"`
}

// Event is one entry of a node's history.
type Event struct {
	Seq    uint64             `json:"seq"`
	Node   string             `json:"node"`
	Time   time.Time          `json:"time"`
	Type   v1alpha1.EventType `json:"type"`
	From   string             `json:"from,omitempty"`
	To     string             `json:"to,omitempty"`
	Reason string             `json:"reason,omitempty"`
	// Changes lists what differs, for inventory events.
	Changes []string `json:"changes,omitempty"`
}

// Errors callers turn into API status codes.
var (
	ErrNotFound   = errors.New("node not found")
	ErrTransition = errors.New("state transition not allowed")
	ErrRefused    = errors.New("node is decommissioned")
)

// schemaVersion is the layout this code reads and writes.
const schemaVersion = 1

var (
	bucketMeta   = []byte("meta")
	bucketNodes  = []byte("nodes")
	bucketEvents = []byte("events")
	bucketMACs   = []byte("macs")
	keySchema    = []byte("schema")
)

// Store is the registry database.
type Store struct {
	db  *bolt.DB
	now func() time.Time

	kubeGate atomic.Bool // RequireKubeReady
	watchMu  sync.Mutex
	watchers []func(Event)
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens or creates the registry at path and migrates it to the current
// schema. A database written by a newer Corral is refused, not touched.
func Open(path string, opts ...Option) (*Store, error) {
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open registry %s: locked by another process (is another controller running with this stateDir?)", path)
		}
		return nil, fmt.Errorf("open registry %s: %w", path, err)
	}
	// Registrations and heartbeats of many nodes arrive together: Batch
	// lets one fsync cover them, and a short delay keeps a lone write quick.
	// (Batch may run a function twice; every function here re-reads what it
	// changes inside its transaction, so that is harmless.)
	db.MaxBatchDelay = 2 * time.Millisecond
	s := &Store{db: db, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if err := db.Update(migrate); err != nil {
		db.Close()
		return nil, fmt.Errorf("registry %s: %w", path, err)
	}
	return s, nil
}

// migrations[i] moves the schema from version i to i+1.
var migrations = []func(tx *bolt.Tx) error{
	func(tx *bolt.Tx) error { // 0 → 1: the initial layout
		for _, b := range [][]byte{bucketNodes, bucketEvents, bucketMACs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	},
}

func migrate(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	v := 0
	if b := meta.Get(keySchema); len(b) == 8 {
		v = int(binary.BigEndian.Uint64(b))
	}
	if v > schemaVersion {
		return fmt.Errorf("schema version %d is newer than this controller understands (%d): upgrade Corral", v, schemaVersion)
	}
	for ; v < schemaVersion; v++ {
		if err := migrations[v](tx); err != nil {
			return fmt.Errorf("migrate schema %d → %d: %w", v, v+1, err)
		}
	}
	return meta.Put(keySchema, u64(uint64(schemaVersion)))
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Register records a node's inventory: a new node is created as discovered;
// a known node (same id — e.g. after a reboot) keeps its record, hostname and
// state, and a changed inventory is recorded as an event listing the
// differences. A decommissioned node is refused with ErrRefused.
func (s *Store) Register(inv *v1alpha1.Inventory) (n Node, created bool, err error) {
	id := inv.Identity.NodeID
	if id == "" {
		return Node{}, false, errors.New("inventory has no node id")
	}
	err = s.db.Batch(func(tx *bolt.Tx) error {
		now := s.now()
		old, ok, err := get(tx, id)
		if err != nil {
			return err
		}
		if ok && old.State == Decommissioned {
			return fmt.Errorf("%w: %s was decommissioned; forget it to enrol it again", ErrRefused, id)
		}
		if !ok {
			created = true
			n = Node{ID: id, State: Discovered, StateSince: now, FirstSeen: now,
				AgentReadySince: now, AgentReadyReason: ReasonNotApproved + ": registered",
				KubeReadySince: now, KubeReadyReason: ReasonNotSeenYet}
			if err := s.event(tx, Event{Node: id, Time: now, Type: v1alpha1.EventRegistered, To: string(Discovered)}); err != nil {
				return err
			}
		} else {
			n = old
			if changes := Diff(old.Inventory, inv); len(changes) > 0 {
				if err := s.event(tx, Event{Node: id, Time: now, Type: v1alpha1.EventInventory, Reason: "hardware changed", Changes: changes}); err != nil {
					return err
				}
			}
		}
		n.Inventory = inv
		n.LastSeen = now
		n.MACs = macs(inv)
		return put(tx, &n, old.MACs)
	})
	return n, created, err
}

// Transition moves a node to another state, recording why.
func (s *Store) Transition(id string, to State, reason string) (Node, error) {
	return s.update(id, func(tx *bolt.Tx, n *Node) error {
		if n.State == to {
			return nil
		}
		if !CanTransition(n.State, to) {
			return fmt.Errorf("%w: %s is %s, cannot become %s", ErrTransition, id, n.State, to)
		}
		now := s.now()
		before := n.agentStatus()
		n.AgentReady = to == Ready
		if to == Ready && s.kubeHolds(n) {
			n.noteAgent(before, agentReason(to, reason), now)
			return nil // ready once its Kubernetes Node is (SetKubeReady)
		}
		from := n.State
		n.State, n.StateSince = to, now
		n.noteAgent(before, agentReason(to, reason), now)
		return s.event(tx, Event{Node: id, Time: n.StateSince, Type: v1alpha1.EventState, From: string(from), To: string(to), Reason: reason})
	})
}

// Update changes a node's record with fn inside one transaction; fn may
// return an event to record. Used for operator edits (labels, assignment).
func (s *Store) Update(id string, fn func(n *Node) (*Event, error)) (Node, error) {
	return s.update(id, func(tx *bolt.Tx, n *Node) error {
		ev, err := fn(n)
		if err != nil || ev == nil {
			return err
		}
		ev.Node, ev.Time = id, s.now()
		return s.event(tx, *ev)
	})
}

// Seen records a heartbeat; a lost node is back to ready.
func (s *Store) Seen(id string) (Node, error) {
	return s.update(id, func(tx *bolt.Tx, n *Node) error {
		n.LastSeen = s.now()
		if n.State == Lost {
			to := Ready
			if s.kubeHolds(n) {
				to = Provisioning
			}
			before := n.agentStatus()
			n.State, n.StateSince = to, n.LastSeen
			n.noteAgent(before, ReasonHeartbeatResumed+": heard from again", n.LastSeen)
			return s.event(tx, Event{Node: id, Time: n.LastSeen, Type: v1alpha1.EventState, From: string(Lost), To: string(to), Reason: "heard from again"})
		}
		return nil
	})
}

// MarkLost moves ready nodes not heard from for longer than after to lost,
// and returns their ids.
func (s *Store) MarkLost(after time.Duration) ([]string, error) {
	var lost []string
	err := s.db.Update(func(tx *bolt.Tx) error {
		now := s.now()
		var stale []Node
		err := tx.Bucket(bucketNodes).ForEach(func(_, v []byte) error {
			var n Node
			if err := json.Unmarshal(v, &n); err != nil {
				return err
			}
			if n.State == Ready && now.Sub(n.LastSeen) > after {
				stale = append(stale, n)
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, n := range stale {
			before := n.agentStatus()
			n.State, n.StateSince = Lost, now
			reason := fmt.Sprintf("no heartbeat for %s (last %s)", now.Sub(n.LastSeen).Round(time.Second), n.LastSeen.Format(time.RFC3339))
			n.noteAgent(before, ReasonHeartbeatMissed+": "+reason, now)
			if err := s.event(tx, Event{Node: n.ID, Time: now, Type: v1alpha1.EventState, From: string(Ready), To: string(Lost), Reason: reason}); err != nil {
				return err
			}
			if err := put(tx, &n, n.MACs); err != nil {
				return err
			}
			lost = append(lost, n.ID)
		}
		return nil
	})
	return lost, err
}

func (s *Store) update(id string, fn func(tx *bolt.Tx, n *Node) error) (Node, error) {
	var n Node
	err := s.db.Batch(func(tx *bolt.Tx) error {
		old, ok, err := get(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		n = old
		n.Labels = cloneMap(old.Labels)
		if err := fn(tx, &n); err != nil {
			return err
		}
		return put(tx, &n, old.MACs)
	})
	return n, err
}

// Forget deletes a node and its history, so the machine enrols afresh.
func (s *Store) Forget(id string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		n, ok, err := get(tx, id)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		for _, m := range n.MACs {
			if err := tx.Bucket(bucketMACs).Delete([]byte(m)); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketEvents).DeleteBucket([]byte(id)); err != nil && !errors.Is(err, bolterrors.ErrBucketNotFound) {
			return err
		}
		if err := forgetRequests(tx, id); err != nil {
			return err
		}
		return tx.Bucket(bucketNodes).Delete([]byte(id))
	})
}

func get(tx *bolt.Tx, id string) (Node, bool, error) {
	v := tx.Bucket(bucketNodes).Get([]byte(id))
	if v == nil {
		return Node{}, false, nil
	}
	var n Node
	if err := json.Unmarshal(v, &n); err != nil {
		return Node{}, false, fmt.Errorf("decode node %s: %w", id, err)
	}
	return n, true, nil
}

// put writes n and keeps the MAC index in step (oldMACs were indexed before).
func put(tx *bolt.Tx, n *Node, oldMACs []string) error {
	n.Generation++
	v, err := json.Marshal(n)
	if err != nil {
		return err
	}
	idx := tx.Bucket(bucketMACs)
	for _, m := range oldMACs {
		if !slices.Contains(n.MACs, m) && string(idx.Get([]byte(m))) == n.ID {
			if err := idx.Delete([]byte(m)); err != nil {
				return err
			}
		}
	}
	for _, m := range n.MACs {
		if err := idx.Put([]byte(m), []byte(n.ID)); err != nil {
			return err
		}
	}
	return tx.Bucket(bucketNodes).Put([]byte(n.ID), v)
}

func (s *Store) event(tx *bolt.Tx, e Event) error {
	b, err := tx.Bucket(bucketEvents).CreateBucketIfNotExists([]byte(e.Node))
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	e.Seq = seq
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	tx.OnCommit(func() { s.notify(e) })
	return b.Put(u64(seq), v)
}

func macs(inv *v1alpha1.Inventory) []string {
	var out []string
	for _, nic := range inv.NICs {
		for _, m := range []string{nic.PermanentMAC, nic.MAC} {
			if m = strings.ToLower(m); m != "" && !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	slices.Sort(out)
	return out
}

func cloneMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func u64(v uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], v)
	return b[:]
}
