package registry

import (
	"strings"

	"corral.io/corral/api/v1alpha1"

	bolt "go.etcd.io/bbolt"
)

// ReasonKubernetes starts the reason of every state change caused by the
// Kubernetes Node's readiness (SetKubeReady), so watchers can tell it from
// a machine's own report.
const ReasonKubernetes = "kubernetes: "

// RequireKubeReady makes Kubernetes part of readiness (call it when the
// controller is configured with a cluster): a node becomes ready only when
// its agent reported ready and its Kubernetes Node is Ready; a Ready node
// whose Node turns NotReady goes back to provisioning. Without it, the
// agent's report alone makes a node ready, as before.
func (s *Store) RequireKubeReady() { s.kubeGate.Store(true) }

// SetKubeReady records the readiness of node id's Kubernetes Node, with
// why (best as "Reason: message", e.g. "KubeletNotReady: container runtime
// is down" or "NodeMissing: no Kubernetes node w1"; any other text is kept
// as the message of NodeReady or NodeNotReady), and moves the node between
// provisioning and ready when RequireKubeReady is on. KubeReadySince moves
// only when ready changes; the reason follows every call.
func (s *Store) SetKubeReady(id string, ready bool, reason string) (Node, error) {
	return s.update(id, func(tx *bolt.Tx, n *Node) error {
		now, agentBefore := s.now(), n.agentStatus()
		if n.KubeReady != ready || n.KubeReadySince.IsZero() {
			n.KubeReadySince = now
		}
		n.KubeReady = ready
		n.KubeReadyReason = kubeReason(ready, reason)
		if !s.kubeGate.Load() {
			return nil
		}
		to := n.State
		switch {
		case ready && n.State == Provisioning && n.AgentReady:
			to = Ready
		case !ready && n.State == Ready:
			to = Provisioning // the agent's report still stands (AgentReady)
		}
		if to == n.State {
			return nil
		}
		from := n.State
		n.State, n.StateSince = to, now
		if n.agentStatus() != agentBefore { // a ready record written before AgentReady existed
			n.noteAgent(agentBefore, agentReason(to, ""), n.StateSince)
		}
		if !strings.HasPrefix(reason, ReasonKubernetes) {
			reason = ReasonKubernetes + reason
		}
		return s.event(tx, Event{Node: id, Time: n.StateSince, Type: v1alpha1.EventState, From: string(from), To: string(to), Reason: reason})
	})
}

// kubeHolds reports whether a move to ready must wait for Kubernetes.
func (s *Store) kubeHolds(n *Node) bool { return s.kubeGate.Load() && !n.KubeReady }

// Watch calls fn after every committed event (state changes, profile and
// label edits, inventory changes). fn runs before the writer's call
// returns, so it must be quick and must not write to the registry; hand
// longer work to a goroutine.
func (s *Store) Watch(fn func(Event)) {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	s.watchers = append(s.watchers, fn)
}

func (s *Store) notify(e Event) {
	s.watchMu.Lock()
	ws := s.watchers
	s.watchMu.Unlock()
	for _, fn := range ws {
		fn(e)
	}
}
