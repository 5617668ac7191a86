package clientconfig

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func testCA(t testing.TB) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "corral test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func TestClientConfigWriteThenLoadGivesTheSameConfig(t *testing.T) {
	ca := testCA(t)
	path := filepath.Join(t.TempDir(), "client.yaml")
	want := New("https://10.10.0.1:8443", ca, "s3cret")
	if err := Write(path, want); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600: the file holds the admin token", st.Mode().Perm())
	}
	got, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Load after Write (-want +got):\n%s", diff)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only client.yaml (no temporary left)", len(entries))
	}
}

func TestClientConfigCAFileIsReadRelativeToTheConfig(t *testing.T) {
	dir := t.TempDir()
	ca := testCA(t)
	if err := os.WriteFile(filepath.Join(dir, "ca.pem"), ca, 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "client.yaml")
	doc := "apiVersion: corral.io/v1alpha1\nkind: ClientConfig\nserver: https://ctl:8443\ncaFile: ca.pem\ntoken: t\n"
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.CAPEM != string(ca) {
		t.Errorf("CAPEM is not the content of caFile")
	}
}

func TestClientConfigDecodeRefusesBadDocuments(t *testing.T) {
	ca := testCA(t)
	indented := "  " + strings.ReplaceAll(strings.TrimSpace(string(ca)), "\n", "\n  ")
	good := "apiVersion: corral.io/v1alpha1\nkind: ClientConfig\nserver: https://ctl:8443\ntoken: t\ncaPEM: |\n" + indented + "\n"
	if _, err := Decode(strings.NewReader(good)); err != nil {
		t.Fatalf("the good document is refused: %v", err)
	}
	tests := []struct {
		name, doc, wantErr string
	}{
		{"empty document", "", "empty document"},
		{"unknown field, with its line", good + "insecure: true\n", fmt.Sprintf("line %d: field insecure not found", strings.Count(good, "\n")+1)},
		{"wrong kind", strings.Replace(good, "ClientConfig", "ControllerConfig", 1), `kind: is "ControllerConfig", must be "ClientConfig"`},
		{"plain http server", strings.Replace(good, "https://", "http://", 1), "server: is \"http://ctl:8443\", must be the controller's API URL"},
		{"no token", strings.Replace(good, "token: t\n", "", 1), "token: is required"},
		{"no CA", "apiVersion: corral.io/v1alpha1\nkind: ClientConfig\nserver: https://ctl:8443\ntoken: t\n", "caPEM: is required (or caFile)"},
		{"both CAs", good + "caFile: ca.pem\n", "caPEM: and caFile are both set"},
		{"CA that is not PEM", strings.Replace(good, "BEGIN CERTIFICATE", "BEGIN KEY", 1), "caPEM: holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestClientConfigFindLooksInOrder(t *testing.T) {
	dir := t.TempDir()
	mk := func(rel string) string {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flag, env, system := mk("flag.yaml"), mk("env.yaml"), mk("system/client.yaml")
	home := filepath.Join(dir, "home")
	user := mk("home/.config/corral/client.yaml")
	missing := filepath.Join(dir, "missing.yaml")

	tests := []struct {
		name    string
		loc     Locations
		want    string
		wantErr string
	}{
		{"the flag wins", Locations{Flag: flag, Env: env, System: system, Home: home}, flag, ""},
		{"then the environment", Locations{Env: env, System: system, Home: home}, env, ""},
		{"then the controller's file", Locations{System: system, Home: home}, system, ""},
		{"then the user's file", Locations{System: missing, Home: home}, user, ""},
		{"a missing flag file is an error, not skipped", Locations{Flag: missing, System: system}, missing, "(from --client-config)"},
		{"a missing environment file is an error", Locations{Env: missing, System: system}, missing, "(from CORRAL_CONFIG)"},
		{"nothing found says where it looked and who writes it", Locations{System: missing, Home: dir},
			"", "looked at " + missing + ", " + filepath.Join(dir, ".config/corral/client.yaml") + "); `corral controller` writes one"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Find(tt.loc)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("Find = %s, want %s", got, tt.want)
			}
		})
	}
	var nf *NotFoundError
	if _, err := Find(Locations{System: missing}); !errors.As(err, &nf) {
		t.Errorf("error %v is not a *NotFoundError", err)
	}
}

// TestClientConfigReadsWhatTheControllerWrites decodes the file in the form
// `corral controller` writes at first start: comments first, the CA as a
// literal block.
func TestClientConfigReadsWhatTheControllerWrites(t *testing.T) {
	ca := testCA(t)
	var b strings.Builder
	b.WriteString("# Written by corral controller at first start: the operator's credentials.\n")
	b.WriteString("# Keep it secret (mode 0600).\n")
	b.WriteString("apiVersion: corral.io/v1alpha1\nkind: ClientConfig\n")
	b.WriteString("server: https://10.10.0.1:8443\ntoken: abc\ncaPEM: |\n")
	for _, line := range strings.Split(strings.TrimSpace(string(ca)), "\n") {
		b.WriteString("  " + line + "\n")
	}
	c, err := Decode(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(New("https://10.10.0.1:8443", ca, "abc"), c); diff != "" {
		t.Errorf("decoded (-want +got):\n%s", diff)
	}
}

func FuzzClientConfigDecode(f *testing.F) {
	ca := testCA(f)
	var good bytes.Buffer
	if err := New("https://ctl:8443", ca, "t").Encode(&good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.String())
	f.Add("apiVersion: corral.io/v1alpha1\nkind: ClientConfig\nserver: https://ctl:8443\ncaFile: ca.pem\ntoken: t\n")
	f.Add("server: [\n")
	f.Add("")
	f.Fuzz(func(t *testing.T, doc string) {
		c, err := Decode(strings.NewReader(doc))
		if err != nil {
			return
		}
		// Whatever is accepted is valid, and survives a round trip.
		if err := c.Validate(); err != nil {
			t.Fatalf("Decode accepted an invalid config: %v", err)
		}
		var buf bytes.Buffer
		if err := c.Encode(&buf); err != nil {
			t.Fatal(err)
		}
		again, err := Decode(&buf)
		if err != nil {
			t.Fatalf("re-decoding the encoded config: %v\n%s", err, buf.String())
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Errorf("round trip (-first +second):\n%s", diff)
		}
	})
}
