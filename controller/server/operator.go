package server

import (
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
)

func (a *API) view(n registry.Node, withInventory bool) v1alpha1.Node {
	return view(n, withInventory, a.o.KubeReadiness)
}

// view is the operator's document of a registry record; kube adds the
// KubeReady condition (the controller reconciles Kubernetes).
func view(n registry.Node, withInventory, kube bool) v1alpha1.Node {
	v := v1alpha1.Node{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindNode,
		ID: n.ID, Hostname: n.Hostname, State: n.State, StateSince: n.StateSince,
		Profile: n.Profile, AssignedProfile: n.AssignedProfile, Labels: n.Labels, MACs: n.MACs,
		FirstSeen: n.FirstSeen, LastSeen: n.LastSeen,
		Conditions: conditions(n, kube),
	}
	if withInventory {
		v.Inventory = n.Inventory
	}
	return v
}

// conditions turns the registry's AgentReady and KubeReady, with when
// each last changed and why (AgentReadySince/Reason, KubeReadySince/Reason),
// into the Node's conditions. Records written before the registry kept
// those have reasons derived from the state and no transition time (for
// KubeReady, GET of one node may find it in the events: kubeTransition).
func conditions(n registry.Node, kube bool) []v1alpha1.NodeCondition {
	agent := agentCondition(n)
	if !kube {
		return []v1alpha1.NodeCondition{agent}
	}
	return []v1alpha1.NodeCondition{agent, kubeCondition(n)}
}

// agentStatus of each recorded AgentReady reason.
var agentStatus = map[string]string{
	registry.ReasonNotApproved:             v1alpha1.ConditionFalse,
	registry.ReasonConfigurationNotFetched: v1alpha1.ConditionFalse,
	registry.ReasonApplying:                v1alpha1.ConditionFalse,
	registry.ReasonDecommissioned:          v1alpha1.ConditionFalse,
	registry.ReasonConfigurationApplied:    v1alpha1.ConditionTrue,
	registry.ReasonHeartbeatResumed:        v1alpha1.ConditionTrue,
	registry.ReasonHeartbeatMissed:         v1alpha1.ConditionUnknown,
}

func agentCondition(n registry.Node) v1alpha1.NodeCondition {
	agent := v1alpha1.NodeCondition{Type: v1alpha1.ConditionAgentReady, Status: v1alpha1.ConditionFalse}
	switch {
	case n.State == registry.Lost:
		agent.Status, agent.Reason = v1alpha1.ConditionUnknown, registry.ReasonHeartbeatMissed
		agent.Message = "no heartbeat since " + n.LastSeen.UTC().Format(time.RFC3339) + "; is the machine up?"
	case n.State == registry.Ready || n.AgentReady:
		// Ready always includes the agent's report (records written before
		// AgentReady existed lack the flag).
		agent.Status, agent.Reason = v1alpha1.ConditionTrue, registry.ReasonConfigurationApplied
		agent.Message = "the agent reported its configuration applied"
	case n.State == registry.Discovered || n.State == registry.Pending:
		agent.Reason, agent.Message = registry.ReasonNotApproved, "the node waits for an operator's approval (corral nodes approve)"
	case n.State == registry.Approved:
		agent.Reason, agent.Message = registry.ReasonConfigurationNotFetched, "approved; the machine has not fetched its configuration yet (is it booting? corral nodes logs shows its boot)"
	case n.State == registry.Provisioning:
		agent.Reason, agent.Message = registry.ReasonApplying, "the agent fetched its configuration and has not reported it applied yet (corral nodes logs shows its boot)"
	default: // decommissioned
		agent.Reason, agent.Message = registry.ReasonDecommissioned, "the node is decommissioned"
	}
	reason, msg := registry.SplitReason(n.AgentReadyReason)
	if n.AgentReadySince.IsZero() || agentStatus[reason] != agent.Status {
		return agent // written before the registry kept them, or by another version
	}
	t := n.AgentReadySince
	agent.LastTransitionTime = &t
	if reason == registry.ReasonHeartbeatResumed {
		agent.Reason, agent.Message = reason, "the agent is heard from again after missing its heartbeats"
	}
	if msg != "" && reason != registry.ReasonHeartbeatMissed { // HeartbeatMissed's message says it already
		agent.Message += "; " + msg
	}
	return agent
}

