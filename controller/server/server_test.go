package server_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
	"corral.io/corral/controller/server/servertest"
)

var ctx = context.Background()

func inv(id, mac string) v1alpha1.Inventory {
	return v1alpha1.Inventory{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindInventory,
		Identity: v1alpha1.Identity{NodeID: id},
		NICs:     []v1alpha1.NIC{{Name: "eth0", MAC: mac, PermanentMAC: mac}},
	}
}

// agent is a client trusting the controller by CA fingerprint, as a node does.
func agent(t *testing.T, c *servertest.Controller) *client.Client {
	t.Helper()
	cl, err := client.New(c.URL, client.Trust{CAFingerprint: c.CAFingerprint}, "")
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func admin(t *testing.T, c *servertest.Controller) *client.Client {
	t.Helper()
	cl, err := client.New(c.URL, client.Trust{CAPEM: c.CAPEM}, c.AdminToken)
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

func state(t *testing.T, c *servertest.Controller, id string) registry.State {
	t.Helper()
	n, err := c.Registry.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	return n.State
}

// TestManualEnrollment walks a node through the whole flow under the manual
// policy and checks that nothing secret is handed out before approval.
func TestManualEnrollment(t *testing.T) {
	c := servertest.Start(t, servertest.Options{})
	a := agent(t, c)
	reg, err := a.Register(ctx, inv("node-a", "52:54:00:00:00:0a"), "")
	if err != nil {
		t.Fatal(err)
	}
	if reg.State != "pending" || reg.EnrollmentToken == "" || !strings.Contains(reg.Message, "corral nodes approve node-a") {
		t.Fatalf("register: %+v", reg)
	}
	enrolling := a.WithToken(reg.EnrollmentToken)
	cred, pending, err := enrolling.Credential(ctx)
	if err != nil || cred != nil || pending == nil || pending.State != "pending" {
		t.Fatalf("credential before approval: cred=%v pending=%v err=%v; want 202 pending and no credential", cred, pending, err)
	}
	if _, err := enrolling.Config(ctx); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("config with the enrollment token: err = %v, want 401", err)
	}

	if _, err := admin(t, c).Action(ctx, "node-a", "approve", v1alpha1.ActionRequest{Reason: "racked"}); err != nil {
		t.Fatal(err)
	}
	cred, _, err = enrolling.Credential(ctx)
	if err != nil || cred == nil || !strings.HasPrefix(cred.Credential, "node-a.") {
		t.Fatalf("credential after approval: %v %v", cred, err)
	}
	if again, _, err := enrolling.Credential(ctx); again != nil || !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("a second credential for the same enrollment token: %v %v; want 401", again, err)
	}
	node := a.WithToken(cred.Credential)
	cfg, err := node.Config(ctx)
	if err != nil || cfg.NodeID != "node-a" || cfg.Hostname == "" || cfg.HeartbeatSeconds == 0 {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	if got := state(t, c, "node-a"); got != registry.Provisioning {
		t.Errorf("after fetching config: %s, want provisioning", got)
	}
	if err := node.Heartbeat(ctx, true, "k3s up"); err != nil {
		t.Fatal(err)
	}
	if got := state(t, c, "node-a"); got != registry.Ready {
		t.Errorf("after a ready heartbeat: %s, want ready", got)
	}
	evs, err := admin(t, c).Events(ctx, "node-a")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range evs {
		got = append(got, string(e.Type)+":"+e.To)
	}
	want := []string{"registered:discovered", "registration:", "state:pending", "state:approved", "credential:", "profile:default", "state:provisioning", "state:ready"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
}

func TestAutoPolicyAndReboots(t *testing.T) {
	c := servertest.Start(t, servertest.Options{Policy: enroll.Policy{Mode: enroll.Auto}})
	a := agent(t, c)
	reg, _ := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), "")
	if reg.State != "approved" {
		t.Fatalf("auto policy: state %s, want approved", reg.State)
	}
	cred, _, err := a.WithToken(reg.EnrollmentToken).Credential(ctx)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = a.WithToken(cred.Credential).Config(ctx)
	_ = a.WithToken(cred.Credential).Heartbeat(ctx, true, "")

	// A reboot that keeps the credential keeps the node's state.
	if reg, _ := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), cred.Credential); reg.State != "ready" {
		t.Errorf("re-registration with the credential: %s, want ready (unchanged)", reg.State)
	}
	// Someone else presenting n1's identity with a made-up credential
	// gets no credential of n1's: it must enrol like anyone.
	forged := "n1." + enroll.NewSecret()
	if reg, _ := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), forged); reg.State != "pending" {
		t.Errorf("forged credential: answered %s, want pending (an identity conflict)", reg.State)
	}
	if got := state(t, c, "n1"); got != registry.Ready {
		t.Errorf("forged credential changed the state to %s", got)
	}
	if _, err := a.WithToken(forged).Config(ctx); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("config with a forged credential: %v, want 401", err)
	}
}

func TestManualPolicyReapprovesANodeThatLostItsCredential(t *testing.T) {
	c := servertest.Start(t, servertest.Options{})
	a := agent(t, c)
	reg, _ := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), "")
	_, _ = admin(t, c).Action(ctx, "n1", "approve", v1alpha1.ActionRequest{})
	cred, _, _ := a.WithToken(reg.EnrollmentToken).Credential(ctx)
	if cred == nil {
		t.Fatal("no credential after approval")
	}
	reg2, err := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), "")
	if err != nil || reg2.State != "pending" {
		t.Fatalf("re-registration without a credential under manual policy: %+v %v; want pending", reg2, err)
	}
	if _, _, err := a.WithToken(reg.EnrollmentToken).Credential(ctx); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("the previous boot's enrollment token must be dead: %v", err)
	}
}

