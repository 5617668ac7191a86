package kube

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// NodePasswordNamespace holds k3s' node-password secrets.
const NodePasswordNamespace = "kube-system"

// NodePasswordSecret is the secret in which the k3s server keeps the hash of
// a node's password (k3s issues #6054, #802): a machine re-imaged with the
// same hostname has a new password and is refused until it is deleted.
func NodePasswordSecret(node string) string { return node + ".node-password.k3s" }

// ForgetNodePassword deletes node's k3s node-password secret. Call it only
// when the registry knows the machine behind this hostname is the same one
// (it authenticated with its credential); a missing secret is not an error.
func ForgetNodePassword(ctx context.Context, c kubernetes.Interface, node string) error {
	err := c.CoreV1().Secrets(NodePasswordNamespace).Delete(ctx, NodePasswordSecret(node), metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete k3s node-password secret of %s: %w", node, err)
	}
	return nil
}

// DrainOptions adjust Decommission.
type DrainOptions struct {
	// Timeout bounds the drain: pods still there after it are left to the
	// pod garbage collector when the Node is deleted. Default 2 min.
	Timeout time.Duration
	// Poll is how often evictions are retried and pods re-listed; default 1 s.
	Poll time.Duration
}

// Decommission takes a machine's Node out of the cluster: it cordons the
// Node, evicts its pods (as `kubectl drain --ignore-daemonsets` would:
// DaemonSet and mirror pods stay, PodDisruptionBudgets are respected by the
// eviction API and retried until the timeout), deletes the Node and the
// node's k3s password secret. A Node that does not exist is not an error.
// When pods remain after the timeout the Node is still deleted, and the
// returned error names them.
func Decommission(ctx context.Context, c kubernetes.Interface, node string, o DrainOptions) error {
	if o.Timeout <= 0 {
		o.Timeout = 2 * time.Minute
	}
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	patch := []byte(`{"spec":{"unschedulable":true}}`)
	_, err := c.CoreV1().Nodes().Patch(ctx, node, types.MergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if apierrors.IsNotFound(err) {
		return ForgetNodePassword(ctx, c, node)
	}
	if err != nil {
		return fmt.Errorf("cordon node %s: %w", node, err)
	}
	drainErr := drain(ctx, c, node, o)
	if ctx.Err() != nil {
		return fmt.Errorf("decommission %s: %w", node, ctx.Err())
	}
	if err := c.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return errors.Join(drainErr, fmt.Errorf("delete node %s: %w", node, err))
	}
	return errors.Join(drainErr, ForgetNodePassword(ctx, c, node))
}

// drain evicts every evictable pod on node and waits until they are gone.
func drain(ctx context.Context, c kubernetes.Interface, node string, o DrainOptions) error {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	sel := fields.OneTermEqualSelector("spec.nodeName", node).String()
	var lastErr error
	for {
		pods, err := c.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{FieldSelector: sel})
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("drain %s: timed out after %s: %w", node, o.Timeout, errors.Join(lastErr, err))
			}
			return fmt.Errorf("drain %s: list its pods: %w", node, err)
		}
		var left []string
		for i := range pods.Items {
			p := &pods.Items[i]
			if !evictable(p) {
				continue
			}
			left = append(left, p.Namespace+"/"+p.Name)
			if p.DeletionTimestamp != nil {
				continue // evicted, terminating
			}
			ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}}
			err := c.PolicyV1().Evictions(p.Namespace).Evict(ctx, ev)
			switch {
			case err == nil, apierrors.IsNotFound(err):
			case apierrors.IsTooManyRequests(err):
				// A PodDisruptionBudget says not now: retry.
				lastErr = fmt.Errorf("evict %s/%s: %w", p.Namespace, p.Name, err)
			default:
				if ctx.Err() == nil {
					return fmt.Errorf("drain %s: evict %s/%s: %w", node, p.Namespace, p.Name, err)
				}
			}
		}
		if len(left) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.Join(fmt.Errorf("drain %s: pods still there after %s: %v", node, o.Timeout, left), lastErr)
		case <-time.After(o.Poll):
		}
	}
}

// evictable: not a mirror (static) pod, not a DaemonSet's, not finished.
func evictable(p *corev1.Pod) bool {
	if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	for _, ref := range p.OwnerReferences {
		if ref.Kind == "DaemonSet" && ref.Controller != nil && *ref.Controller {
			return false
		}
	}
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
}