func kubeCondition(n registry.Node) v1alpha1.NodeCondition {
	k := v1alpha1.NodeCondition{Type: v1alpha1.ConditionKubeReady, Status: v1alpha1.ConditionFalse}
	if !n.KubeReadySince.IsZero() {
		t := n.KubeReadySince
		k.LastTransitionTime = &t
	}
	name := n.Hostname
	reason, msg := registry.SplitReason(n.KubeReadyReason)
	if n.KubeReady {
		k.Status, k.Reason, k.Message = v1alpha1.ConditionTrue, registry.ReasonNodeReady, "Kubernetes Node "+name+" is Ready"
	} else {
		switch {
		case n.State == registry.Decommissioned:
			k.Reason, k.Message = "Decommissioned", "the node is decommissioned; its Kubernetes Node is deleted"
			return k
		case name == "" || n.State == registry.Discovered || n.State == registry.Pending:
			k.Reason, k.Message = "NotJoined", "the node joins Kubernetes after approval"
			return k
		case reason == registry.ReasonNotSeenYet:
			k.Reason, k.Message = reason, "the controller has not seen Kubernetes Node "+name+" yet (it watches the cluster of kube.kubeconfig)"
			return k
		case reason == "NodeMissing":
			k.Reason, k.Message = reason, "Kubernetes Node "+name+" does not exist: the machine has not joined the cluster yet, or was removed from it (corral nodes logs shows its boot)"
			return k
		}
		k.Reason, k.Message = registry.ReasonNodeNotReady, "Kubernetes Node "+name+" is missing or not Ready (kubectl describe node "+name+")"
	}
	if reason != "" {
		k.Reason = reason // the Node's Ready condition's own, e.g. KubeletNotReady
	}
	if msg != "" {
		k.Message += "; reported: " + msg
	}
	return k
}

func (a *API) listNodes(w http.ResponseWriter, r *http.Request) (any, error) {
	nodes, err := a.o.Registry.List()
	if err != nil {
		return nil, err
	}
	reqs, err := a.o.Registry.Requests("")
	if err != nil {
		return nil, err
	}
	byNode := map[string][]registry.Request{}
	for _, rq := range reqs {
		byNode[rq.Node] = append(byNode[rq.Node], rq)
	}
	out := v1alpha1.NodeList{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindNodeList, Items: []v1alpha1.Node{}}
	for _, n := range nodes {
		v := a.view(n, false)
		withRequests(&v, byNode[n.ID], false)
		out.Items = append(out.Items, v)
	}
	return out, nil
}

