package kube

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestNodeReadyReason checks the reason the Sink gets: "Reason: message",
// with the Node's Ready condition's own reason when it has one, so the
// registry can tell a NotReady kubelet from a missing Node.
func TestNodeReadyReason(t *testing.T) {
	node := func(conds ...corev1.NodeCondition) *corev1.Node {
		return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}, Status: corev1.NodeStatus{Conditions: conds}}
	}
	ready := func(st corev1.ConditionStatus, reason, msg string) corev1.NodeCondition {
		return corev1.NodeCondition{Type: corev1.NodeReady, Status: st, Reason: reason, Message: msg}
	}
	for _, tt := range []struct {
		name  string
		n     *corev1.Node
		ready bool
		why   string
	}{
		{"kubelet ready", node(ready(corev1.ConditionTrue, "KubeletReady", "kubelet is posting ready status")), true, "KubeletReady: kubelet is posting ready status"},
		{"kubelet not ready", node(ready(corev1.ConditionFalse, "KubeletNotReady", "container runtime network not ready: NetworkReady=false")), false,
			"KubeletNotReady: container runtime network not ready: NetworkReady=false"},
		{"kubelet silent", node(ready(corev1.ConditionUnknown, "NodeStatusUnknown", "Kubelet stopped posting node status.")), false, "NodeStatusUnknown: Kubelet stopped posting node status."},
		{"no reason, no message", node(ready(corev1.ConditionFalse, "", "")), false, "NodeNotReady: kubernetes node w1 Ready=False"},
		{"a reason that is not one word", node(ready(corev1.ConditionTrue, "all good: really", "")), true, "NodeReady: kubernetes node w1 Ready=True"},
		{"other conditions only", node(corev1.NodeCondition{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}), false,
			"NoReadyCondition: kubernetes node w1 has no Ready condition yet"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ready, why := nodeReady(tt.n)
			if ready != tt.ready || why != tt.why {
				t.Errorf("nodeReady = %v, %q; want %v, %q", ready, why, tt.ready, tt.why)
			}
		})
	}
}
