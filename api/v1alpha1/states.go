package v1alpha1

import "slices"

// NodeState is where a node is in its lifecycle. These are the only
// spellings of a node state: the controller's registry stores them, the API
// returns them and the CLI filters and explains by them.
type NodeState string

// The node states, in lifecycle order.
const (
	// NodeDiscovered: registered once, no enrolment decision yet.
	NodeDiscovered NodeState = "discovered"
	// NodePending: waiting for an operator's approval (manual policy).
	NodePending NodeState = "pending"
	// NodeApproved: may receive its configuration and secrets.
	NodeApproved NodeState = "approved"
	// NodeProvisioning: fetched its configuration and is applying it.
	NodeProvisioning NodeState = "provisioning"
	// NodeReady: provisioned and heartbeating.
	NodeReady NodeState = "ready"
	// NodeLost: was ready, then missed its heartbeats.
	NodeLost NodeState = "lost"
	// NodeDecommissioned: taken out of service (or rejected); refused from
	// now on.
	NodeDecommissioned NodeState = "decommissioned"
)

// NodeStates lists every node state in lifecycle order.
func NodeStates() []NodeState {
	return []NodeState{NodeDiscovered, NodePending, NodeApproved, NodeProvisioning, NodeReady, NodeLost, NodeDecommissioned}
}

// Valid reports whether s is one of NodeStates.
func (s NodeState) Valid() bool { return slices.Contains(NodeStates(), s) }

// EventType says what an Event of a node's history records.
type EventType string

// The event types.
const (
	// EventRegistered: the node registered for the first time (To is its
	// first state).
	EventRegistered EventType = "registered"
	// EventState: a state transition (From → To, with its Reason).
	EventState EventType = "state"
	// EventInventory: the hardware changed (Changes lists how).
	EventInventory EventType = "inventory"
	// EventProfile: the profile in force changed (From → To).
	EventProfile EventType = "profile"
	// EventLabels: an operator changed the node's labels (Changes).
	EventLabels EventType = "labels"
	// EventCredential: the node was issued its credential.
	EventCredential EventType = "credential"
	// EventRegistration: a registration request was recorded, rejected
	// or discarded (docs/design/identity.md); Reason names it, its source
	// address and inventory.
	EventRegistration EventType = "registration"
	// EventIdentityConflict: a registration of a node holding a
	// credential did not present it; the node was not changed.
	EventIdentityConflict EventType = "identity-conflict"
)