func (a *API) getNode(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := a.o.Registry.Get(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	v := a.view(n, true)
	reqs, err := a.o.Registry.Requests(n.ID)
	if err != nil {
		return nil, err
	}
	withRequests(&v, reqs, true)
	if a.o.KubeReadiness && n.KubeReadySince.IsZero() { // a record written before the registry kept it
		evs, err := a.o.Registry.Events(n.ID)
		if err != nil {
			return nil, err
		}
		kubeTransition(&v, n, evs)
	}
	return v, nil
}

// kubeTransition completes the KubeReady condition when the node's current
// state was entered because of its Kubernetes Node (an event whose reason
// starts with registry.ReasonKubernetes, at StateSince): KubeReady changed
// then, and has not since (any change would have moved the node again), so
// that is its transition time, and the event's reason says why.
func kubeTransition(v *v1alpha1.Node, n registry.Node, evs []registry.Event) {
	i := slices.IndexFunc(v.Conditions, func(c v1alpha1.NodeCondition) bool { return c.Type == v1alpha1.ConditionKubeReady })
	if i < 0 {
		return
	}
	for _, e := range slices.Backward(evs) {
		if e.Type != v1alpha1.EventState {
			continue
		}
		if e.To != string(n.State) || !e.Time.Equal(n.StateSince) || !strings.HasPrefix(e.Reason, registry.ReasonKubernetes) {
			return
		}
		c := &v.Conditions[i]
		t := e.Time
		c.LastTransitionTime = &t
		if why := strings.TrimPrefix(e.Reason, registry.ReasonKubernetes); why != "" {
			c.Message += "; reported: " + why
		}
		return
	}
}

func (a *API) events(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if _, err := a.o.Registry.Get(id); err != nil {
		return nil, err
	}
	evs, err := a.o.Registry.Events(id)
	if err != nil {
		return nil, err
	}
	out := v1alpha1.EventList{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindEventList, Items: []v1alpha1.Event{}}
	for _, e := range evs {
		out.Items = append(out.Items, v1alpha1.Event{Seq: e.Seq, Time: e.Time, Type: e.Type, From: e.From, To: e.To, Reason: e.Reason, Changes: e.Changes})
	}
	return out, nil
}

func (a *API) explain(w http.ResponseWriter, r *http.Request) (any, error) {
	n, err := a.o.Registry.Get(r.PathValue("id"))
	if err != nil {
		return nil, err
	}
	ex, err := a.o.Profiles.Explain(n)
	if err != nil {
		return nil, fail(http.StatusUnprocessableEntity, "no profile for node %s: %v", n.ID, err)
	}
	ex.APIVersion, ex.Kind, ex.NodeID = v1alpha1.Version, v1alpha1.KindProfileExplanation, n.ID
	return ex, nil
}

func (a *API) forget(w http.ResponseWriter, r *http.Request) (any, error) {
	id := r.PathValue("id")
	if err := a.o.Registry.Forget(id); err != nil {
		return nil, err
	}
	a.log.Info("node forgotten", "node", id)
	return status{http.StatusNoContent, nil}, nil
}

// Label keys and values (Kubernetes syntax); role labels come from profiles.
var (
	labelName  = regexp.MustCompile(`^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$`)
	labelValue = regexp.MustCompile(`^(([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?)$`)
	dnsSub     = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$`)
)

func checkLabelKey(k string) error {
	prefix, name, hasPrefix := strings.Cut(k, "/")
	if !hasPrefix {
		name, prefix = prefix, ""
	}
	if hasPrefix && (len(prefix) > 253 || !dnsSub.MatchString(prefix)) {
		return fmt.Errorf("label key %q: prefix must be a DNS subdomain", k)
	}
	if !labelName.MatchString(name) {
		return fmt.Errorf("label key %q: name must be 1-63 characters of A-Z a-z 0-9 - _ . starting and ending alphanumeric", k)
	}
	if prefix == "node-role.kubernetes.io" || strings.HasSuffix(prefix, "kubernetes.io") || strings.HasSuffix(prefix, "k8s.io") {
		return fmt.Errorf("label key %q: kubernetes.io and k8s.io labels are managed by Corral and Kubernetes (set a role in the node's profile instead)", k)
	}
	return nil
}

// action runs approve, reject, decommission, assign and labels.
func (a *API) action(w http.ResponseWriter, r *http.Request) (any, error) {
	id, act := r.PathValue("id"), r.PathValue("action")
	var req v1alpha1.ActionRequest
	if err := decode(r, &req); err != nil {
		return nil, err
	}
	reason := func(def string) string {
		if req.Reason != "" {
			return "operator: " + req.Reason
		}
		return def
	}
	var n registry.Node
	var err error
	switch act {
	case "approve":
		// An operator approves a registration request: its inventory
		// becomes the node's, and only its token gets the credential.
		waiting, rerr := a.o.Registry.Requests(id)
		if rerr != nil {
			return nil, rerr
		}
		if len(waiting) == 0 && req.Request == "" {
			// A record without requests (written by an older controller,
			// or its requests expired): approve the node as such.
			cur, gerr := a.o.Registry.Get(id)
			if gerr != nil {
				return nil, gerr
			}
			if cur.State != registry.Pending && cur.State != registry.Discovered {
				return nil, fail(http.StatusConflict, "node %s is %s: only pending nodes, or nodes with registration requests, can be approved", id, cur.State)
			}
			n, err = a.o.Registry.Transition(id, registry.Approved, reason("approved by an operator"))
			break
		}
		var rq registry.Request
		n, rq, err = a.o.Registry.ApproveRequest(id, req.Request, reason("approved by an operator"))
		if err == nil && rq.Conflict {
			a.log.Warn("identity conflict resolved by an operator: the node's credential is revoked", "node", id, "request", rq.ID, "source", rq.Source)
		}
	case "reject":
		cur, gerr := a.o.Registry.Get(id)
		if gerr != nil {
			return nil, gerr
		}
		if req.Request != "" || cur.State != registry.Pending && cur.State != registry.Discovered {
			// Dismiss one request (an identity conflict of an enrolled
			// node, or one of several of a pending node).
			if _, err = a.o.Registry.RejectRequest(id, req.Request, reason("rejected by an operator")); err != nil {
				return nil, err
			}
			n, err = a.o.Registry.Get(id)
			break
		}
		if cur.State != registry.Pending && cur.State != registry.Discovered {
			return nil, fail(http.StatusConflict, "node %s is %s: only pending nodes can be rejected (use decommission)", id, cur.State)
		}
		n, err = a.o.Registry.Transition(id, registry.Decommissioned, reason("rejected by an operator"))
	case "decommission":
		n, err = a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
			n.CredentialHash, n.EnrollmentHash = "", "" // revoke at once
			return nil, nil
		})
		if err == nil {
			n, err = a.o.Registry.Transition(id, registry.Decommissioned, reason("decommissioned by an operator"))
		}
	case "assign":
		if req.Profile != "" && !a.o.Profiles.Has(req.Profile) {
			return nil, fail(http.StatusBadRequest, "unknown profile %q: corral profiles list shows the profiles", req.Profile)
		}
		n, err = a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
			from := n.AssignedProfile
			n.AssignedProfile = req.Profile
			return &registry.Event{Type: v1alpha1.EventProfile, From: from, To: req.Profile, Reason: reason("assigned by an operator")}, nil
		})
	case "labels":
		for k, v := range req.Set {
			if err := checkLabelKey(k); err != nil {
				return nil, fail(http.StatusBadRequest, "%v", err)
			}
			if len(v) > 63 || !labelValue.MatchString(v) {
				return nil, fail(http.StatusBadRequest, "label %s: value %q must be at most 63 characters of A-Z a-z 0-9 - _ . starting and ending alphanumeric", k, v)
			}
		}
		n, err = a.o.Registry.Update(id, func(n *registry.Node) (*registry.Event, error) {
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			var changes []string
			for k, v := range req.Set {
				n.Labels[k] = v
				changes = append(changes, "set "+k+"="+v)
			}
			for _, k := range req.Remove {
				if _, ok := n.Labels[k]; ok {
					delete(n.Labels, k)
					changes = append(changes, "removed "+k)
				}
			}
			return &registry.Event{Type: v1alpha1.EventLabels, Reason: reason("labels changed by an operator"), Changes: changes}, nil
		})
	default:
		return nil, fail(http.StatusNotFound, "unknown action %q: use approve, reject, decommission, assign or labels", act)
	}
	if err != nil {
		return nil, err
	}
	a.log.Info("operator action", "node", id, "action", act, "state", n.State)
	return a.view(n, false), nil
}
