package k3s

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/internal/golden"
	"corral.io/corral/internal/supervise"
	"corral.io/corral/internal/testutil"
)

// serverKeys are the keys Corral writes, each checked against the k3s
// documentation for v1.31 (github.com/k3s-io/docs), and whether the flag is
// repeatable (a YAML list). The config file takes the flag names
// (docs/installation/configuration.md, "Configuration File").
var serverKeys = map[string]struct {
	doc  string
	list bool
}{
	"cluster-init":          {doc: "docs/cli/server.md, Cluster Options: --cluster-init, initialize a new cluster using embedded etcd", list: false},
	"token":                 {doc: "docs/cli/server.md, Cluster Options: --token / K3S_TOKEN, shared secret used to join a server or agent", list: false},
	"agent-token":           {doc: "docs/cli/server.md, Cluster Options: --agent-token / K3S_AGENT_TOKEN, shared secret used to join agents", list: false},
	"data-dir":              {doc: "docs/cli/server.md, Data: --data-dir, folder to hold state (default /var/lib/rancher/k3s)", list: false},
	"https-listen-port":     {doc: "docs/cli/server.md, Listener: --https-listen-port, HTTPS listen port (default 6443)", list: false},
	"advertise-address":     {doc: "docs/cli/server.md, Listener: --advertise-address, IPv4 address the apiserver advertises to members of the cluster", list: false},
	"node-ip":               {doc: "docs/cli/server.md, Agent/Networking: --node-ip, IPv4/IPv6 addresses to advertise for node (one address: a scalar; dual-stack would be comma-separated)", list: false},
	"flannel-iface":         {doc: "docs/cli/server.md, Agent/Networking: --flannel-iface, override default flannel interface", list: false},
	"tls-san":               {doc: "docs/cli/server.md, Listener: --tls-san, additional hostnames or IPs as Subject Alternative Names in the server TLS cert", list: true},
	"write-kubeconfig":      {doc: "docs/cli/server.md, Client: --write-kubeconfig, write kubeconfig for admin client to this file", list: false},
	"write-kubeconfig-mode": {doc: "docs/cli/server.md, Client: --write-kubeconfig-mode, write kubeconfig with this mode", list: false},
	"disable":               {doc: "docs/cli/server.md, Kubernetes Components: --disable, do not deploy packaged components (coredns, servicelb, traefik, local-storage, metrics-server, runtimes)", list: true},
	"node-taint":            {doc: "docs/cli/server.md, Agent/Node: --node-taint, registering kubelet with set of taints", list: true},
}

func testParams() Params {
	return Params{
		Token:      strings.Repeat("a", 64),
		AgentToken: strings.Repeat("b", 64),
		DataDir:    "/var/lib/corral/k3s/data",
		Kubeconfig: "/var/lib/corral/k3s/kubeconfig.yaml",
		Advertise:  netip.MustParseAddr("10.10.0.1"),
		Interface:  "prov0",
		Names:      []string{"controller", "controller.lab.corral", "10.10.0.1"},
		Disable:    DefaultDisable,
	}
}

func TestServerConfigGolden(t *testing.T) {
	cfg, err := NewServerConfig(testParams())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "server-config.yaml", b)
}

// TestServerConfigKeysAreK3sServerFlags checks the generated file key by
// key: every key is a documented `k3s server` flag, with a list exactly
// where the flag is repeatable, and every key we document is written.
func TestServerConfigKeysAreK3sServerFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "server-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		want, ok := serverKeys[k]
		if !ok {
			t.Errorf("key %q is not in the checked list of k3s server flags", k)
			continue
		}
		_, isList := v.([]any)
		if isList && !want.list {
			t.Errorf("key %q is a list, but --%s is not repeatable", k, k)
		}
		if want.list && !isList {
			t.Errorf("key %q is not a list, but --%s is repeatable", k, k)
		}
	}
	for k := range serverKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("checked key %q is not written", k)
		}
	}
	if m["write-kubeconfig-mode"] != "0600" {
		t.Errorf("write-kubeconfig-mode = %#v, want the string \"0600\" (an integer would be read as decimal 600)", m["write-kubeconfig-mode"])
	}
	// The docs for k3s' own files, cited in docs/k3s.md, list these too.
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "k3s.md"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range serverKeys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/k3s.md does not explain key %q", k)
		}
	}
}

