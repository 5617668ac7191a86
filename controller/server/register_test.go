package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

func manualAPI(t testing.TB, rr RegisterRate) (*API, *registry.Store) {
	reg, err := registry.Open(filepath.Join(t.TempDir(), "r.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return New(Options{Registry: reg, Policy: enroll.Policy{Mode: enroll.Manual}, Profiles: Fallback{},
		AdminHash: enroll.Hash("admin"), RegisterRate: rr}), reg
}

func registerBody(id, credential string) string {
	b, _ := json.Marshal(v1alpha1.RegisterRequest{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterRequest,
		Inventory: v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: id}}, Credential: credential})
	return string(b)
}

// FuzzDecodeRegister feeds arbitrary bodies to registration under the
// manual policy (so each accepted one becomes a request): never a panic or
// a 5xx; an accepted one is a valid node id whose request stores no more
// than the body bound; a refused one writes nothing.
func FuzzDecodeRegister(f *testing.F) {
	f.Add([]byte(registerBody("n1", "")))
	f.Add([]byte(registerBody("n1", "n1.secret")))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"},"nics":[{"name":"eth0","mac":"52:54:00:00:00:01","permanentMAC":"x"}],"system":{"serial":"\u0000"}}}`))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"` + strings.Repeat("a", 200) + `"}}}`))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1","kind":"RegisterRequest","inventory":{"identity":{"nodeID":"n1"}},"credential":"` + strings.Repeat(".", 600) + `"}`))
	f.Add([]byte(`{"apiVersion":"corral.io/v1alpha1"} {}`))
	a, reg := manualAPI(f, RegisterRate{PerSource: rate.Inf, Global: rate.Inf, PerSourceBurst: 1, GlobalBurst: 1})
	f.Fuzz(func(t *testing.T, body []byte) {
		before, _ := reg.Requests("")
		r := httptest.NewRequest(http.MethodPost, v1alpha1.PathRegister, bytes.NewReader(body))
		w := httptest.NewRecorder()
		a.ServeHTTP(w, r)
		after, _ := reg.Requests("")
		switch {
		case w.Code >= 500:
			t.Fatalf("status %d for %q: %s", w.Code, body, w.Body)
		case w.Code >= 400:
			if len(after) != len(before) {
				t.Fatalf("refused body (%d) added a request", w.Code)
			}
		default:
			var out v1alpha1.RegisterResponse
			if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil || !nodeIDPattern.MatchString(out.NodeID) {
				t.Fatalf("accepted %q: answer %s (%v)", body, w.Body, err)
			}
			if len(after) > registry.DefaultRequestLimits.Total {
				t.Fatalf("%d requests stored, over the cap", len(after))
			}
			for _, rq := range after {
				if b, _ := json.Marshal(rq.Inventory); len(b) > MaxRegisterBody {
					t.Fatalf("request %s stores %d bytes of inventory", rq.ID, len(b))
				}
			}
		}
	})
}

// TestUnauthenticatedRegistrationsAreRateLimitedPerSource: over the
// per-source burst a source is told 429; a node presenting its credential
// from the same address is not limited.
func TestUnauthenticatedRegistrationsAreRateLimitedPerSource(t *testing.T) {
	a, reg := manualAPI(t, RegisterRate{PerSource: rate.Every(1e12), PerSourceBurst: 3, Global: rate.Inf, GlobalBurst: 1})
	// An enrolled node with a credential.
	n, _, err := reg.Register(&v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: "real"}})
	if err != nil {
		t.Fatal(err)
	}
	token, hash := enroll.NodeToken(n.ID)
	if _, err := reg.Update(n.ID, func(n *registry.Node) (*registry.Event, error) { n.CredentialHash = hash; return nil, nil }); err != nil {
		t.Fatal(err)
	}
	var codes []int
	for i := range 5 {
		codes = append(codes, post(a, v1alpha1.PathRegister, registerBody("flood"+string(rune('a'+i)), "")).Code)
	}
	want := []int{200, 200, 200, 429, 429}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes %v, want %v", codes, want)
		}
	}
	if w := post(a, v1alpha1.PathRegister, registerBody("real", token)); w.Code != 200 {
		t.Errorf("the credentialed node, same address, after the flood: %d %s", w.Code, w.Body)
	}
	if w := post(a, v1alpha1.PathRegister, strings.Replace(registerBody("big", ""), `"identity"`, `"labels":{"x":"`+strings.Repeat("x", MaxRegisterBody)+`"},"identity"`, 1)); w.Code != http.StatusRequestEntityTooLarge {
		t.Errorf("registration over %d bytes: %d, want 413", MaxRegisterBody, w.Code)
	}
}
