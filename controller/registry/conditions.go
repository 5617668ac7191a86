package registry

import (
	"strings"
	"time"
	"unicode"
)

// Reasons recorded with AgentReady and KubeReady (the first word of
// Node.AgentReadyReason and Node.KubeReadyReason). The API shows them as
// the conditions' reasons.
const (
	// AgentReady.
	ReasonNotApproved             = "NotApproved"
	ReasonConfigurationNotFetched = "ConfigurationNotFetched"
	ReasonApplying                = "Applying"
	ReasonConfigurationApplied    = "ConfigurationApplied"
	ReasonHeartbeatMissed         = "HeartbeatMissed"
	ReasonHeartbeatResumed        = "HeartbeatResumed"
	ReasonDecommissioned          = "Decommissioned"
	// KubeReady: NotSeenYet until the reconciler first reports the Node;
	// NodeReady and NodeNotReady when a report gave no reason of its own
	// (the reconciler sends the Node's Ready condition's reason, e.g.
	// KubeletNotReady, or NodeMissing).
	ReasonNotSeenYet   = "NotSeenYet"
	ReasonNodeReady    = "NodeReady"
	ReasonNodeNotReady = "NodeNotReady"
)

// agentReasons is AgentReady's reason once a node enters a state.
var agentReasons = map[State]string{
	Discovered:     ReasonNotApproved,
	Pending:        ReasonNotApproved,
	Approved:       ReasonConfigurationNotFetched,
	Provisioning:   ReasonApplying,
	Ready:          ReasonConfigurationApplied,
	Lost:           ReasonHeartbeatMissed,
	Decommissioned: ReasonDecommissioned,
}

// agentReason is AgentReady's reason when a node is moved to state to
// because of why (the transition's reason, kept as the message).
func agentReason(to State, why string) string {
	r := agentReasons[to]
	if why == "" {
		return r
	}
	return r + ": " + why
}

// agentStatus is the AgentReady condition's status: Unknown when lost,
// True when the agent reported ready (every ready node: records written
// before AgentReady existed lack the flag), else False.
func (n *Node) agentStatus() string {
	switch {
	case n.State == Lost:
		return "Unknown"
	case n.AgentReady || n.State == Ready:
		return "True"
	}
	return "False"
}

// noteAgent records why AgentReady is what it is, and when its status
// moved (from before).
func (n *Node) noteAgent(before, reason string, now time.Time) {
	if n.agentStatus() != before || n.AgentReadySince.IsZero() {
		n.AgentReadySince = now
	}
	n.AgentReadyReason = reason
}

// kubeReason turns a Sink's report into KubeReadyReason: kept when it
// starts with a CamelCase word (alone or followed by ": "), else made the
// message of NodeReady or NodeNotReady. The ReasonKubernetes prefix of
// state events is dropped.
func kubeReason(ready bool, why string) string {
	why = strings.TrimSpace(strings.TrimPrefix(why, ReasonKubernetes))
	if w, _ := SplitReason(why); w != "" {
		return why
	}
	r := ReasonNodeNotReady
	if ready {
		r = ReasonNodeReady
	}
	if why == "" {
		return r
	}
	return r + ": " + why
}

// SplitReason splits a recorded reason, "Reason" or "Reason: message",
// into the CamelCase word and the message. A text that does not start so
// (records written by other versions) gives "" and the whole text.
func SplitReason(s string) (reason, message string) {
	word, msg, found := strings.Cut(s, ": ")
	if !found {
		word = s
	}
	if !isCamel(word) {
		return "", s
	}
	return word, msg
}

// isCamel: an upper-case letter, then letters and digits only, at most 64.
func isCamel(w string) bool {
	if w == "" || len(w) > 64 {
		return false
	}
	for i, r := range w {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
		if i == 0 && !unicode.IsUpper(r) {
			return false
		}
	}
	return true
}