func TestServerConfigRefuses(t *testing.T) {
	for name, mod := range map[string]func(*Params){
		"no token":                    func(p *Params) { p.Token = "" },
		"no agent token":              func(p *Params) { p.AgentToken = "" },
		"IPv6 advertise address":      func(p *Params) { p.Advertise = netip.MustParseAddr("fd00::1") },
		"no advertise address":        func(p *Params) { p.Advertise = netip.Addr{} },
		"a component k3s cannot drop": func(p *Params) { p.Disable = []string{"traefik", "kube-proxy"} },
	} {
		p := testParams()
		mod(&p)
		if _, err := NewServerConfig(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestServerConfigDefaultsAndNames(t *testing.T) {
	p := testParams()
	p.Port, p.Interface, p.Disable = 0, "", nil
	p.Names = []string{"", "controller", "10.10.0.1", "controller"}
	cfg, err := NewServerConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.HTTPSListenPort != 6443 {
		t.Errorf("port %d, want 6443", cfg.HTTPSListenPort)
	}
	if diff := cmp.Diff([]string{"10.10.0.1", "controller"}, cfg.TLSSAN); diff != "" {
		t.Errorf("tls-san (-want +got):\n%s", diff)
	}
	b, _ := cfg.Marshal()
	if strings.Contains(string(b), "flannel-iface") || strings.Contains(string(b), "disable:") {
		t.Errorf("empty flannel-iface or disable written:\n%s", b)
	}
}

func TestTokensAreMadeOnceAndKeptPrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "k3s")
	first, err := LoadOrCreateTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{first.Server, first.Agent} {
		if len(tok) != 64 || strings.Trim(tok, "0123456789abcdef") != "" {
			t.Errorf("token %q: want 64 hex digits (256 bits)", tok)
		}
	}
	if first.Server == first.Agent {
		t.Error("server and agent token are the same")
	}
	for _, f := range []string{TokenFile, AgentTokenFile} {
		fi, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", f, fi.Mode().Perm())
		}
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	// A restart keeps them; a file or the directory opened up by someone
	// is closed again.
	os.Chmod(filepath.Join(dir, TokenFile), 0o644)
	os.Chmod(dir, 0o755)
	again, err := LoadOrCreateTokens(dir)
	if err != nil {
		t.Fatal(err)
	}
	if again != first {
		t.Errorf("tokens changed across a restart: %+v then %+v", first, again)
	}
	if fi, _ := os.Stat(filepath.Join(dir, TokenFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("token mode %v after restart, want 0600", fi.Mode().Perm())
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v after restart, want 0700", fi.Mode().Perm())
	}
}

func TestBadTokenFileIsAnErrorThatSaysWhatToDo(t *testing.T) {
	for name, content := range map[string]string{
		"short":        "abc\n",
		"K10 form":     "K10abcdefabcdefabcdefabcdefabcdefabcdef::server:abcdef\n",
		"empty":        "",
		"with a space": strings.Repeat("a", 40) + " b\n",
	} {
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, TokenFile), []byte(content), 0o600)
		_, err := LoadOrCreateTokens(dir)
		if err == nil || !strings.Contains(err.Error(), "remove it") {
			t.Errorf("%s: err = %v, want one saying to remove the file", name, err)
		}
	}
}

