package v1alpha1

import "time"

// Kinds of the operator documents.
const (
	KindNodeList  = "NodeList"
	KindEventList = "EventList"
)

// Operator endpoints (HTTPS, "Authorization: Bearer <admin token>" from the
// client configuration written at controller initialisation). {id} is a node
// id. The full table is in docs/api.md.
const (
	// PathNodes: GET lists nodes.
	PathNodes = "/api/v1alpha1/nodes"
	// PathNode: GET shows a node (with its inventory); DELETE forgets it.
	PathNode = "/api/v1alpha1/nodes/{id}"
	// PathNodeEvents: GET a node's history.
	PathNodeEvents = "/api/v1alpha1/nodes/{id}/events"
	// PathNodeExplain: GET which profile the node gets and why the
	// others did not match.
	PathNodeExplain = "/api/v1alpha1/nodes/{id}/explain"
	// PathNodeAction: POST an ActionRequest to approve, reject or
	// decommission a node ({action} is one of those words).
	PathNodeAction = "/api/v1alpha1/nodes/{id}/{action}"
)

// Node is the operator's view of one machine.
type Node struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	ID         string `json:"id"`
	Hostname   string `json:"hostname,omitempty"`
	// State is one of NodeStates.
	State      NodeState `json:"state"`
	StateSince time.Time `json:"stateSince"`
	// Profile is the profile in force; AssignedProfile an operator's
	// explicit choice (empty: chosen by rules).
	Profile         string            `json:"profile,omitempty"`
	AssignedProfile string            `json:"assignedProfile,omitempty"`
	Labels          map[string]string `json:"labels,omitempty"`
	MACs            []string          `json:"macs,omitempty"`
	FirstSeen       time.Time         `json:"firstSeen"`
	LastSeen        time.Time         `json:"lastSeen"`
	// Conditions say what a node's readiness is made of, so an operator
	// can tell what a node that is not ready waits for: AgentReady always,
	// KubeReady only when the controller reconciles Kubernetes
	// (kube.kubeconfig set). A node is ready when all of them are True.
	// Sorted by Type as listed in ConditionTypes.
	Conditions []NodeCondition `json:"conditions,omitempty"`
	// Inventory is included by GET PathNode, left out of lists.
	Inventory *Inventory `json:"inventory,omitempty"`
	// Requests are the registration attempts waiting for an operator,
	// oldest first (docs/design/identity.md): approve one with
	// ActionRequest.Request.
	Requests []RegistrationRequest `json:"requests,omitempty"`
}

// RegistrationRequest is one registration of a node id that waits for a
// decision: its own inventory, the address it came from, and whether the
// node held a credential it did not present (an identity conflict).
type RegistrationRequest struct {
	ID       string    `json:"id"`
	Source   string    `json:"source"`
	Time     time.Time `json:"time"`
	Expires  time.Time `json:"expires"`
	Conflict bool      `json:"conflict,omitempty"`
	// Summary is a one-line digest of the inventory.
	Summary string `json:"summary"`
	// Inventory is included by GET PathNode, left out of lists.
	Inventory *Inventory `json:"inventory,omitempty"`
}

// Condition types of a Node.
const (
	// ConditionAgentReady: the node's agent reported that it applied its
	// configuration, and it still sends heartbeats.
	ConditionAgentReady = "AgentReady"
	// ConditionKubeReady: the node's Kubernetes Node (named after its
	// hostname) is Ready.
	ConditionKubeReady = "KubeReady"
	// ConditionIdentityConflict: present, True, only while a registration
	// that did not present the credential of a node holding one waits
	// (Node.Requests with conflict set). It is never part of readiness.
	ConditionIdentityConflict = "IdentityConflict"
)

// ConditionTypes is the order of Node.Conditions.
var ConditionTypes = []string{ConditionAgentReady, ConditionKubeReady, ConditionIdentityConflict}

// Condition statuses, as in Kubernetes.
const (
	ConditionTrue    = "True"
	ConditionFalse   = "False"
	ConditionUnknown = "Unknown"
)

// NodeCondition is one part of a node's readiness, modelled on Kubernetes'
// NodeCondition.
type NodeCondition struct {
	// Type is ConditionAgentReady or ConditionKubeReady.
	Type string `json:"type"`
	// Status is True, False or Unknown (e.g. the agent of a lost node).
	Status string `json:"status"`
	// LastTransitionTime is when Status last changed (the registry records
	// it with each flag). Nil only for a record written by a controller
	// older than that, until the flag next changes; then GET PathNode sets
	// it for KubeReady if the node's current state was entered because of
	// its Kubernetes Node.
	LastTransitionTime *time.Time `json:"lastTransitionTime,omitempty"`
	// Reason is one CamelCase word for programs: the one recorded at the
	// last change (for KubeReady, the Node's Ready condition's own reason,
	// e.g. KubeletNotReady, or NodeMissing, NotSeenYet); Message a sentence
	// for people, followed by the recorded detail ("; <why the node moved>",
	// for KubeReady "; reported: <the Node's message>").
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
}

// NodeList is the answer of GET PathNodes.
type NodeList struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Items      []Node `json:"items"`
}

// Event is one entry of a node's history.
type Event struct {
	Seq    uint64    `json:"seq"`
	Time   time.Time `json:"time"`
	Type   EventType `json:"type"`
	From   string    `json:"from,omitempty"`
	To     string    `json:"to,omitempty"`
	Reason string    `json:"reason,omitempty"`
	// Changes lists the hardware differences of an inventory event.
	Changes []string `json:"changes,omitempty"`
}

// EventList is the answer of GET PathNodeEvents.
type EventList struct {
	APIVersion string  `json:"apiVersion"`
	Kind       string  `json:"kind"`
	Items      []Event `json:"items"`
}

// KindProfileExplanation is the kind of a ProfileExplanation.
const KindProfileExplanation = "ProfileExplanation"

// ProfileExplanation is the answer of GET PathNodeExplain.
type ProfileExplanation struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	NodeID     string `json:"nodeID"`
	// Profile is the chosen profile; By how: assignment, selector or rule.
	Profile string `json:"profile"`
	By      string `json:"by,omitempty"`
	// Profiles has one entry per profile, in the order they were
	// considered.
	Profiles []ProfileReason `json:"profiles"`
}

// ProfileReason says why one profile was or was not chosen.
type ProfileReason struct {
	Profile  string `json:"profile"`
	Priority int    `json:"priority"`
	// Result is chosen, matched, no-match or error.
	Result string `json:"result"`
	Reason string `json:"reason"`
}

// ActionRequest is the body of approve, reject, decommission, assign and
// label calls; fields not used by the action must be empty.
type ActionRequest struct {
	// Reason is recorded in the node's events.
	Reason string `json:"reason,omitempty"`
	// Profile, for assign: the profile to force ("" to return to rules).
	Profile string `json:"profile,omitempty"`
	// Set and Remove, for labels.
	Set    map[string]string `json:"set,omitempty"`
	Remove []string          `json:"remove,omitempty"`
	// Request, for approve and reject: the registration request (one of
	// Node.Requests) to approve or dismiss; empty when there is only one.
	Request string `json:"request,omitempty"`
}
