package qemutests

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/profiles"
)

// TestK3sWorkersJoinTheCluster runs the real k3s: `k3s server` supervised
// by the controller, `k3s agent` on each worker from the node image. Every
// worker must become a Ready Kubernetes node named by its hostname, with
// the role label of its profile (applied by the controller's reconciler:
// a kubelet may not set it on itself).
//
// k3s cannot be downloaded on the machines this project is built on, so
// the test needs K3S_BINARY (the pinned k3s v1.31.6+k3s1) and a node image
// built with it; without them it skips with one line.
func TestK3sWorkersJoinTheCluster(t *testing.T) {
	k3s := os.Getenv("K3S_BINARY")
	if k3s == "" {
		t.Skip("K3S_BINARY is not set: k3s (v1.31.6+k3s1) cannot be downloaded here; set K3S_BINARY=path and build the image with it: make image IMAGE_VERSION=lab K3S_BINARY=path")
	}
	image := RequireNodeImage(t)
	if m, err := api.ReadImageManifest(filepath.Join(image, api.ImageManifestFile)); err != nil || m.K3s == nil || !m.K3s.Included {
		t.Skipf("the node image in %s was built without k3s: make image IMAGE_VERSION=lab K3S_BINARY=%s", image, k3s)
	}
	roles := map[string]string{}
	ps, err := profiles.Defaults()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		roles[p.Name] = p.Role
	}

	// The controller runs k3s server and, by default, reconciles its Nodes
	// with the kubeconfig k3s writes.
	l := newNodeLab(t, image, "k3s:\n  binary: "+k3s+"\n")
	var vms []*VM
	for _, w := range Workers[:2] {
		vms = append(vms, l.StartShapedVM(w.Name, w.Firmware, w.Shape))
	}
	// With a cluster configured, ready means the Kubernetes Node is Ready.
	for i, vm := range vms {
		n := vm.WaitForState("ready", 15*time.Minute)
		t.Logf("%s: Kubernetes node %s Ready %.0f s after power-on", vm.Name, n.Hostname, n.StateSince.Sub(vm.Started()).Seconds())

		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		out, err := l.NS.Command(ctx, k3s, "kubectl", "--kubeconfig", filepath.Join(l.dir, "state", "k3s", "kubeconfig.yaml"),
			"get", "node", n.Hostname, "-o", "json").Output()
		cancel()
		if err != nil {
			t.Fatalf("kubectl get node %s: %v", n.Hostname, err)
		}
		var node struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Status struct {
				Conditions []struct{ Type, Status string } `json:"conditions"`
			} `json:"status"`
		}
		if err := json.Unmarshal(out, &node); err != nil {
			t.Fatalf("decode node %s: %v", n.Hostname, err)
		}
		want := "node-role.kubernetes.io/" + roles[Workers[i].Profile]
		if _, ok := node.Metadata.Labels[want]; !ok {
			t.Errorf("node %s (profile %s) lacks %s: labels %v", n.Hostname, Workers[i].Profile, want, node.Metadata.Labels)
		}
		ready := false
		for _, c := range node.Status.Conditions {
			ready = ready || (c.Type == "Ready" && c.Status == "True")
		}
		if !ready {
			t.Errorf("node %s is not Ready: %+v", n.Hostname, node.Status.Conditions)
		}
	}
}
