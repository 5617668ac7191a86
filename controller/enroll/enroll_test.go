package enroll

import (
	"crypto/x509"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/api/v1alpha1"
)

func TestCAIsCreatedOnceAndServingCertFollowsTheNames(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	now := time.Now()
	a, err := LoadOrCreateCA(dir, []string{"10.0.0.1", "ctl"}, now)
	if err != nil {
		t.Fatal(err)
	}
	b, err := LoadOrCreateCA(dir, []string{"10.0.0.1", "ctl"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if a.Fingerprint != b.Fingerprint || !a.Serving.Leaf.Equal(b.Serving.Leaf) {
		t.Errorf("a second start must reuse the CA and the serving certificate")
	}
	c, err := LoadOrCreateCA(dir, []string{"10.0.0.2", "ctl"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if c.Fingerprint != a.Fingerprint {
		t.Errorf("a new address must not replace the CA (nodes pin it)")
	}
	if c.Serving.Leaf.Equal(a.Serving.Leaf) || c.Serving.Leaf.VerifyHostname("10.0.0.2") != nil {
		t.Errorf("the serving certificate must be reissued for the new address")
	}
	roots := x509.NewCertPool()
	roots.AddCert(c.Cert)
	if _, err := c.Serving.Leaf.Verify(x509.VerifyOptions{Roots: roots}); err != nil {
		t.Errorf("serving certificate not signed by the CA: %v", err)
	}
}

func TestTokens(t *testing.T) {
	tok, hash := NodeToken("node.with.dots")
	id, secret, ok := SplitNodeToken(tok)
	if !ok || id != "node.with.dots" || !Matches(hash, secret) {
		t.Fatalf("round trip: %q %q %v", id, secret, ok)
	}
	if strings.Contains(hash, secret) || Matches(hash, secret+"x") || Matches("", "") || Matches(hash, "") {
		t.Errorf("hash must not reveal or accept other secrets")
	}
	for _, bad := range []string{"", "nodot", ".secret", "id."} {
		if _, _, ok := SplitNodeToken(bad); ok {
			t.Errorf("SplitNodeToken(%q) accepted", bad)
		}
	}
}

func TestPolicy(t *testing.T) {
	inv := &v1alpha1.Inventory{
		System: v1alpha1.System{Serial: "SN-1234", UUID: "4c4c4544-0042"},
		NICs:   []v1alpha1.NIC{{MAC: "52:54:00:AB:00:01"}},
	}
	tests := []struct {
		name string
		p    Policy
		want bool
	}{
		{"auto approves", Policy{Mode: Auto}, true},
		{"manual waits", Policy{Mode: Manual}, false},
		{"allowlist by MAC glob, case-insensitive", Policy{Mode: Allowlist, Allowlist: []Pattern{{MAC: "52:54:00:ab:*"}}}, true},
		{"allowlist by serial", Policy{Mode: Allowlist, Allowlist: []Pattern{{Serial: "SN-12??"}}}, true},
		{"every field of an entry must match", Policy{Mode: Allowlist, Allowlist: []Pattern{{Serial: "SN-1234", UUID: "other*"}}}, false},
		{"no entry matches", Policy{Mode: Allowlist, Allowlist: []Pattern{{MAC: "aa:*"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); err != nil {
				t.Fatal(err)
			}
			if got, why := tt.p.Decide(inv); got != tt.want || why == "" {
				t.Errorf("Decide = %v (%q), want %v with a reason", got, why, tt.want)
			}
		})
	}
	for _, bad := range []Policy{{Mode: "yolo"}, {Mode: Allowlist}, {Mode: Allowlist, Allowlist: []Pattern{{}}}, {Mode: Allowlist, Allowlist: []Pattern{{MAC: "["}}}} {
		if bad.Validate() == nil {
			t.Errorf("Validate(%+v) accepted", bad)
		}
	}
}
