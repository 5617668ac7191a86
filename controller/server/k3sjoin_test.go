package server_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/testutil"
)

// joinToken is what the controller's k3s agent token looks like (K10 form).
const joinToken = "K10c0ffee00000000000000000000000000000000000000000000000000000000::server:5ec2e75ec2e7"

// raw calls the API and keeps every answer's body, to search for the token.
type raw struct {
	t      *testing.T
	c      *servertest.Controller
	http   *http.Client
	bodies []string
}

func newRaw(t *testing.T, c *servertest.Controller) *raw {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(c.CAPEM) {
		t.Fatal("CA PEM")
	}
	return &raw{t: t, c: c, http: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

func (r *raw) call(method, path, token string, body any, out any) int {
	r.t.Helper()
	var in io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			r.t.Fatal(err)
		}
		in = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, r.c.URL+path, in)
	if err != nil {
		r.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.http.Do(req)
	if err != nil {
		r.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatal(err)
	}
	r.bodies = append(r.bodies, method+" "+path+" "+string(b))
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			r.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode
}

func (r *raw) register(id, mac, credential string) v1alpha1.RegisterResponse {
	r.t.Helper()
	var reg v1alpha1.RegisterResponse
	req := v1alpha1.RegisterRequest{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterRequest, Inventory: inv(id, mac), Credential: credential}
	if code := r.call("POST", v1alpha1.PathRegister, "", req, &reg); code != http.StatusOK {
		r.t.Fatalf("register %s: %d", id, code)
	}
	return reg
}

func (r *raw) action(id, action string) {
	r.t.Helper()
	path := strings.NewReplacer("{id}", id, "{action}", action).Replace(v1alpha1.PathNodeAction)
	if code := r.call("POST", path, r.c.AdminToken, v1alpha1.ActionRequest{Reason: "test"}, nil); code != http.StatusOK {
		r.t.Fatalf("%s %s: %d", action, id, code)
	}
}

// credential collects an approved node's credential.
func (r *raw) credential(reg v1alpha1.RegisterResponse) string {
	r.t.Helper()
	var cred v1alpha1.Credential
	if code := r.call("POST", v1alpha1.PathCredential, reg.EnrollmentToken, nil, &cred); code != http.StatusOK {
		r.t.Fatalf("credential of %s: %d", reg.NodeID, code)
	}
	return cred.Credential
}

func (r *raw) config(credential string) (int, v1alpha1.NodeConfig) {
	r.t.Helper()
	var cfg v1alpha1.NodeConfig
	code := r.call("GET", v1alpha1.PathConfig, credential, nil, &cfg)
	return code, cfg
}

// TestK3sJoinDataGoesOnlyToApprovedNodes checks the invariant "no secret
// leaves the controller for a node that is not approved": the k3s agent
// token is in the configuration of an approved node, and in no other answer
// of the API and no line of the controller's log.
func TestK3sJoinDataGoesOnlyToApprovedNodes(t *testing.T) {
	var logs testutil.LockedBuffer
	join := &v1alpha1.K3sJoin{ServerURL: "https://10.10.0.1:6443", Token: joinToken}
	c := servertest.Start(t, servertest.Options{
		Policy:  enroll.Policy{Mode: enroll.Manual},
		Logger:  slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		K3sJoin: func() *v1alpha1.K3sJoin { j := *join; return &j },
	})
	r := newRaw(t, c)

	// A pending node: no credential, so no configuration.
	pending := r.register("pending-node", "52:54:00:00:01:01", "")
	if code := r.call("POST", v1alpha1.PathCredential, pending.EnrollmentToken, nil, nil); code != http.StatusAccepted {
		t.Errorf("credential while pending: %d, want 202", code)
	}
	if code, _ := r.config(pending.EnrollmentToken); code != http.StatusUnauthorized {
		t.Errorf("config with a pending node's enrollment token: %d, want 401", code)
	}

	// A rejected node.
	rejected := r.register("rejected-node", "52:54:00:00:01:02", "")
	r.action("rejected-node", "reject")
	if code := r.call("POST", v1alpha1.PathCredential, rejected.EnrollmentToken, nil, nil); code != http.StatusForbidden {
		t.Errorf("credential of a rejected node: %d, want 403", code)
	}

	// An approved node gets the join data.
	approved := r.register("approved-node", "52:54:00:00:01:03", "")
	r.action("approved-node", "approve")
	cred := r.credential(approved)
	code, cfg := r.config(cred)
	if code != http.StatusOK {
		t.Fatalf("config of an approved node: %d", code)
	}
	if diff := cmp.Diff(join, cfg.K3s); diff != "" {
		t.Errorf("join data of an approved node (-want +got):\n%s", diff)
	}
	allowed := len(r.bodies) - 1 // the only answer that may hold the token

	// Heartbeats and operator reads of that node.
	if code := r.call("POST", v1alpha1.PathHeartbeat, cred, v1alpha1.Heartbeat{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindHeartbeat, Ready: true}, nil); code != http.StatusNoContent {
		t.Errorf("heartbeat: %d", code)
	}
	for _, p := range []string{v1alpha1.PathNodes, v1alpha1.PathNode, v1alpha1.PathNodeEvents, v1alpha1.PathNodeExplain} {
		if code := r.call("GET", strings.ReplaceAll(p, "{id}", "approved-node"), c.AdminToken, nil, nil); code != http.StatusOK {
			t.Errorf("GET %s: %d", p, code)
		}
	}

	// A node approved, then decommissioned: its credential no longer
	// fetches the configuration.
	gone := r.register("gone-node", "52:54:00:00:01:04", "")
	r.action("gone-node", "approve")
	goneCred := r.credential(gone)
	if code, cfg := r.config(goneCred); code != http.StatusOK || cfg.K3s == nil {
		t.Fatalf("config of gone-node while approved: %d %+v", code, cfg.K3s)
	}
	allowedGone := len(r.bodies) - 1
	r.action("gone-node", "decommission")
	if code, cfg := r.config(goneCred); code < 400 || cfg.K3s != nil {
		t.Errorf("config of a decommissioned node: %d %+v, want a refusal and no join data", code, cfg.K3s)
	}

	// A registration of the approved node's id without its credential (a
	// copy of its identity) is an identity conflict: its token waits and
	// gets nothing, and the real node keeps its credential (issue 12, F1).
	again := r.register("approved-node", "52:54:00:00:01:03", "")
	if again.State != "pending" {
		t.Fatalf("re-registered without a credential: %s, want pending", again.State)
	}
	if code := r.call("POST", v1alpha1.PathCredential, again.EnrollmentToken, nil, nil); code != http.StatusAccepted {
		t.Errorf("credential for the conflicting registration: %d, want 202", code)
	}
	code, cfg = r.config(cred)
	if code != http.StatusOK || cfg.K3s == nil {
		t.Errorf("config of the real node during the conflict: %d %+v, want its configuration", code, cfg.K3s)
	}
	allowedAgain := len(r.bodies) - 1

	for i, b := range r.bodies {
		if i == allowed || i == allowedGone || i == allowedAgain {
			continue
		}
		if strings.Contains(b, joinToken) || strings.Contains(b, "serverURL") {
			t.Errorf("answer %d holds the join data: %s", i, b)
		}
	}
	if strings.Contains(logs.String(), joinToken) {
		t.Errorf("the controller logged the k3s token:\n%s", logs.String())
	}
}

// TestNoK3sJoinDataWithoutAServer: a controller without k3s sends none.
func TestNoK3sJoinDataWithoutAServer(t *testing.T) {
	c := servertest.Start(t, servertest.Options{Policy: enroll.Policy{Mode: enroll.Auto}})
	r := newRaw(t, c)
	reg := r.register("n1", "52:54:00:00:02:01", "")
	code, cfg := r.config(r.credential(reg))
	if code != http.StatusOK || cfg.K3s != nil {
		t.Errorf("config: %d, k3s %+v; want 200 and no k3s join data", code, cfg.K3s)
	}
	if strings.Contains(r.bodies[len(r.bodies)-1], `"k3s"`) {
		t.Errorf("the answer has a k3s key: %s", r.bodies[len(r.bodies)-1])
	}
}