func TestJoinTokenPrefersTheFullFormOnceK3sWroteIt(t *testing.T) {
	data := t.TempDir()
	agent := strings.Repeat("b", 64)
	if got := JoinToken(data, agent); got != agent {
		t.Errorf("before k3s ran: %q, want the bare token", got)
	}
	os.MkdirAll(filepath.Join(data, "server"), 0o700)
	full := "K10" + strings.Repeat("c", 64) + "::node:" + agent
	os.WriteFile(filepath.Join(data, "server", "agent-token"), []byte(full+"\n"), 0o600)
	if got := JoinToken(data, agent); got != full {
		t.Errorf("after k3s wrote it: %q, want %q", got, full)
	}
	os.WriteFile(filepath.Join(data, "server", "agent-token"), []byte("K10"+strings.Repeat("c", 64)+"::node:other\n"), 0o600)
	if got := JoinToken(data, agent); got != agent {
		t.Errorf("a file for another token: %q, want the bare token", got)
	}
}

// pki is a CA with a server certificate for 127.0.0.1 and a client one.
type pki struct {
	caPEM               []byte
	server              tls.Certificate
	clientPEM, keyPEM   []byte
	caPool              *x509.CertPool
	caCert              *x509.Certificate
	caKey               *ecdsa.PrivateKey
	serial              int64
	notBefore, notAfter time.Time
}

func newPKI(t *testing.T) *pki {
	t.Helper()
	p := &pki{notBefore: time.Now().Add(-time.Hour), notAfter: time.Now().Add(time.Hour)}
	var err error
	p.caKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "k3s-server-ca"},
		NotBefore: p.notBefore, NotAfter: p.notAfter, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	p.caCert, _ = x509.ParseCertificate(der)
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.caPool = x509.NewCertPool()
	p.caPool.AddCert(p.caCert)
	issue := func(cn string, usage x509.ExtKeyUsage, ips []net.IP) ([]byte, []byte) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		p.serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(p.serial + 1), Subject: pkix.Name{CommonName: cn},
			NotBefore: p.notBefore, NotAfter: p.notAfter, ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	}
	sc, sk := issue("kube-apiserver", x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	if p.server, err = tls.X509KeyPair(sc, sk); err != nil {
		t.Fatal(err)
	}
	p.clientPEM, p.keyPEM = issue("system:admin", x509.ExtKeyUsageClientAuth, nil)
	return p
}

