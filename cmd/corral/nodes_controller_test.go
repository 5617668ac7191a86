package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/clientconfig"
)

// TestNodesCLIWithTheRealController starts `corral controller`, and runs
// `corral nodes` as separate processes with nothing but the client
// configuration the controller wrote at first start.
func TestNodesCLIWithTheRealController(t *testing.T) {
	l := newControllerLab(t, "n", "10.10.0.50/24")
	srv, cli, dir := l.srv, l.cli, l.dir
	l.start(t)

	clientFile := filepath.Join(dir, "state", "client.yaml")
	deadline := time.Now().Add(20 * time.Second)
	var cc *clientconfig.Config
	for {
		var err error
		if cc, err = clientconfig.Load(clientFile); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no usable client configuration from the controller: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// corral runs this test binary as `corral <args>` in the controller's
	// namespace, where the API address is local.
	corral := func(args ...string) (string, error) {
		t.Helper()
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := srv.Command(ctx, self)
		cmd.Env = append(os.Environ(), "CORRAL_TEST_MAIN_ARGS="+strings.Join(args, "\x1f"), clientconfig.EnvVar+"="+clientFile)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		err = cmd.Run()
		t.Logf("corral %s\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), out.String(), errOut.String())
		return out.String(), err
	}
	for {
		_, err := corral("nodes", "list")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("corral nodes list never succeeded: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}

	// A machine on the provisioning network registers.
	dial := client.WithDialContext(func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = cli.Do(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	})
	agent, err := client.New(cc.Server, client.Trust{CAPEM: []byte(cc.CAPEM)}, "", dial)
	if err != nil {
		t.Fatal(err)
	}
	inv := inventory(t, "qemu")
	if _, err := agent.Register(t.Context(), *inv, ""); err != nil {
		t.Fatal(err)
	}

	if _, err := corral("nodes", "approve", "52:54:00:12:34:56", "--reason", "lab"); err != nil {
		t.Fatal(err)
	}
	out, err := corral("nodes", "list", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var list v1alpha1.NodeList
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].ID != inv.Identity.NodeID || list.Items[0].State != "approved" {
		t.Fatalf("nodes after approval: %+v, want %s approved", list.Items, inv.Identity.NodeID)
	}
	// Without kube.kubeconfig only the agent matters: one condition.
	var conds []string
	for _, c := range list.Items[0].Conditions {
		conds = append(conds, c.Type+"="+c.Status+"/"+c.Reason)
	}
	if want := "AgentReady=False/ConfigurationNotFetched"; strings.Join(conds, " ") != want {
		t.Errorf("conditions of the approved node: %q, want %q", conds, want)
	}
	if out, err := corral("nodes", "list"); err != nil || !strings.Contains(out, "approved  agent") {
		t.Errorf("nodes list: %v; want the approved node waiting for its agent", err)
	}
}
