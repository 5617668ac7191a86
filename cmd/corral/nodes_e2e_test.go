package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/clientconfig"
)

// corralCLI runs `corral <args>` (the whole command tree, as main does) with
// stdin, and returns stdout.
func corralCLI(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out, errOut bytes.Buffer
	root.SetArgs(args)
	root.SetIn(strings.NewReader(stdin))
	root.SetOut(&out)
	root.SetErr(&errOut)
	err := root.ExecuteContext(t.Context())
	t.Logf("corral %s\nstdout:\n%sstderr:\n%serror: %v", strings.Join(args, " "), out.String(), errOut.String(), err)
	return out.String(), err
}

func writeClientConfig(t *testing.T, server string, caPEM []byte, token string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "client.yaml")
	if err := clientconfig.Write(path, clientconfig.New(server, caPEM, token)); err != nil {
		t.Fatal(err)
	}
	return path
}

// seed registers a machine from an inventory fixture and moves it to state.
func seed(t *testing.T, reg *registry.Store, fixture, hostname string, state registry.State) registry.Node {
	t.Helper()
	n, _, err := reg.Register(inventory(t, fixture))
	if err != nil {
		t.Fatal(err)
	}
	if hostname != "" {
		if n, err = reg.Update(n.ID, func(n *registry.Node) (*registry.Event, error) { n.Hostname = hostname; return nil, nil }); err != nil {
			t.Fatal(err)
		}
	}
	if state != n.State {
		if n, err = reg.Transition(n.ID, state, "seeded by the test"); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func mustGet(t *testing.T, reg *registry.Store, id string) registry.Node {
	t.Helper()
	n, err := reg.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func wantContains(t *testing.T, out string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(out, w) {
			t.Errorf("output does not contain %q", w)
		}
	}
}

// TestNodesEndToEnd runs the CLI against the real API over HTTPS, with the
// credentials from a client configuration file, and checks both what it
// prints and what the registry recorded.
func TestNodesEndToEnd(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	cfg := writeClientConfig(t, ctl.URL, ctl.CAPEM, ctl.AdminToken)
	gpu := seed(t, ctl.Registry, "dgx-a100", "gpu-01", registry.Pending)
	vm := seed(t, ctl.Registry, "qemu", "", registry.Pending)
	stranger := seed(t, ctl.Registry, "build-vm", "", registry.Discovered)
	nodes := func(stdin string, args ...string) (string, error) {
		return corralCLI(t, stdin, append(append([]string{"nodes"}, args...), "--client-config", cfg)...)
	}

	t.Run("list shows every node", func(t *testing.T) {
		out, err := nodes("", "list")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "ID", "HOSTNAME", "STATE", gpu.ID, "gpu-01", vm.ID, stranger.ID, "pending", "discovered",
			"b8:ce:f6:5a:10:20 (+5)") // the first Ethernet MAC, not InfiniBand's
	})

	t.Run("list -o json is a NodeList", func(t *testing.T) {
		out, err := nodes("", "list", "--state", "pending", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var list v1alpha1.NodeList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, n := range list.Items {
			ids = append(ids, n.ID)
		}
		if diff := cmp.Diff([]string{gpu.ID, vm.ID}, ids, sortStrings); diff != "" || list.Kind != v1alpha1.KindNodeList {
			t.Errorf("kind %q, pending nodes (-want +got):\n%s", list.Kind, diff)
		}
	})

	t.Run("approve by MAC records the reason", func(t *testing.T) {
		out, err := nodes("", "approve", strings.ToUpper(vm.MACs[0]), "--reason", "racked in B4")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "approved "+vm.ID+": now approved")
		if n := mustGet(t, ctl.Registry, vm.ID); n.State != registry.Approved {
			t.Errorf("registry: state %s, want approved", n.State)
		}
		evs, err := ctl.Registry.Events(vm.ID)
		if err != nil {
			t.Fatal(err)
		}
		if last := evs[len(evs)-1]; last.To != string(registry.Approved) || !strings.Contains(last.Reason, "racked in B4") {
			t.Errorf("last event %+v, want the approval with the reason", last)
		}
	})

	t.Run("approving an approved node says why not", func(t *testing.T) {
		_, err := nodes("", "approve", vm.ID)
		if err == nil || !strings.Contains(err.Error(), "refused by the controller: node "+vm.ID+" is approved") {
			t.Errorf("error %v, want the controller's refusal", err)
		}
	})

	t.Run("label by hostname sets and removes", func(t *testing.T) {
		if _, err := nodes("", "label", "gpu-01", "rack=b4", "corral.io/pool=training"); err != nil {
			t.Fatal(err)
		}
		out, err := nodes("", "label", "gpu-01", "rack-", "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "kind: Node\n", "corral.io/pool: training")
		if diff := cmp.Diff(map[string]string{"corral.io/pool": "training"}, mustGet(t, ctl.Registry, gpu.ID).Labels); diff != "" {
			t.Errorf("registry labels (-want +got):\n%s", diff)
		}
	})

	t.Run("a label the controller refuses changes nothing", func(t *testing.T) {
		_, err := nodes("", "label", "gpu-01", "node-role.kubernetes.io/worker=", "zone=eu")
		if err == nil || !strings.Contains(err.Error(), "managed by Corral and Kubernetes") {
			t.Errorf("error %v, want the controller's reason", err)
		}
		if _, ok := mustGet(t, ctl.Registry, gpu.ID).Labels["zone"]; ok {
			t.Errorf("zone was set although the request was refused")
		}
	})

	t.Run("assign and clear a profile", func(t *testing.T) {
		if _, err := nodes("", "assign", "gpu-01", "default", "--reason", "burn-in"); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, ctl.Registry, gpu.ID).AssignedProfile; got != "default" {
			t.Errorf("registry: assigned profile %q, want default", got)
		}
		out, err := nodes("", "assign", "gpu-01", "--clear")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "profile chosen by the rules again")
		if got := mustGet(t, ctl.Registry, gpu.ID).AssignedProfile; got != "" {
			t.Errorf("registry: assigned profile %q after --clear, want none", got)
		}
	})

	t.Run("assigning an unknown profile names it", func(t *testing.T) {
		_, err := nodes("", "assign", "gpu-01", "nosuch")
		if err == nil || !strings.Contains(err.Error(), `unknown profile "nosuch"`) {
			t.Errorf("error %v, want one naming the profile", err)
		}
	})

	t.Run("events tell the story", func(t *testing.T) {
		out, err := nodes("", "events", "gpu-01")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "registered", "discovered -> pending", "seeded by the test", "labels", "set rack=b4", "removed rack", "profile", "burn-in", "default -> -")
	})

	t.Run("show summarises the hardware", func(t *testing.T) {
		out, err := nodes("", "show", gpu.MACs[1])
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "ID:          "+gpu.ID, "Hostname:    gpu-01", "AMD EPYC 7742 64-Core Processor, 2 sockets, 128 cores, 256 threads",
			"nvme3n1", "bluestore", "GA100 [A100 SXM4 40GB]", "enp97s0f0", "Events:")
	})

	t.Run("reject a stranger", func(t *testing.T) {
		if _, err := nodes("", "reject", stranger.ID, "--reason", "not ours"); err != nil {
			t.Fatal(err)
		}
		if n := mustGet(t, ctl.Registry, stranger.ID); n.State != registry.Decommissioned {
			t.Errorf("registry: state %s, want decommissioned", n.State)
		}
	})

	t.Run("decommission revokes", func(t *testing.T) {
		out, err := nodes("", "decommission", "gpu-01", "-o", "table")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "decommissioned")
		if n := mustGet(t, ctl.Registry, gpu.ID); n.State != registry.Decommissioned || n.CredentialHash != "" {
			t.Errorf("registry: state %s, credential hash %q; want decommissioned without credential", n.State, n.CredentialHash)
		}
	})

	t.Run("forget asks, and a no keeps the node", func(t *testing.T) {
		if _, err := nodes("n\n", "forget", stranger.ID); err == nil {
			t.Fatal("forget went ahead without a yes")
		}
		mustGet(t, ctl.Registry, stranger.ID)
	})

	t.Run("forget after a yes deletes the node", func(t *testing.T) {
		out, err := nodes("y\n", "forget", stranger.ID)
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "forgot "+stranger.ID)
		if _, err := ctl.Registry.Get(stranger.ID); !errors.Is(err, registry.ErrNotFound) {
			t.Errorf("registry after forget: %v, want ErrNotFound", err)
		}
		if _, err := nodes("", "events", stranger.ID); err == nil || !strings.Contains(err.Error(), "`corral nodes list` shows the nodes") {
			t.Errorf("events of a forgotten node: %v, want a pointer to list", err)
		}
	})

	t.Run("CORRAL_CONFIG is used without the flag", func(t *testing.T) {
		t.Setenv(clientconfig.EnvVar, cfg)
		out, err := corralCLI(t, "", "nodes", "list", "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		wantContains(t, out, "kind: NodeList", gpu.ID)
	})
}

