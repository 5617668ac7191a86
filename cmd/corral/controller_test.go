package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/testnet"
)

// TestMain lets a test start this very binary as the corral command, so the
// daemon can be killed with SIGKILL and restarted like the real thing.
func TestMain(m *testing.M) {
	if args := os.Getenv("CORRAL_TEST_MAIN_ARGS"); args != "" {
		os.Args = append([]string{"corral"}, strings.Split(args, "\x1f")...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// startCorral runs `corral <args>` inside ns, logging to logFile.
func startCorral(t *testing.T, ns *testnet.NS, logFile string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := ns.Command(context.Background(), self)
	cmd.Env = append(os.Environ(), "CORRAL_TEST_MAIN_ARGS="+strings.Join(args, "\x1f"))
	f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// controllerLab is a controller namespace (prov0, 10.10.0.1/24) and a client
// namespace (eth0, cliCIDR or no address) joined by a veth, with a config in
// a scratch directory whose controller log is printed if the test fails.
type controllerLab struct {
	srv, cli      *testnet.NS
	dir, cfg, log string
}

func newControllerLab(t *testing.T, label, cliCIDR string) *controllerLab {
	t.Helper()
	l := &controllerLab{srv: testnet.New(t, label+"srv"), cli: testnet.New(t, label+"cli"), dir: t.TempDir()}
	testnet.Veth(t, l.srv, "prov0", "10.10.0.1/24", l.cli, "eth0", cliCIDR)
	l.cfg = writeConfig(t, l.dir)
	l.log = filepath.Join(l.dir, "controller.log")
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(l.log)
			t.Logf("controller log:\n%s", b)
		}
	})
	return l
}

// start runs `corral controller` in the lab.
func (l *controllerLab) start(t *testing.T) *exec.Cmd {
	t.Helper()
	return startCorral(t, l.srv, l.log, "controller", "--config", l.cfg)
}

func writeConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: %s
interface: prov0
dhcp:
  subnet: 10.10.0.0/24
  rangeStart: 10.10.0.100
  rangeEnd: 10.10.0.110
  leaseTime: 1h
http:
  listen: ":8080"
`, filepath.Join(dir, "state"))
	path := filepath.Join(dir, "controller.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// udhcpc asks for a lease (requesting want when set) and returns the address
// it was bound to.
func udhcpc(t *testing.T, ns *testnet.NS, want string) string {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "hook.sh")
	out := filepath.Join(dir, "ip")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1\" = bound ] && echo \"$ip\" > "+out+"\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	args := []string{"udhcpc", "-i", "eth0", "-f", "-q", "-n", "-t", "20", "-T", "1", "-s", script}
	if want != "" {
		args = append(args, "-r", want)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if b, err := ns.Command(ctx, "busybox", args...).CombinedOutput(); err != nil {
		t.Fatalf("udhcpc: %v\n%s", err, b)
	}
	ip, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("udhcpc was not bound: %v", err)
	}
	return strings.TrimSpace(string(ip))
}

// TestLeaseSurvivesKill9 acknowledges a lease, kills the controller with
// SIGKILL, restarts it, and checks the address is still held: another machine
// asking for it gets a different one, the owner gets it back.
func TestLeaseSurvivesKill9(t *testing.T) {
	testnet.RequireCommands(t, "busybox")
	l := newControllerLab(t, "k", "")
	cli := l.cli
	first := l.start(t)
	owner := cli.HardwareAddr("eth0").String()
	held := udhcpc(t, cli, "")

	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.Wait()
	l.start(t)

	cli.MustIP("link", "set", "eth0", "address", "52:54:00:99:99:99")
	if other := udhcpc(t, cli, held); other == held {
		t.Fatalf("after kill -9 and restart, %s was given to a second machine", held)
	}
	cli.MustIP("link", "set", "eth0", "address", owner)
	if again := udhcpc(t, cli, ""); again != held {
		t.Errorf("after kill -9 and restart the owner got %s, want its lease %s", again, held)
	}
}

// TestBadConfigIsRefusedNamingTheField starts the controller with wrong values.
func TestBadConfigIsRefusedNamingTheField(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	bad := "apiVersion: corral.io/v1alpha1\nkind: ControllerConfig\ninterface: eth9\ndhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.1.5\n  rangeEnd: 10.0.0.9\n"
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := newRoot()
	cmd.SetArgs([]string{"controller", "--config", path})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "dhcp.rangeStart: is 10.0.1.5, which is outside dhcp.subnet 10.0.0.0/24") {
		t.Errorf("err = %v; want it to name dhcp.rangeStart and the subnet", err)
	}
}

// TestControllerEnrollsANode starts the real controller, reads the client
// configuration it wrote at first start, and enrols a node through the API
// it serves: registration under the manual policy, approval with the admin
// token, then the node's credential and configuration.
func TestControllerEnrollsANode(t *testing.T) {
	l := newControllerLab(t, "e", "10.10.0.50/24")
	cli, dir := l.cli, l.dir
	ctl := l.start(t)

	clientFile := filepath.Join(dir, "state", "client.yaml")
	var cc struct {
		Server string `yaml:"server"`
		Token  string `yaml:"token"`
		CAPEM  string `yaml:"caPEM"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		b, err := os.ReadFile(clientFile)
		if err == nil && yaml.Unmarshal(b, &cc) == nil && cc.Token != "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller did not write %s: %v", clientFile, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if fi, _ := os.Stat(clientFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600 (it holds the admin token)", clientFile, fi.Mode().Perm())
	}
	if cc.Server != "https://10.10.0.1:9443" {
		t.Errorf("client config server = %q, want the advertised address", cc.Server)
	}
	// Dial from the client namespace, as a node on the provisioning network.
	dial := client.WithDialContext(func(ctx context.Context, network, addr string) (c net.Conn, err error) {
		err = cli.Do(func() error {
			var d net.Dialer
			c, err = d.DialContext(ctx, network, addr)
			return err
		})
		return c, err
	})
	var op *client.Client
	for {
		var err error
		op, err = client.New(cc.Server, client.Trust{CAPEM: []byte(cc.CAPEM)}, cc.Token, dial)
		if err != nil {
			t.Fatal(err)
		}
		if _, err = op.Nodes(context.Background()); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("API not answering: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	fp := ""
	if block, _ := pem.Decode([]byte(cc.CAPEM)); block != nil {
		fp = client.Fingerprint(block.Bytes)
	}
	agent, err := client.New(cc.Server, client.Trust{CAFingerprint: fp}, "", dial)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	inv := v1alpha1.Inventory{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindInventory, Identity: v1alpha1.Identity{NodeID: "e2e-node"}}
	reg, err := agent.Register(ctx, inv, "")
	if err != nil || reg.State != "pending" {
		t.Fatalf("register: %+v %v; want pending (manual is the default policy)", reg, err)
	}
	if _, err := op.Action(ctx, "e2e-node", "approve", v1alpha1.ActionRequest{}); err != nil {
		t.Fatal(err)
	}
	cred, _, err := agent.WithToken(reg.EnrollmentToken).Credential(ctx)
	if err != nil || cred == nil {
		t.Fatalf("credential: %v %v", cred, err)
	}
	if cfg, err := agent.WithToken(cred.Credential).Config(ctx); err != nil || cfg.NodeID != "e2e-node" || cfg.Profile != "compute" || cfg.Labels["corral.io/profile"] != "compute" {
		t.Fatalf("config: %+v %v", cfg, err)
	}
	wrong, _ := client.New(cc.Server, client.Trust{CAFingerprint: strings.Repeat("00", 32)}, "", dial)
	if _, err := wrong.Register(ctx, inv, ""); err == nil || !strings.Contains(err.Error(), "pinned fingerprint") {
		t.Errorf("an agent pinning another CA must refuse the controller: %v", err)
	}

	// Everything acknowledged survives kill -9: the approval, the
	// credential, the CA the nodes pin and the admin token.
	if err := ctl.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = ctl.Wait()
	l.start(t)
	for {
		_, err := agent.WithToken(cred.Credential).Config(ctx)
		if err == nil {
			break
		}
		if client.IsStatus(err, 401) || time.Now().After(deadline.Add(20*time.Second)) {
			t.Fatalf("after kill -9 and restart the node's credential no longer works: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	n, err := op.Node(ctx, "e2e-node")
	if err != nil || n.State != "provisioning" {
		t.Errorf("after kill -9 and restart: %+v %v; want the node still enrolled (provisioning)", n, err)
	}
}
