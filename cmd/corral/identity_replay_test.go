package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
)

// These tests replay the findings of issue 12 against the real controller
// (`corral controller`, this binary, in its own network namespace) with real
// HTTPS clients on the provisioning network: the legitimate node registers
// from 10.10.0.50, the attacker from 10.10.0.66.

type replayLab struct {
	*controllerLab
	op             *client.Client
	node, attacker *client.Client // agents (no token), by source address
	stateDir       string
}

func newReplayLab(t *testing.T, label string) *replayLab {
	t.Helper()
	l := &replayLab{controllerLab: newControllerLab(t, label, "10.10.0.50/24")}
	l.cli.MustIP("addr", "add", "10.10.0.66/24", "dev", "eth0")
	l.stateDir = filepath.Join(l.dir, "state")
	l.start(t)
	var cc struct {
		Server string `yaml:"server"`
		Token  string `yaml:"token"`
		CAPEM  string `yaml:"caPEM"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(filepath.Join(l.stateDir, "client.yaml"))
		if err == nil && yaml.Unmarshal(b, &cc) == nil && cc.Token != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller wrote no client.yaml: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	from := func(src string) client.Option {
		return client.WithDialContext(func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = l.cli.Do(func() error {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		})
	}
	fp := ""
	if block, _ := pem.Decode([]byte(cc.CAPEM)); block != nil {
		fp = client.Fingerprint(block.Bytes)
	}
	var err error
	if l.node, err = client.New(cc.Server, client.Trust{CAFingerprint: fp}, "", from("10.10.0.50")); err != nil {
		t.Fatal(err)
	}
	if l.attacker, err = client.New(cc.Server, client.Trust{CAFingerprint: fp}, "", from("10.10.0.66")); err != nil {
		t.Fatal(err)
	}
	for {
		if l.op, err = client.New(cc.Server, client.Trust{CAPEM: []byte(cc.CAPEM)}, cc.Token, from("10.10.0.50")); err != nil {
			t.Fatal(err)
		}
		if _, err = l.op.Nodes(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API not answering: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return l
}

func replayInventory(id, mac, serial string) v1alpha1.Inventory {
	return v1alpha1.Inventory{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindInventory,
		Identity: v1alpha1.Identity{NodeID: id, Source: "mac", Value: mac},
		System:   v1alpha1.System{Vendor: "QEMU", Product: "Standard PC", Serial: serial},
		NICs:     []v1alpha1.NIC{{Name: "eth0", MAC: mac, PermanentMAC: mac}}}
}

func (l *replayLab) nodeView(t *testing.T, id string) v1alpha1.Node {
	t.Helper()
	n, err := l.op.Node(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// enrolReady takes the legitimate node through approval to ready and
// returns its credential.
func (l *replayLab) enrolReady(t *testing.T, inv v1alpha1.Inventory) string {
	t.Helper()
	ctx := context.Background()
	reg, err := l.node.Register(ctx, inv, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.op.Action(ctx, inv.Identity.NodeID, "approve", v1alpha1.ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	cred, _, err := l.node.WithToken(reg.EnrollmentToken).Credential(ctx)
	if err != nil || cred == nil {
		t.Fatalf("credential: %v %v", cred, err)
	}
	if _, err := l.node.WithToken(cred.Credential).Config(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.node.WithToken(cred.Credential).Heartbeat(ctx, true, ""); err != nil {
		t.Fatal(err)
	}
	if s := l.nodeView(t, inv.Identity.NodeID).State; s != "ready" {
		t.Fatalf("node is %s, want ready", s)
	}
	return cred.Credential
}

// TestReplayF1CopiedIdentityCannotTakeOverAReadyNode: one unauthenticated
// registration with only a ready node's id used to move it to pending, wipe
// its inventory, and hand the re-approved credential to the attacker.
func TestReplayF1CopiedIdentityCannotTakeOverAReadyNode(t *testing.T) {
	l := newReplayLab(t, "f1")
	ctx := context.Background()
	inv := replayInventory("node-f1", "52:54:00:00:f1:01", "SN-REAL")
	cred := l.enrolReady(t, inv)
	before := l.nodeView(t, "node-f1")

	// The attack: only the id, from another address.
	bare := v1alpha1.Inventory{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindInventory, Identity: v1alpha1.Identity{NodeID: "node-f1"}}
	reg, err := l.attacker.Register(ctx, bare, "")
	if err != nil {
		t.Fatal(err)
	}
	if reg.State != "pending" || !strings.Contains(reg.Message, "identity conflict") {
		t.Errorf("attacker's answer: %+v, want pending with the identity conflict named", reg)
	}
	after := l.nodeView(t, "node-f1")
	if after.State != "ready" || len(after.MACs) != 1 || after.Inventory == nil || after.Inventory.System.Serial != "SN-REAL" {
		t.Errorf("node after the attack: state %s, MACs %v, inventory %+v; want ready, unchanged", after.State, after.MACs, after.Inventory)
	}
	if after.StateSince != before.StateSince {
		t.Errorf("stateSince moved: %v → %v", before.StateSince, after.StateSince)
	}
	// Visible: a condition, a request with the attacker's address, an event,
	// and `corral nodes list`.
	var cond *v1alpha1.NodeCondition
	for i, c := range after.Conditions {
		if c.Type == v1alpha1.ConditionIdentityConflict {
			cond = &after.Conditions[i]
		}
	}
	if cond == nil || cond.Status != v1alpha1.ConditionTrue {
		t.Errorf("conditions %+v: want IdentityConflict True", after.Conditions)
	}
	if len(after.Requests) != 1 || !after.Requests[0].Conflict || after.Requests[0].Source != "10.10.0.66" {
		t.Errorf("requests %+v: want one conflict from 10.10.0.66", after.Requests)
	}
	evs, err := l.op.Events(ctx, "node-f1")
	if err != nil {
		t.Fatal(err)
	}
	if last := evs[len(evs)-1]; last.Type != v1alpha1.EventIdentityConflict || !strings.Contains(last.Reason, "10.10.0.66") {
		t.Errorf("last event %+v: want the identity conflict from 10.10.0.66", last)
	}
	out, err := runCorralCLI(t, l, "nodes", "list")
	if err != nil || !strings.Contains(out, "identity conflict (1)") {
		t.Errorf("corral nodes list: %v\n%s\nwant the identity conflict shown", err, out)
	}

	// The real node keeps working: configuration, heartbeats, and a
	// reboot that presents its credential.
	if _, err := l.node.WithToken(cred).Config(ctx); err != nil {
		t.Errorf("config of the real node during the attack: %v", err)
	}
	if err := l.node.WithToken(cred).Heartbeat(ctx, true, ""); err != nil {
		t.Errorf("heartbeat of the real node during the attack: %v", err)
	}
	if reg, err := l.node.Register(ctx, inv, cred); err != nil || reg.State == "pending" {
		t.Errorf("the real node re-registering with its credential: %+v %v", reg, err)
	}
	// The attacker's token buys nothing.
	if c, pending, err := l.attacker.WithToken(reg.EnrollmentToken).Credential(ctx); c != nil || pending == nil {
		t.Errorf("attacker's credential call: %v %v %v; want 202 and no credential", c, pending, err)
	}
	// Rejecting the conflict dismisses it; the node stays ready.
	if _, err := l.op.Action(ctx, "node-f1", "reject", v1alpha1.ActionRequest{Request: after.Requests[0].ID, Reason: "not ours"}); err != nil {
		t.Fatal(err)
	}
	if n := l.nodeView(t, "node-f1"); n.State != "ready" || len(n.Requests) != 0 || len(n.Conditions) != 1 {
		t.Errorf("after rejecting the conflict: %s, requests %v, conditions %v", n.State, n.Requests, n.Conditions)
	}
	if _, _, err := l.attacker.WithToken(reg.EnrollmentToken).Credential(ctx); !client.IsStatus(err, http.StatusUnauthorized) {
		t.Errorf("the rejected request's token: %v, want 401", err)
	}
}

// TestReplayF2OperatorApprovesTheRequestNotTheID: an attacker registering
// a pending node's id with another inventory used to receive the
// credential when the operator approved the node.
func TestReplayF2OperatorApprovesTheRequestNotTheID(t *testing.T) {
	l := newReplayLab(t, "f2")
	ctx := context.Background()
	real := replayInventory("node-f2", "52:54:00:00:f2:01", "SN-B")
	regB, err := l.node.Register(ctx, real, "")
	if err != nil {
		t.Fatal(err)
	}
	regX, err := l.attacker.Register(ctx, replayInventory("node-f2", "52:54:00:66:66:66", "SN-EVIL"), "")
	if err != nil {
		t.Fatal(err)
	}
	n := l.nodeView(t, "node-f2")
	if n.Inventory == nil || n.Inventory.System.Serial != "SN-B" {
		t.Errorf("node inventory %+v: want B's, not the attacker's", n.Inventory)
	}
	if len(n.Requests) != 2 {
		t.Fatalf("requests %+v: want two, one per registration", n.Requests)
	}
	var reqB string
	for _, r := range n.Requests {
		if strings.Contains(r.Summary, "SN-B") && r.Source == "10.10.0.50" {
			reqB = r.ID
		}
		if r.Inventory == nil {
			t.Errorf("request %s has no inventory", r.ID)
		}
	}
	if reqB == "" {
		t.Fatalf("no request with B's inventory from 10.10.0.50: %+v", n.Requests)
	}
	evs, _ := l.op.Events(ctx, "node-f2")
	regs := 0
	for _, e := range evs {
		if e.Type == v1alpha1.EventRegistration {
			regs++
		}
	}
	if regs != 2 {
		t.Errorf("events show %d registrations, want 2: %+v", regs, evs)
	}
	// Approving without choosing is refused: there are two.
	if _, err := l.op.Action(ctx, "node-f2", "approve", v1alpha1.ActionRequest{}); !client.IsStatus(err, http.StatusConflict) {
		t.Errorf("approve without --request: %v, want 409", err)
	}
	out, err := runCorralCLI(t, l, "nodes", "show", "node-f2")
	if err != nil || !strings.Contains(out, reqB) || !strings.Contains(out, "10.10.0.66") {
		t.Errorf("corral nodes show: %v\n%s\nwant both requests with their sources", err, out)
	}
	if _, err := runCorralCLI(t, l, "nodes", "approve", "node-f2", "--request", reqB); err != nil {
		t.Fatal(err)
	}
	if c, _, err := l.attacker.WithToken(regX.EnrollmentToken).Credential(ctx); c != nil || err == nil {
		t.Errorf("attacker's token after B's approval: %v %v; want refused", c, err)
	}
	cred, _, err := l.node.WithToken(regB.EnrollmentToken).Credential(ctx)
	if err != nil || cred == nil {
		t.Fatalf("B's credential: %v %v", cred, err)
	}
	if _, err := l.node.WithToken(cred.Credential).Config(ctx); err != nil {
		t.Errorf("B's config: %v", err)
	}
	if n := l.nodeView(t, "node-f2"); n.Inventory.System.Serial != "SN-B" || len(n.Requests) != 0 {
		t.Errorf("after approval: inventory %+v, requests %v", n.Inventory.System, n.Requests)
	}
}

// TestReplayF5UnauthenticatedRegistrationsAreBounded: 20 registrations of
// ~1 MB each used to grow registry.db by 27 MB.
func TestReplayF5UnauthenticatedRegistrationsAreBounded(t *testing.T) {
	l := newReplayLab(t, "f5")
	ctx := context.Background()
	cred := l.enrolReady(t, replayInventory("node-f5", "52:54:00:00:f5:01", "SN-REAL"))
	db := filepath.Join(l.stateDir, "registry.db")
	size := func() int64 {
		fi, err := os.Stat(db)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	before := size()
	big := func(id string, bytes int) v1alpha1.Inventory {
		inv := replayInventory(id, "52:54:00:66:00:01", "SN-X")
		inv.Labels = map[string]string{"pad": strings.Repeat("x", bytes)}
		return inv
	}
	// 20 inventories of ~1 MB, as in the finding: refused before they are
	// stored.
	for i := range 20 {
		if _, err := l.attacker.Register(ctx, big(fmt.Sprintf("flood-big-%02d", i), 1000<<10), ""); !client.IsStatus(err, http.StatusRequestEntityTooLarge) {
			t.Errorf("1 MB registration %d: %v, want 413", i, err)
		}
	}
	t.Logf("F5 replay: 20 unauthenticated 1 MB registrations: registry.db %d → %d bytes", before, size())
	var accepted, limited int
	for i := range 20 {
		_, err := l.attacker.Register(ctx, big(fmt.Sprintf("flood-%02d", i), 60<<10), "")
		switch {
		case err == nil:
			accepted++
		case client.IsStatus(err, http.StatusTooManyRequests):
			limited++
		default:
			t.Fatalf("flood registration %d: %v", i, err)
		}
		// The legitimate node keeps working during the flood.
		if err := l.node.WithToken(cred).Heartbeat(ctx, true, ""); err != nil {
			t.Errorf("heartbeat during the flood: %v", err)
		}
	}
	if reg, err := l.node.Register(ctx, replayInventory("node-f5", "52:54:00:00:f5:01", "SN-REAL"), cred); err != nil || reg.State != "ready" {
		t.Errorf("the real node rebooting during the flood: %+v %v", reg, err)
	}
	after := size()
	t.Logf("F5 replay: 20 unauthenticated 60 KiB registrations from one address: %d accepted, %d refused 429; registry.db %d → %d bytes (+%d)",
		accepted, limited, before, after, after-before)
	if limited == 0 {
		t.Errorf("no registration was rate-limited")
	}
	if after-before > 8<<20 {
		t.Errorf("registry.db grew by %d bytes", after-before)
	}
}

// runCorralCLI runs the corral CLI against the lab's controller.
func runCorralCLI(t *testing.T, l *replayLab, args ...string) (string, error) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	cmd := startCorral(t, l.cli, out, append(args, "--client-config", filepath.Join(l.stateDir, "client.yaml"))...)
	err := cmd.Wait()
	b, _ := os.ReadFile(out)
	return string(b), err
}
