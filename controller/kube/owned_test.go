package kube

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(labels, annotations map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "w1", ResourceVersion: "7", Labels: labels, Annotations: annotations},
		Spec:       corev1.NodeSpec{Taints: taints},
	}
}

func taint(key, value string, effect corev1.TaintEffect) corev1.Taint {
	return corev1.Taint{Key: key, Value: value, Effect: effect}
}

func TestDiff(t *testing.T) {
	gpu := taint("nvidia.com/gpu", "true", corev1.TaintEffectNoSchedule)
	for _, tc := range []struct {
		name string
		node *corev1.Node
		want *Machine
		// patch is the expected JSON merge patch; "" for none.
		patch string
	}{
		{
			name:  "new node gets role, labels, taints and the ownership annotations",
			node:  node(map[string]string{"kubernetes.io/hostname": "w1"}, nil),
			want:  &Machine{Name: "w1", Role: "gpu", Labels: map[string]string{"corral.io/profile": "gpu"}, Taints: []corev1.Taint{gpu}},
			patch: `{"metadata":{"annotations":{"corral.io/owned-labels":"corral.io/profile,node-role.kubernetes.io/gpu","corral.io/owned-taints":"nvidia.com/gpu:NoSchedule"},"labels":{"corral.io/profile":"gpu","node-role.kubernetes.io/gpu":"true"},"resourceVersion":"7"},"spec":{"taints":[{"key":"nvidia.com/gpu","value":"true","effect":"NoSchedule"}]}}`,
		},
		{
			name: "a node as wanted needs no patch",
			node: node(map[string]string{"node-role.kubernetes.io/gpu": "true", "x": "1"},
				map[string]string{OwnedLabelsAnnotation: "node-role.kubernetes.io/gpu", OwnedTaintsAnnotation: "nvidia.com/gpu:NoSchedule"}, gpu),
			want: &Machine{Name: "w1", Role: "gpu", Taints: []corev1.Taint{gpu}},
		},
		{
			name: "role change removes the owned old role, keeps labels others set",
			node: node(map[string]string{"node-role.kubernetes.io/gpu": "true", "team": "a", "node-role.kubernetes.io/special": "true"},
				map[string]string{OwnedLabelsAnnotation: "node-role.kubernetes.io/gpu"}),
			want:  &Machine{Name: "w1", Role: "compute"},
			patch: `{"metadata":{"annotations":{"corral.io/owned-labels":"node-role.kubernetes.io/compute"},"labels":{"node-role.kubernetes.io/compute":"true","node-role.kubernetes.io/gpu":null},"resourceVersion":"7"}}`,
		},
		{
			name: "taint value change keeps its place, others' taints stay, unwanted owned taint goes",
			node: node(nil, map[string]string{OwnedTaintsAnnotation: "a:NoExecute,nvidia.com/gpu:NoSchedule"},
				taint("other", "", corev1.TaintEffectNoSchedule), taint("nvidia.com/gpu", "old", corev1.TaintEffectNoSchedule), taint("a", "", corev1.TaintEffectNoExecute)),
			want:  &Machine{Name: "w1", Taints: []corev1.Taint{gpu}},
			patch: `{"metadata":{"annotations":{"corral.io/owned-taints":"nvidia.com/gpu:NoSchedule"},"resourceVersion":"7"},"spec":{"taints":[{"key":"other","effect":"NoSchedule"},{"key":"nvidia.com/gpu","value":"true","effect":"NoSchedule"}]}}`,
		},
		{
			name: "machine gone: everything owned is removed, nothing else",
			node: node(map[string]string{"node-role.kubernetes.io/gpu": "true", "team": "a"},
				map[string]string{OwnedLabelsAnnotation: "node-role.kubernetes.io/gpu,gone", OwnedTaintsAnnotation: "nvidia.com/gpu:NoSchedule"}, gpu),
			want:  nil,
			patch: `{"metadata":{"annotations":{"corral.io/owned-labels":null,"corral.io/owned-taints":null},"labels":{"node-role.kubernetes.io/gpu":null},"resourceVersion":"7"},"spec":{"taints":null}}`,
		},
		{
			name:  "a label someone else set to the wanted value is taken over",
			node:  node(map[string]string{"corral.io/profile": "gpu"}, nil),
			want:  &Machine{Name: "w1", Labels: map[string]string{"corral.io/profile": "gpu"}},
			patch: `{"metadata":{"annotations":{"corral.io/owned-labels":"corral.io/profile"},"resourceVersion":"7"}}`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := diff(tc.node, tc.want)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(normalise(t, tc.patch), normalise(t, string(c.patch))); diff != "" {
				t.Errorf("patch (-want +got):\n%s\nsummary: %v", diff, c.summary)
			}
		})
	}
}

func normalise(t *testing.T, s string) any {
	t.Helper()
	if s == "" {
		return nil
	}
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("bad JSON %s: %v", s, err)
	}
	return v
}

// FuzzDiff: whatever the Node's annotations, labels and taints say (anyone
// with access to the Node can write them), diff must not panic, must
// produce valid JSON, and must never delete a label it does not own.
func FuzzDiff(f *testing.F) {
	f.Add("node-role.kubernetes.io/gpu,corral.io/profile", "nvidia.com/gpu:NoSchedule", "team", "a", "gpu", "x:NoExecute")
	f.Add(",,,", ":", "", "", "", "")
	f.Add("a,a,b", "k:NoSchedule,k:NoSchedule", "a", "1", "r", "k")
	f.Fuzz(func(t *testing.T, ownedL, ownedT, labelKey, labelValue, role, taintSpec string) {
		n := node(map[string]string{labelKey: labelValue, "keep": "1"},
			map[string]string{OwnedLabelsAnnotation: ownedL, OwnedTaintsAnnotation: ownedT},
			taint(taintSpec, "", corev1.TaintEffectNoSchedule))
		for _, want := range []*Machine{nil, {Name: "w1", Role: role, Labels: map[string]string{labelKey: "v"}}} {
			c, err := diff(n, want)
			if err != nil {
				t.Fatal(err)
			}
			if c.patch == nil {
				continue
			}
			var p struct {
				Metadata struct {
					Labels map[string]*string `json:"labels"`
				} `json:"metadata"`
			}
			if err := json.Unmarshal(c.patch, &p); err != nil {
				t.Fatalf("patch is not JSON: %v\n%s", err, c.patch)
			}
			owned := splitList(ownedL)
			for k, v := range p.Metadata.Labels {
				if v == nil && !slices.Contains(owned, k) {
					t.Fatalf("deletes label %q it does not own (owned %q)", k, ownedL)
				}
			}
		}
	})
}