// TestNodesEndToEndCredentialErrors checks what an operator reads when the
// client configuration does not fit the controller.
func TestNodesEndToEndCredentialErrors(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	other := servertest.Start(t, servertest.Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "https://" + ln.Addr().String()
	ln.Close()

	wrongToken := writeClientConfig(t, ctl.URL, ctl.CAPEM, "not-the-token")
	wrongCA := writeClientConfig(t, ctl.URL, other.CAPEM, ctl.AdminToken)
	nobody := writeClientConfig(t, closed, ctl.CAPEM, ctl.AdminToken)
	tests := []struct {
		name, config, wantErr string
	}{
		{"a wrong token names the file", wrongToken, "the admin token in " + wrongToken + " was refused (401 Unauthorized"},
		{"another controller's CA names the file", wrongCA, ctl.URL + " presented a certificate not signed by the CA in " + wrongCA},
		{"a controller that is not running", nobody, "cannot reach the controller at " + closed + " (from " + nobody + "): is `corral controller` running there?"},
		{"a missing file says who writes it", filepath.Join(t.TempDir(), "none.yaml"), "(from --client-config)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := corralCLI(t, "", "nodes", "list", "--client-config", tt.config)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestNodesShowWhatANodeWaitsFor runs list and show against the real API of
// a controller that reconciles Kubernetes, the test playing the reconciler
// (SetKubeReady) and the agent (a transition to ready is its report).
func TestNodesShowWhatANodeWaitsFor(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{KubeReadiness: true})
	cfg := writeClientConfig(t, ctl.URL, ctl.CAPEM, ctl.AdminToken)
	nodes := func(args ...string) string {
		t.Helper()
		out, err := corralCLI(t, "", append(append([]string{"nodes"}, args...), "--client-config", cfg)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	provisioning := func(fixture, hostname string) registry.Node {
		t.Helper()
		n := seed(t, ctl.Registry, fixture, hostname, registry.Approved)
		n, err := ctl.Registry.Transition(n.ID, registry.Provisioning, "configuration fetched")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	both := provisioning("dgx-a100", "gpu-01")
	kube := provisioning("qemu", "vm-01")
	if n, err := ctl.Registry.Transition(kube.ID, registry.Ready, "agent: configuration applied"); err != nil || n.State != registry.Provisioning {
		t.Fatalf("the agent's report without a Ready Node: %s, %v; want provisioning", n.State, err)
	}
	ready := provisioning("build-vm", "build-01")
	if _, err := ctl.Registry.SetKubeReady(ready.ID, true, "Ready"); err != nil {
		t.Fatal(err)
	}
	if n, err := ctl.Registry.Transition(ready.ID, registry.Ready, "agent: configuration applied"); err != nil || n.State != registry.Ready {
		t.Fatalf("both ready: %s, %v; want ready", n.State, err)
	}

	t.Run("list says what each node waits for", func(t *testing.T) {
		rows := map[string]string{}
		for line := range strings.Lines(nodes("list")) {
			if f := strings.Fields(line); len(f) > 3 {
				rows[f[0]] = strings.Join(strings.Fields(strings.SplitN(line, f[2], 2)[1]), " ")
			}
		}
		for id, want := range map[string]string{
			both.ID:  "agent, kubernetes node ",
			kube.ID:  "kubernetes node ",
			ready.ID: "- ",
		} {
			if !strings.HasPrefix(rows[id], want) {
				t.Errorf("row of %s after STATE: %q, want it to start with %q", id, rows[id], want)
			}
		}
	})

	t.Run("show prints the conditions", func(t *testing.T) {
		out := nodes("show", "vm-01")
		// The SINCE column between status and reason is a duration.
		wantContains(t, out, "State:       provisioning", "Waits for:   kubernetes node", "Conditions:",
			"AgentReady  True", "ConfigurationApplied", "KubeReady   False", "NotSeenYet", "has not seen Kubernetes Node vm-01")
		if out := nodes("show", "build-01"); strings.Contains(out, "Waits for:") {
			t.Errorf("a ready node waits for something:\n%s", out)
		}
	})

	t.Run("-o json carries them", func(t *testing.T) {
		var n v1alpha1.Node
		if err := json.Unmarshal([]byte(nodes("show", "gpu-01", "-o", "json")), &n); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range n.Conditions {
			got = append(got, c.Type+"="+c.Status+"/"+c.Reason)
		}
		want := []string{"AgentReady=False/Applying", "KubeReady=False/NotSeenYet"}
		if diff := cmp.Diff(want, got); diff != "" || n.State != "provisioning" {
			t.Errorf("state %s, conditions (-want +got):\n%s", n.State, diff)
		}
	})

	t.Run("a Node that turns NotReady: since when and why", func(t *testing.T) {
		if n, err := ctl.Registry.SetKubeReady(ready.ID, false, "kubernetes node build-01 Ready=False (KubeletNotReady)"); err != nil || n.State != registry.Provisioning {
			t.Fatalf("NotReady: %s, %v; want provisioning", n.State, err)
		}
		out := nodes("show", "build-01")
		wantContains(t, out, "Waits for:   kubernetes node", "TYPE        STATUS  SINCE  REASON", "KubeReady   False   0s     NodeNotReady",
			"; reported: kubernetes node build-01 Ready=False (KubeletNotReady)")
	})

	t.Run("-o yaml carries them", func(t *testing.T) {
		wantContains(t, nodes("list", "-o", "yaml"), "conditions:\n", "type: KubeReady\n", "status: \"True\"\n", "reason: NodeNotReady\n")
	})
}