func TestDecommissionRevokesAtOnce(t *testing.T) {
	c := servertest.Start(t, servertest.Options{Policy: enroll.Policy{Mode: enroll.Auto}})
	a := agent(t, c)
	reg, _ := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), "")
	cred, _, _ := a.WithToken(reg.EnrollmentToken).Credential(ctx)
	if _, err := admin(t, c).Action(ctx, "n1", "decommission", v1alpha1.ActionRequest{Reason: "RMA"}); err != nil {
		t.Fatal(err)
	}
	if _, err := a.WithToken(cred.Credential).Config(ctx); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("config after decommission: %v, want 401", err)
	}
	if _, err := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), ""); !client.IsStatus(err, http.StatusForbidden) {
		t.Errorf("register after decommission: %v, want 403", err)
	}
	if err := admin(t, c).Forget(ctx, "n1"); err != nil {
		t.Fatal(err)
	}
	if reg, err := a.Register(ctx, inv("n1", "52:54:00:00:00:01"), ""); err != nil || reg.State != "approved" {
		t.Errorf("after forget the node enrols afresh: %+v %v", reg, err)
	}
}

func TestAllowlist(t *testing.T) {
	c := servertest.Start(t, servertest.Options{Policy: enroll.Policy{Mode: enroll.Allowlist, Allowlist: []enroll.Pattern{{MAC: "52:54:00:aa:*"}}}})
	a := agent(t, c)
	if reg, _ := a.Register(ctx, inv("in", "52:54:00:AA:00:01"), ""); reg.State != "approved" {
		t.Errorf("allowlisted MAC: %s, want approved", reg.State)
	}
	if reg, _ := a.Register(ctx, inv("out", "52:54:00:bb:00:01"), ""); reg.State != "pending" {
		t.Errorf("other MAC: %s, want pending", reg.State)
	}
}

func TestOperatorCalls(t *testing.T) {
	c := servertest.Start(t, servertest.Options{})
	a := agent(t, c)
	_, _ = a.Register(ctx, inv("n1", "52:54:00:00:00:01"), "")
	op := admin(t, c)
	tests := []struct {
		name   string
		call   func() error
		status int // 0: success
	}{
		{"labels are set and removed", func() error {
			n, err := op.Action(ctx, "n1", "labels", v1alpha1.ActionRequest{Set: map[string]string{"rack": "r12", "corral.io/zone": "a"}})
			if err == nil && n.Labels["rack"] != "r12" {
				t.Errorf("labels %v", n.Labels)
			}
			return err
		}, 0},
		{"a role label is refused", func() error {
			_, err := op.Action(ctx, "n1", "labels", v1alpha1.ActionRequest{Set: map[string]string{"node-role.kubernetes.io/gpu": ""}})
			return err
		}, http.StatusBadRequest},
		{"a bad label value is refused", func() error {
			_, err := op.Action(ctx, "n1", "labels", v1alpha1.ActionRequest{Set: map[string]string{"rack": "r 12"}})
			return err
		}, http.StatusBadRequest},
		{"an unknown profile is refused", func() error {
			_, err := op.Action(ctx, "n1", "assign", v1alpha1.ActionRequest{Profile: "gpu-worker-typo"})
			return err
		}, http.StatusBadRequest},
		{"a known profile is assigned", func() error {
			_, err := op.Action(ctx, "n1", "assign", v1alpha1.ActionRequest{Profile: "default"})
			return err
		}, 0},
		{"an unknown action is 404", func() error {
			_, err := op.Action(ctx, "n1", "reboot", v1alpha1.ActionRequest{})
			return err
		}, http.StatusNotFound},
		{"an unknown node is 404", func() error { _, err := op.Node(ctx, "nope"); return err }, http.StatusNotFound},
		{"explain names the profile and why", func() error {
			ex, err := op.Explain(ctx, "n1")
			if err == nil && (ex.Profile != "default" || ex.NodeID != "n1" || len(ex.Profiles) == 0 || ex.Profiles[0].Reason == "") {
				t.Errorf("explanation %+v", ex)
			}
			return err
		}, 0},
		{"approving twice conflicts", func() error {
			if _, err := op.Action(ctx, "n1", "approve", v1alpha1.ActionRequest{}); err != nil {
				return err
			}
			_, err := op.Action(ctx, "n1", "approve", v1alpha1.ActionRequest{})
			return err
		}, http.StatusConflict},
		{"no admin token is 401", func() error { _, err := op.WithToken("").Nodes(ctx); return err }, http.StatusUnauthorized},
		{"a node credential is not an admin token", func() error { _, err := op.WithToken("n1.x").Nodes(ctx); return err }, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if tt.status == 0 && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.status != 0 && !client.IsStatus(err, tt.status) {
				t.Fatalf("err = %v, want status %d", err, tt.status)
			}
		})
	}
	n, err := op.Node(ctx, "n1")
	if err != nil || n.Inventory == nil || n.Labels["corral.io/zone"] != "a" || n.AssignedProfile != "default" {
		t.Errorf("node after the calls: %+v %v", n, err)
	}
}