// apiserver is a TLS server requiring a client certificate of the CA, as
// k3s' API server does; readyz answers what status says.
func apiserver(t *testing.T, p *pki, status *atomic.Int32) *httptest.Server {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		code := int(status.Load())
		w.WriteHeader(code)
		if code == http.StatusOK {
			fmt.Fprint(w, "ok")
		} else {
			fmt.Fprint(w, "[-]etcd failed: reason withheld\nreadyz check failed")
		}
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{p.server}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: p.caPool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig as k3s does (embedded certificates).
func writeKubeconfig(t *testing.T, path, server string, p *pki) {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	kc := fmt.Sprintf(`apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: %s
    server: %s
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: %s
    client-key-data: %s
`, b64(p.caPEM), server, b64(p.clientPEM), b64(p.keyPEM))
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestReadyzProbe(t *testing.T) {
	p := newPKI(t)
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := apiserver(t, p, &status)
	kc := filepath.Join(t.TempDir(), "kubeconfig.yaml")
	probe := ReadyzProbe(kc)
	ctx := context.Background()

	if err := probe(ctx); err == nil || !strings.Contains(err.Error(), "not written its kubeconfig") {
		t.Errorf("before the kubeconfig: %v", err)
	}
	writeKubeconfig(t, kc, srv.URL, p)
	if err := probe(ctx); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("while readyz fails: %v, want the 503", err)
	}
	status.Store(http.StatusOK)
	if err := probe(ctx); err != nil {
		t.Errorf("ready: %v", err)
	}
	// Without the client certificate the server refuses the handshake.
	os.WriteFile(kc, []byte("clusters: []\n"), 0o600)
	if err := probe(ctx); err == nil {
		t.Error("a kubeconfig without cluster passed")
	}
}

// fakeK3s is a stand-in for the k3s binary (which cannot be downloaded
// here): it records its arguments and writes lines as k3s does.
func fakeK3s(t *testing.T) (bin, argsFile string) {
	dir := t.TempDir()
	bin, argsFile = filepath.Join(dir, "k3s"), filepath.Join(dir, "args")
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" > %s
echo 'time="2026-11-22T07:00:00Z" level=info msg="Starting k3s v1.31.6+k3s1 (fake)"'
echo 'time="2026-11-22T07:00:00Z" level=warning msg="fake warning"' >&2
exec sleep 3600
`, argsFile)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

func TestServerRunsK3sWithItsConfigAndReportsReadiness(t *testing.T) {
	bin, argsFile := fakeK3s(t)
	dir := filepath.Join(t.TempDir(), "k3s")
	var logs testutil.LockedBuffer
	s, err := New(Options{
		Binary: bin, Dir: dir, Advertise: netip.MustParseAddr("10.10.0.1"), Interface: "prov0",
		Names: []string{"controller.lab.corral"}, ExtraArgs: []string{"--debug"},
		Logger:    slog.New(slog.NewTextHandler(&logs, nil)),
		Supervise: supervise.Options{ProbeInterval: 10 * time.Millisecond, Grace: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, ConfigFile)
	fi, err := os.Stat(cfgPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v %v, want mode 0600", fi, err)
	}
	b, _ := os.ReadFile(cfgPath)
	tokens, _ := LoadOrCreateTokens(dir)
	for _, want := range []string{"token: " + tokens.Server, "agent-token: " + tokens.Agent, "write-kubeconfig: " + filepath.Join(dir, KubeconfigFile), "data-dir: " + filepath.Join(dir, "data"), "- controller.lab.corral"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("config lacks %q:\n%s", want, b)
		}
	}
	if j := s.Join(); j.ServerURL != "https://10.10.0.1:6443" || j.Token != tokens.Agent {
		t.Errorf("join data %+v", j)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	// k3s "comes up": it writes the kubeconfig and /readyz answers ok.
	p := newPKI(t)
	var status atomic.Int32
	status.Store(http.StatusOK)
	srv := apiserver(t, p, &status)
	writeKubeconfig(t, s.Kubeconfig(), srv.URL, p)
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if err := s.WaitReady(wctx); err != nil {
		t.Fatalf("never ready: %v\n%s", err, logs.String())
	}
	args, _ := os.ReadFile(argsFile)
	if got, want := strings.TrimSpace(string(args)), "server --config "+cfgPath+" --debug"; got != want {
		t.Errorf("k3s arguments %q, want %q", got, want)
	}
	// The supervisor logs "child ready" after it has marked the child
	// ready, which is what WaitReady saw: wait for the line.
	wants := []string{`msg="time=\"2026-11-22T07:00:00Z\" level=info msg=\"Starting k3s v1.31.6+k3s1 (fake)\"" child=k3s-server`, `level=WARN msg="time=`, `msg="child ready" child=k3s-server`}
	var log string
	for end := time.Now().Add(30 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		log = logs.String()
		missing := 0
		for _, want := range wants {
			if !strings.Contains(log, want) {
				missing++
			}
		}
		if missing == 0 || time.Now().After(end) {
			break
		}
	}
	for _, want := range wants {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q:\n%s", want, log)
		}
	}
	if strings.Contains(log, tokens.Server) || strings.Contains(log, tokens.Agent) {
		t.Errorf("a token is in the log:\n%s", log)
	}
}

func TestNewRefusesAMissingBinaryAndSaysWhatToDo(t *testing.T) {
	_, err := New(Options{Binary: filepath.Join(t.TempDir(), "k3s"), Dir: t.TempDir(), Advertise: netip.MustParseAddr("10.10.0.1")})
	if err == nil || !strings.Contains(err.Error(), "remove k3s.binary") {
		t.Errorf("err = %v", err)
	}
}
