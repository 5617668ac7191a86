package testnet

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

func TestNamespacesAreRemovedAndStaleOnesReaped(t *testing.T) {
	RequireRoot(t)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := fmt.Sprintf("crl-stale-%d-abc", dead.Process.Pid)
	if out, err := exec.Command("ip", "netns", "add", stale).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	reapStale() // what New does once per process
	if _, err := os.Stat("/run/netns/" + stale); err == nil {
		exec.Command("ip", "netns", "del", stale).Run()
		t.Fatalf("namespace %s of a dead process was not reaped", stale)
	}

	var name string
	t.Run("inner", func(t *testing.T) {
		a, b := New(t, "a"), New(t, "b")
		Veth(t, a, "x0", "10.99.0.1/24", b, "x1", "10.99.0.2/24")
		name = a.Name
		if _, err := os.Stat("/run/netns/" + name); err != nil {
			t.Fatalf("namespace not created: %v", err)
		}
	})
	if _, err := os.Stat("/run/netns/" + name); err == nil {
		t.Errorf("namespace %s still exists after its test ended", name)
	}
}
