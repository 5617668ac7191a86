package kubetest

import (
	"context"
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	authnv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func TestStartServesAndStopCleansUp(t *testing.T) {
	e := New(t)
	ctx := context.Background()
	admin, err := kubernetes.NewForConfig(e.Config)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		t.Fatalf("admin reads kube-system: %v", err)
	}
	t.Run("client certificates name the user and groups", func(t *testing.T) {
		cfg, err := e.KubeletConfig("w1")
		if err != nil {
			t.Fatal(err)
		}
		kc, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := kc.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authnv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := append([]string{r.Status.UserInfo.Username}, r.Status.UserInfo.Groups...)
		if diff := cmp.Diff([]string{"system:node:w1", "system:nodes", "system:authenticated"}, got); diff != "" {
			t.Errorf("identity (-want +got):\n%s", diff)
		}
	})
	t.Run("Node authorizer applies", func(t *testing.T) {
		cfg, _ := e.KubeletConfig("w1")
		kc, _ := kubernetes.NewForConfig(cfg)
		if _, err := kc.CoreV1().Secrets("kube-system").List(ctx, metav1.ListOptions{}); err == nil {
			t.Error("a kubelet listed secrets: Node,RBAC authorization is not in force")
		}
	})
	t.Run("Stop ends the processes and removes the directory", func(t *testing.T) {
		e.Stop()
		for _, p := range e.procs {
			if err := syscall.Kill(p.cmd.Process.Pid, 0); err == nil {
				t.Errorf("%s (pid %d) still running", p.name, p.cmd.Process.Pid)
			}
		}
		if _, err := os.Stat(e.Dir); !os.IsNotExist(err) {
			t.Errorf("%s still there: %v", e.Dir, err)
		}
		e.Stop() // twice is fine
	})
}

func TestMissingBinaries(t *testing.T) {
	t.Setenv(BinDirEnv, t.TempDir())
	_, err := Start(Options{})
	if !errors.Is(err, ErrMissingBinaries) {
		t.Fatalf("got %v, want ErrMissingBinaries", err)
	}
}
