package registry

import (
	"slices"

	"corral.io/corral/api/v1alpha1"
)

// State is where a node is in its lifecycle (the states are api/v1alpha1's).
type State = v1alpha1.NodeState

// The node states, in lifecycle order (see v1alpha1.NodeState).
const (
	Discovered     = v1alpha1.NodeDiscovered
	Pending        = v1alpha1.NodePending
	Approved       = v1alpha1.NodeApproved
	Provisioning   = v1alpha1.NodeProvisioning
	Ready          = v1alpha1.NodeReady
	Lost           = v1alpha1.NodeLost
	Decommissioned = v1alpha1.NodeDecommissioned
)

// transitions lists the allowed moves. Decommission is allowed from
// everywhere; re-registration after decommissioning needs Forget first.
var transitions = map[State][]State{
	Discovered: {Pending, Approved, Decommissioned},
	Pending:    {Approved, Decommissioned},
	// An enrolled node that boots without its credential goes back to
	// pending when the policy wants an operator to approve it again.
	Approved:       {Provisioning, Pending, Decommissioned},
	Provisioning:   {Ready, Approved, Pending, Decommissioned},
	Ready:          {Lost, Provisioning, Pending, Decommissioned},
	Lost:           {Ready, Provisioning, Pending, Decommissioned},
	Decommissioned: {},
}

// CanTransition reports whether from → to is an allowed move.
func CanTransition(from, to State) bool { return slices.Contains(transitions[from], to) }
