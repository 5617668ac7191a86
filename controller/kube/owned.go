package kube

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Ownership annotations: the label keys and taints (key:Effect) Corral set on
// a Node, comma-separated and sorted. The reconciler removes only what these
// list, so labels and taints set by anyone else are never touched.
const (
	OwnedLabelsAnnotation = "corral.io/owned-labels"
	OwnedTaintsAnnotation = "corral.io/owned-taints"
)

// RoleLabelPrefix makes a role into a label: node-role.kubernetes.io/<role>.
const RoleLabelPrefix = "node-role.kubernetes.io/"

// wantLabels is every label the machine should carry on its Node.
func (m *Machine) wantLabels() map[string]string {
	out := make(map[string]string, len(m.Labels)+1)
	maps.Copy(out, m.Labels)
	if m.Role != "" {
		out[RoleLabelPrefix+m.Role] = "true"
	}
	return out
}

func taintID(t corev1.Taint) string { return t.Key + ":" + string(t.Effect) }

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// change is what the reconciler must do to one Node: the merge patch and a
// summary for the log. A nil patch means the Node is as wanted.
type change struct {
	patch   []byte
	summary []string
}

// diff computes the patch that brings node to what want asks for (want nil:
// the Node no longer belongs to a registered machine, so everything Corral
// owns is removed). Only labels and taints listed in the ownership
// annotations, or wanted now, are touched. The patch carries the Node's
// resourceVersion, so a concurrent change makes it fail with a conflict
// instead of overwriting what another writer did.
func diff(node *corev1.Node, want *Machine) (change, error) {
	ownedLabels := splitList(node.Annotations[OwnedLabelsAnnotation])
	ownedTaints := splitList(node.Annotations[OwnedTaintsAnnotation])
	wantL := map[string]string{}
	var wantT []corev1.Taint
	if want != nil {
		wantL = want.wantLabels()
		wantT = want.Taints
	}
	var c change
	labels := map[string]any{}
	for _, k := range ownedLabels {
		if _, keep := wantL[k]; !keep {
			if _, present := node.Labels[k]; present {
				labels[k] = nil // JSON merge patch: delete
				c.summary = append(c.summary, "-label "+k)
			}
		}
	}
	for _, k := range sortedKeys(wantL) {
		if v, ok := node.Labels[k]; !ok || v != wantL[k] {
			labels[k] = wantL[k]
			c.summary = append(c.summary, "+label "+k+"="+wantL[k])
		}
	}

	// Taints: keep others' in place, drop owned ones no longer wanted,
	// replace or add wanted ones (identity is key and effect).
	wantIDs := map[string]corev1.Taint{}
	for _, t := range wantT {
		wantIDs[taintID(t)] = t
	}
	var taints []corev1.Taint
	seen := map[string]bool{}
	taintsChanged := false
	for _, t := range node.Spec.Taints {
		id := taintID(t)
		if w, ok := wantIDs[id]; ok {
			seen[id] = true
			if w.Value != t.Value {
				taintsChanged = true
				c.summary = append(c.summary, "~taint "+w.ToString())
			}
			taints = append(taints, corev1.Taint{Key: w.Key, Value: w.Value, Effect: w.Effect, TimeAdded: t.TimeAdded})
			continue
		}
		if slices.Contains(ownedTaints, id) {
			taintsChanged = true
			c.summary = append(c.summary, "-taint "+t.ToString())
			continue
		}
		taints = append(taints, t)
	}
	for _, t := range wantT {
		if !seen[taintID(t)] {
			seen[taintID(t)] = true
			taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			taintsChanged = true
			c.summary = append(c.summary, "+taint "+t.ToString())
		}
	}

	annotations := map[string]any{}
	newOwnedL := strings.Join(sortedKeys(wantL), ",")
	ids := slices.Sorted(maps.Keys(wantIDs))
	newOwnedT := strings.Join(ids, ",")
	setAnn := func(key, val string) {
		old, had := node.Annotations[key]
		switch {
		case val == "" && had:
			annotations[key] = nil
		case val != "" && old != val:
			annotations[key] = val
		}
	}
	setAnn(OwnedLabelsAnnotation, newOwnedL)
	setAnn(OwnedTaintsAnnotation, newOwnedT)

	if len(labels) == 0 && !taintsChanged && len(annotations) == 0 {
		return change{}, nil
	}
	meta := map[string]any{"resourceVersion": node.ResourceVersion}
	if len(labels) > 0 {
		meta["labels"] = labels
	}
	if len(annotations) > 0 {
		meta["annotations"] = annotations
	}
	p := map[string]any{"metadata": meta}
	if taintsChanged {
		if taints == nil {
			p["spec"] = map[string]any{"taints": nil}
		} else {
			p["spec"] = map[string]any{"taints": taints}
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return change{}, fmt.Errorf("encode patch for node %s: %w", node.Name, err)
	}
	c.patch = b
	return c, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
