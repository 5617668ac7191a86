package controller

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/kube"
	"corral.io/corral/controller/registry"
	"corral.io/corral/internal/kubetest"
)

// writeKubeconfig writes cfg (client-certificate credentials) as a
// kubeconfig file, as k3s writes its admin kubeconfig.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig.yaml")
	kc := clientcmdapi.NewConfig()
	kc.Clusters["c"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData}
	kc.Contexts["c"] = &clientcmdapi.Context{Cluster: "c", AuthInfo: "admin"}
	kc.CurrentContext = "c"
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		t.Fatal(err)
	}
	return path
}

func waitUntil(t *testing.T, what string, cond func() (bool, any)) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var last any
	for time.Now().Before(deadline) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within 20 s (last: %v)", what, last)
}

// TestKubeWiring runs the kube service as the daemon does, over a real
// registry, the shipped profiles and a real API server: labels and taints
// from the profile, readiness into the registry, node-password cleanup when
// the machine fetches its configuration again, drain and delete on
// decommission.
func TestKubeWiring(t *testing.T) {
	env := kubetest.New(t)
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.Open(filepath.Join(t.TempDir(), "registry.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	set, err := loadProfiles("")
	if err != nil {
		t.Fatal(err)
	}
	d := &Daemon{log: slog.New(slog.NewTextHandler(testLog{t}, nil)), Nodes: reg}
	cfg := &config.Controller{Kube: config.Kube{Kubeconfig: writeKubeconfig(t, env.Config), DrainTimeout: config.Duration{Duration: 5 * time.Second}}}
	if err := d.addKube(cfg, reg, &profileSet{set: set, reg: reg}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.services[0].svc.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	// An approved gpu-worker that fetched its configuration (hostname w1).
	inv := &v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: "id-1"}}
	if _, _, err := reg.Register(inv); err != nil {
		t.Fatal(err)
	}
	if _, err := reg.Update("id-1", func(n *registry.Node) (*registry.Event, error) {
		n.Hostname, n.AssignedProfile = "w1", "gpu-worker"
		return &registry.Event{Type: "profile", To: "gpu-worker"}, nil
	}); err != nil {
		t.Fatal(err)
	}
	for _, s := range []registry.State{registry.Approved, registry.Provisioning} {
		if _, err := reg.Transition("id-1", s, "test"); err != nil {
			t.Fatal(err)
		}
	}
	// Its kubelet joins.
	kcfg, _ := env.KubeletConfig("w1")
	kc, _ := kubernetes.NewForConfig(kcfg)
	if _, err := kc.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "w1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "role label and taint", func() (bool, any) {
		n, err := admin.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		hasTaint := false
		for _, tt := range n.Spec.Taints {
			hasTaint = hasTaint || (tt.Key == "nvidia.com/gpu" && tt.Value == "present")
		}
		return n.Labels["node-role.kubernetes.io/gpu"] == "true" && n.Labels["corral.io/profile"] == "gpu-worker" && hasTaint, n.Labels
	})

	t.Run("ready needs the agent's report and the Node's Ready condition", func(t *testing.T) {
		if n, _ := reg.Transition("id-1", registry.Ready, "reported ready"); n.State != registry.Provisioning {
			t.Fatalf("state %s before the Node is Ready, want provisioning", n.State)
		}
		n, _ := kc.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady"}}
		if _, err := kc.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "registry state ready", func() (bool, any) {
			n, _ := reg.Get("id-1")
			return n.State == registry.Ready, n.State
		})
	})
	t.Run("an operator's assignment changes the Node's role", func(t *testing.T) {
		if _, err := reg.Update("id-1", func(n *registry.Node) (*registry.Event, error) {
			n.AssignedProfile = "storage"
			return &registry.Event{Type: "profile", To: "storage"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "storage role, no gpu role or taint", func() (bool, any) {
			n, _ := admin.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
			_, gpu := n.Labels["node-role.kubernetes.io/gpu"]
			return n.Labels["node-role.kubernetes.io/storage"] == "true" && !gpu && len(n.Spec.Taints) == 1, n.Labels
		})
	})
	t.Run("fetching its configuration again removes the stale node password", func(t *testing.T) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: kube.NodePasswordSecret("w1")}}
		if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Transition("id-1", registry.Provisioning, "fetched its configuration"); err != nil {
			t.Fatal(err)
		}
		// Synchronous: gone when Transition returns.
		if _, err := admin.CoreV1().Secrets("kube-system").Get(ctx, sec.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("secret still there after the transition: %v", err)
		}
	})
	t.Run("a reboot while still provisioning: the credential removes the stale node password", func(t *testing.T) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: kube.NodePasswordSecret("w1")}}
		if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// What the API's credential handler records for each boot.
		if _, err := reg.Update("id-1", func(n *registry.Node) (*registry.Event, error) {
			return &registry.Event{Type: "credential", Reason: "credential issued"}, nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().Secrets("kube-system").Get(ctx, sec.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Fatalf("secret still there after the credential was issued: %v", err)
		}
	})
	t.Run("a NotReady Node does not count as a reboot", func(t *testing.T) {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "kube-system", Name: kube.NodePasswordSecret("w1")}}
		if _, err := admin.CoreV1().Secrets("kube-system").Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.Transition("id-1", registry.Ready, "reported ready"); err != nil {
			t.Fatal(err)
		}
		if _, err := reg.SetKubeReady("id-1", false, "node NotReady"); err != nil {
			t.Fatal(err)
		}
		if n, _ := reg.Get("id-1"); n.State != registry.Provisioning {
			t.Fatalf("state %s, want provisioning after NotReady", n.State)
		}
		if _, err := admin.CoreV1().Secrets("kube-system").Get(ctx, sec.Name, metav1.GetOptions{}); err != nil {
			t.Fatalf("the running node's password secret must stay: %v", err)
		}
	})
	t.Run("decommission drains and deletes the Node", func(t *testing.T) {
		if _, err := reg.Transition("id-1", registry.Decommissioned, "test"); err != nil {
			t.Fatal(err)
		}
		waitUntil(t, "node deleted", func() (bool, any) {
			_, err := admin.CoreV1().Nodes().Get(ctx, "w1", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	})
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// BenchmarkKubeDesired is the cost of one reload of the desired state: every
// enrolled machine's profile selected and resolved (1,000 machines).
func BenchmarkKubeDesired(b *testing.B) {
	reg, err := registry.Open(filepath.Join(b.TempDir(), "registry.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer reg.Close()
	set, err := loadProfiles("")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 1000 {
		id := fmt.Sprintf("n%04d", i)
		inv := &v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: id}, CPU: v1alpha1.CPU{Threads: 8}, Memory: v1alpha1.Memory{TotalBytes: 16 << 30}}
		if _, _, err := reg.Register(inv); err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Update(id, func(n *registry.Node) (*registry.Event, error) { n.Hostname = id; return nil, nil }); err != nil {
			b.Fatal(err)
		}
		if _, err := reg.Transition(id, registry.Approved, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	d := kubeDesired{reg: reg, profiles: &profileSet{set: set, reg: reg}, log: slog.New(slog.DiscardHandler)}
	b.ResetTimer()
	for range b.N {
		ms, err := d.Machines()
		if err != nil || len(ms) != 1000 {
			b.Fatalf("%d machines, %v", len(ms), err)
		}
	}
}
