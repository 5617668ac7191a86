package k3s

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/golden"
	"corral.io/corral/internal/supervise"
	"corral.io/corral/internal/testutil"
)

const gib = 1 << 30

// agentKeys are the keys Corral writes, each checked against the k3s
// documentation for v1.31 (github.com/k3s-io/docs), and whether the flag is
// repeatable (a YAML list). The config file takes the flag names
// (docs/installation/configuration.md, "Configuration File").
var agentKeys = map[string]struct {
	doc  string
	list bool
}{
	"server":        {doc: "docs/cli/agent.md, Cluster: --server / K3S_URL, server to connect to", list: false},
	"token":         {doc: "docs/cli/agent.md, Cluster: --token / K3S_TOKEN, token to use for authentication", list: false},
	"node-name":     {doc: "docs/cli/agent.md, Node: --node-name / K3S_NODE_NAME, node name", list: false},
	"node-ip":       {doc: "docs/cli/agent.md, Networking: --node-ip, IPv4/IPv6 addresses to advertise for node (one address here)", list: false},
	"flannel-iface": {doc: "docs/cli/agent.md, Networking: --flannel-iface, override default flannel interface", list: false},
	"data-dir":      {doc: "docs/cli/agent.md, Data: --data-dir, folder to hold state (default /var/lib/rancher/k3s)", list: false},
	"node-label":    {doc: "docs/cli/agent.md, Node: --node-label, registering and starting kubelet with set of labels", list: true},
	"node-taint":    {doc: "docs/cli/agent.md, Node: --node-taint, registering kubelet with set of taints", list: true},
	"kubelet-arg":   {doc: "docs/cli/agent.md, Customized Flags: --kubelet-arg, customized flag for kubelet process", list: true},
}

func goldenParams() Params {
	return Params{
		Config: v1alpha1.NodeConfig{
			NodeID: "n0123456789abcdef01234567", Hostname: "gpu-07", Profile: "gpu-worker",
			Labels: map[string]string{
				"corral.io/profile": "gpu-worker",
				"corral.io/cores":   "64",
				"feature.node.kubernetes.io/cpu-cpuid.AVX512F":     "true",
				"feature.node.kubernetes.io/pci-0302_10de.present": "true",
				"nvidia.com/gpu.product":                           "A100-SXM4-40GB",
				"nvidia.com/gpu.count":                             "8",
				"node-role.kubernetes.io/gpu":                      "",       // the controller's
				"topology.kubernetes.io/zone":                      "rack-1", // allowed to a kubelet, not ours to set
				"example.com/team":                                 "ml",
				"corral.io/bad value":                              "x",
			},
			Taints: []string{"nvidia.com/gpu=present:NoSchedule", "dedicated:NoExecute", "broken", "x=y:Sometimes"},
			K3s:    &v1alpha1.K3sJoin{ServerURL: "https://10.10.0.1:6443", Token: "K10" + strings.Repeat("c", 64) + "::node:" + strings.Repeat("b", 64)},
			Disks:  []v1alpha1.DiskPlan{{Name: "nvme0n1", Use: "scratch", Action: "create"}},
		},
		Hostname: "ignored-when-the-config-has-one",
		NIC:      NIC{Name: "enp1s0f0", Addr: netip.MustParseAddr("10.10.0.107")},
		Inventory: &v1alpha1.Inventory{
			CPU:    v1alpha1.CPU{Threads: 64},
			Memory: v1alpha1.Memory{TotalBytes: 256 * gib},
		},
		DataDir: "/var/lib/corral/scratch/k3s",
	}
}

func TestAgentConfigGolden(t *testing.T) {
	cfg, err := NewAgentConfig(goldenParams())
	if err != nil {
		t.Fatal(err)
	}
	b, err := cfg.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, "agent-config.yaml", b)
}

// TestAgentConfigKeysAreK3sAgentFlags checks the generated file key by
// key: every key is a documented `k3s agent` flag, with a list exactly
// where the flag is repeatable, and docs/k3s.md explains each.
func TestAgentConfigKeysAreK3sAgentFlags(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "agent-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for k, v := range m {
		want, ok := agentKeys[k]
		if !ok {
			t.Errorf("key %q is not in the checked list of k3s agent flags", k)
			continue
		}
		if _, isList := v.([]any); isList != want.list {
			t.Errorf("key %q: list %v, but --%s repeatable is %v", k, isList, k, want.list)
		}
	}
	for k := range agentKeys {
		if _, ok := m[k]; !ok {
			t.Errorf("checked key %q is not written", k)
		}
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "k3s.md"))
	if err != nil {
		t.Fatal(err)
	}
	for k := range agentKeys {
		if !bytes.Contains(doc, []byte("`"+k+"`")) {
			t.Errorf("docs/k3s.md does not explain key %q", k)
		}
	}
}

func TestSelfLabelsKeepOnlyWhatAKubeletMaySet(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	got := SelfLabels(goldenParams().Config.Labels, log)
	want := []string{
		"corral.io/cores=64",
		"corral.io/profile=gpu-worker",
		"feature.node.kubernetes.io/cpu-cpuid.AVX512F=true",
		"feature.node.kubernetes.io/pci-0302_10de.present=true",
		"nvidia.com/gpu.count=8",
		"nvidia.com/gpu.product=A100-SXM4-40GB",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
	for _, dropped := range []string{"node-role.kubernetes.io/gpu", "topology.kubernetes.io/zone", "example.com/team", `"corral.io/bad value"`} {
		if !strings.Contains(logs.String(), "label="+dropped) {
			t.Errorf("no debug line for the dropped label %s:\n%s", dropped, logs.String())
		}
	}
	for name, kv := range map[string][2]string{
		"long value":          {"corral.io/x", strings.Repeat("a", 64)},
		"value with a slash":  {"corral.io/x", "a/b"},
		"name ends with dash": {"corral.io/x-", "a"},
		"no name":             {"corral.io/", "a"},
		"look-alike prefix":   {"corral.io.evil.com/x", "a"},
		"subdomain":           {"gpu.nvidia.com/x", "a"},
	} {
		if got := SelfLabels(map[string]string{kv[0]: kv[1]}, slog.New(slog.DiscardHandler)); len(got) != 0 {
			t.Errorf("%s: %v kept", name, got)
		}
	}
}

func TestReserved(t *testing.T) {
	for _, tc := range []struct {
		cpus int
		mem  uint64
		want []string
	}{
		{1, 1 * gib, []string{"kube-reserved=cpu=60m,memory=256Mi", "system-reserved=cpu=100m,memory=512Mi"}},
		{2, 2 * gib, []string{"kube-reserved=cpu=70m,memory=512Mi", "system-reserved=cpu=100m,memory=512Mi"}},
		// 60+10+5+5 m; 25 % of 4 GiB + 20 % of 4 GiB = 1024 + 819.2 Mi.
		{4, 8 * gib, []string{"kube-reserved=cpu=80m,memory=1843Mi", "system-reserved=cpu=100m,memory=512Mi"}},
		// 80 + 60·2.5 m; 1024 + 819.2 + 819.2 + 6 % of 112 GiB (6881.28) + 2 % of 128 GiB (2621.44) Mi.
		{64, 256 * gib, []string{"kube-reserved=cpu=230m,memory=12165Mi", "system-reserved=cpu=100m,memory=512Mi"}},
		{0, 8 * gib, nil},
		{4, 0, nil},
	} {
		got := Reserved(tc.cpus, tc.mem).KubeletArgs()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("Reserved(%d, %d GiB) (-want +got):\n%s", tc.cpus, tc.mem/gib, diff)
		}
	}
}

func TestAgentConfigRefuses(t *testing.T) {
	for name, mod := range map[string]func(*Params){
		"no join data":       func(p *Params) { p.Config.K3s = nil },
		"no token":           func(p *Params) { p.Config.K3s.Token = "" },
		"token with a space": func(p *Params) { p.Config.K3s.Token = "a b" },
		"http server URL":    func(p *Params) { p.Config.K3s.ServerURL = "http://10.10.0.1:6443" },
		"no NIC":             func(p *Params) { p.NIC = NIC{} },
		"no name at all":     func(p *Params) { p.Config.Hostname, p.Hostname = "", "" },
	} {
		p := goldenParams()
		j := *p.Config.K3s
		p.Config.K3s = &j
		mod(&p)
		if _, err := NewAgentConfig(p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	p := goldenParams()
	p.Config.Hostname, p.Inventory, p.DataDir = "", nil, ""
	cfg, err := NewAgentConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.NodeName != p.Hostname || cfg.KubeletArg != nil || cfg.DataDir != "" {
		t.Errorf("without hostname, inventory and scratch: %+v", cfg)
	}
}

func TestProvisioningNIC(t *testing.T) {
	inv := &v1alpha1.Inventory{NICs: []v1alpha1.NIC{
		{Name: "eno1", Addresses: []string{"192.168.1.5/24"}},
		{Name: "enp1s0f0", Boot: true, Addresses: []string{"fe80::1/64", "10.10.0.107/24"}},
	}}
	got, err := ProvisioningNIC(inv, "https://10.10.0.1:6443")
	if err != nil || got != (NIC{Name: "enp1s0f0", Addr: netip.MustParseAddr("10.10.0.107")}) {
		t.Errorf("boot NIC: %+v %v", got, err)
	}
	// No boot NIC with an address: the route to the server decides.
	inv.NICs[1].Addresses = nil
	got, err = ProvisioningNIC(inv, "https://127.0.0.1:6443")
	if err != nil || got.Addr != netip.MustParseAddr("127.0.0.1") || got.Name == "" {
		t.Errorf("by route to 127.0.0.1: %+v %v", got, err)
	}
	if _, err := ProvisioningNIC(nil, "https://:6443"); err == nil {
		t.Error("a URL without host was accepted")
	}
}

func TestAirgapImagesAreInstalledOnce(t *testing.T) {
	src, data := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "k3s-airgap-images-amd64.tar.zst"), []byte("zstd data"), 0o644)
	os.WriteFile(filepath.Join(src, "README"), []byte("not an image"), 0o644)
	os.Mkdir(filepath.Join(src, "k3s-airgap-images-dir.tar"), 0o755)
	got, err := InstallAirgapImages(src, data)
	want := []string{filepath.Join(data, "agent", "images", "k3s-airgap-images-amd64.tar.zst")}
	if err != nil || !cmp.Equal(want, got) {
		t.Fatalf("installed %v, %v; want %v", got, err, want)
	}
	if b, _ := os.ReadFile(want[0]); string(b) != "zstd data" {
		t.Errorf("content %q", b)
	}
	if _, err := os.Stat(filepath.Join(data, "agent", "images", "README")); err == nil {
		t.Error("a file that is no image was installed")
	}
	again, err := InstallAirgapImages(src, data)
	if err != nil || !cmp.Equal(want, again) {
		t.Errorf("second install: %v %v", again, err)
	}
	// A copy, never the image's own file (a link would be copied up by
	// overlayfs anyway): what k3s does to it cannot touch the image.
	var a, b syscall.Stat_t
	if syscall.Stat(filepath.Join(src, "k3s-airgap-images-amd64.tar.zst"), &a) != nil || syscall.Stat(want[0], &b) != nil || a.Ino == b.Ino {
		t.Error("installed as a link to the image's file, want a copy")
	}
	// One left half-written (another size) is replaced.
	os.WriteFile(want[0], []byte("zstd"), 0o644)
	if _, err := InstallAirgapImages(src, data); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(want[0]); string(b) != "zstd data" {
		t.Errorf("content after replacing a partial one %q", b)
	}
	if es, _ := os.ReadDir(filepath.Dir(want[0])); len(es) != 1 {
		t.Errorf("temporary files left: %v", es)
	}
	none, err := InstallAirgapImages(filepath.Join(src, "absent"), data)
	if err != nil || none != nil {
		t.Errorf("image without air-gap images: %v %v", none, err)
	}
}

func TestAirgapImagesAreCopiedAcrossFilesystems(t *testing.T) {
	src := t.TempDir()
	var a, b syscall.Stat_t
	if syscall.Stat(src, &a) != nil || syscall.Stat("/dev/shm", &b) != nil || a.Dev == b.Dev {
		t.Skip("needs /dev/shm on another filesystem than the test's temporary directory")
	}
	data, err := os.MkdirTemp("/dev/shm", "k3s-airgap-")
	if err != nil {
		t.Skip(err)
	}
	t.Cleanup(func() { os.RemoveAll(data) })
	os.WriteFile(filepath.Join(src, "k3s-airgap-images-amd64.tar"), []byte("tar data"), 0o644)
	got, err := InstallAirgapImages(src, data)
	if err != nil || len(got) != 1 {
		t.Fatalf("%v %v", got, err)
	}
	if b, _ := os.ReadFile(got[0]); string(b) != "tar data" {
		t.Errorf("content %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(got[0]))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestWithoutK3sBinaryOneLineAndNothingElse(t *testing.T) {
	var logs testutil.LockedBuffer
	dir := t.TempDir()
	a := New(Options{Binary: filepath.Join(dir, "k3s"), ConfigPath: filepath.Join(dir, "etc", "config.yaml"), Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	for range 3 {
		if err := a.Apply(goldenParams().Config); err != nil {
			t.Fatal(err)
		}
	}
	if n := strings.Count(logs.String(), "k3s not in this image (built without k3s): not joining the cluster"); n != 1 {
		t.Errorf("the no-k3s line appears %d times, want once:\n%s", n, logs.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "etc", "config.yaml")); err == nil {
		t.Error("a configuration was written without k3s")
	}
}

// fakeK3s stands in for k3s (which cannot be downloaded here): it appends
// its arguments to a file, then waits to be stopped.
func fakeK3s(t *testing.T, dir string) (bin, argsFile string) {
	bin, argsFile = filepath.Join(dir, "k3s"), filepath.Join(dir, "args")
	script := fmt.Sprintf("#!/bin/sh\necho \"$@\" >> %s\necho 'time=\"2026-11-22T07:00:00Z\" level=info msg=\"Starting k3s agent v1.31.6+k3s1 (fake)\"'\nexec sleep 3600\n", argsFile)
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return bin, argsFile
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestAgentRunsK3sAgentAndRestartsItWhenTheConfigChanges(t *testing.T) {
	dir := t.TempDir()
	bin, argsFile := fakeK3s(t, dir)
	cfgPath := filepath.Join(dir, "etc", "rancher", "k3s", "config.yaml")
	images := filepath.Join(dir, "images")
	os.Mkdir(images, 0o755)
	os.WriteFile(filepath.Join(images, "k3s-airgap-images-amd64.tar.zst"), []byte("img"), 0o644)
	scratch := filepath.Join(dir, "scratch", "k3s")
	var logs testutil.LockedBuffer
	p := goldenParams()
	a := New(Options{
		Binary: bin, ConfigPath: cfgPath, ImagesSource: images,
		Inventory: func() *v1alpha1.Inventory {
			inv := *p.Inventory
			inv.NICs = []v1alpha1.NIC{{Name: "lo", Boot: true, Addresses: []string{"127.0.0.1/8"}}}
			return &inv
		},
		ScratchDataDir: func(v1alpha1.NodeConfig) string { return scratch },
		Logger:         slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Supervise:      supervise.Options{Ready: func(context.Context) error { return nil }, Grace: 5 * time.Second},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	if err := a.Apply(p.Config); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(cfgPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v; want mode 0600", fi, err)
	}
	written, _ := os.ReadFile(cfgPath)
	for _, want := range []string{"node-ip: 127.0.0.1", "flannel-iface: lo", "data-dir: " + scratch, "token: " + p.Config.K3s.Token} {
		if !strings.Contains(string(written), want) {
			t.Errorf("config lacks %q:\n%s", want, written)
		}
	}
	if _, err := os.Stat(filepath.Join(scratch, "agent", "images", "k3s-airgap-images-amd64.tar.zst")); err != nil {
		t.Errorf("air-gap image not installed: %v", err)
	}
	args := func() string { b, _ := os.ReadFile(argsFile); return string(b) }
	waitFor(t, "k3s agent to start", func() bool { return args() != "" })
	waitFor(t, "ready", a.Ready)
	if got, want := args(), "agent --config "+cfgPath+"\n"; got != want {
		t.Errorf("arguments %q, want %q", got, want)
	}

	// The same configuration again (a re-registration): no restart.
	if err := a.Apply(p.Config); err != nil {
		t.Fatal(err)
	}
	// A changed one (the profile adds an argument): restarted with it.
	changed := p.Config
	changed.K3sArgs = []string{"--kubelet-arg=max-pods=200"}
	if err := a.Apply(changed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the restart", func() bool { return strings.Count(args(), "\n") == 2 })
	if got := strings.Split(strings.TrimSpace(args()), "\n")[1]; got != "agent --config "+cfgPath+" --kubelet-arg=max-pods=200" {
		t.Errorf("arguments after the change: %q", got)
	}
	log := logs.String()
	if !strings.Contains(log, "Starting k3s agent v1.31.6+k3s1 (fake)") || !strings.Contains(log, "child=k3s-agent") {
		t.Errorf("k3s' lines are not in the agent's log:\n%s", log)
	}
	if strings.Contains(log, p.Config.K3s.Token) {
		t.Errorf("the token is in the log:\n%s", log)
	}
}

func FuzzSelfLabels(f *testing.F) {
	f.Add("corral.io/profile", "gpu")
	f.Add("nvidia.com/gpu.product", "A100-SXM4-40GB")
	f.Add("node-role.kubernetes.io/worker", "")
	f.Add("feature.node.kubernetes.io/x", "a b")
	f.Fuzz(func(t *testing.T, k, v string) {
		out := SelfLabels(map[string]string{k: v}, slog.New(slog.DiscardHandler))
		if len(out) == 0 {
			return
		}
		key, val, _ := strings.Cut(out[0], "=")
		if !strings.HasPrefix(key, "corral.io/") && !strings.HasPrefix(key, "nvidia.com/") && !strings.HasPrefix(key, "feature.node.kubernetes.io/") {
			t.Errorf("label %q kept outside the self-set namespaces", out[0])
		}
		if validLabel(key, val) != nil || strings.ContainsAny(out[0], " \n\t,") {
			t.Errorf("invalid label %q kept", out[0])
		}
	})
}

// FuzzAgentConfig feeds the parts of the node configuration that come from
// the controller: whatever they hold, the file is valid YAML that reads back
// as exactly what was meant (no key can be smuggled in), or it is refused.
func FuzzAgentConfig(f *testing.F) {
	f.Add("https://10.10.0.1:6443", "K10abc::node:def", "gpu-07", "corral.io/profile", "gpu", "nvidia.com/gpu=present:NoSchedule", "--kubelet-arg=max-pods=200")
	f.Add("https://[fd00::1]:6443", "tok\nserver: https://evil", "A.B", "corral.io/x", "y\nz", "a:NoExecute\nserver: x", "")
	f.Fuzz(func(t *testing.T, server, token, host, lk, lv, taint, arg string) {
		p := goldenParams()
		p.Config.K3s = &v1alpha1.K3sJoin{ServerURL: server, Token: token}
		p.Config.Hostname = host
		p.Config.Labels = map[string]string{lk: lv}
		p.Config.Taints = []string{taint}
		p.Config.K3sArgs = []string{arg}
		cfg, err := NewAgentConfig(p)
		if err != nil {
			return
		}
		b, err := cfg.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		var back AgentConfig
		dec := yaml.NewDecoder(bytes.NewReader(b))
		dec.KnownFields(true)
		if err := dec.Decode(&back); err != nil {
			t.Fatalf("the file does not read back: %v\n%s", err, b)
		}
		if diff := cmp.Diff(cfg, back); diff != "" {
			t.Errorf("read back differently (-written +read):\n%s\n%s", diff, b)
		}
	})
}

// TestSetAddressRewritesNodeIPAndRestarts: the DHCP renewer reports a new
// address on the provisioning interface; the configuration is written with
// it (the inventory still says the old one) and k3s agent restarts. An
// address on another interface changes nothing; one reported before any
// configuration is used by the first.
func TestSetAddressRewritesNodeIPAndRestarts(t *testing.T) {
	dir := t.TempDir()
	bin, argsFile := fakeK3s(t, dir)
	cfgPath := filepath.Join(dir, "config.yaml")
	p := goldenParams()
	a := New(Options{
		Binary: bin, ConfigPath: cfgPath, ImagesSource: filepath.Join(dir, "none"),
		Inventory: func() *v1alpha1.Inventory {
			inv := *p.Inventory
			inv.NICs = []v1alpha1.NIC{{Name: "eno1", Boot: true, Addresses: []string{"10.0.0.5/24"}}}
			return &inv
		},
		Logger:    slog.New(slog.DiscardHandler),
		Supervise: supervise.Options{Ready: func(context.Context) error { return nil }, Grace: 5 * time.Second},
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	nodeIP := func() string {
		t.Helper()
		var c AgentConfig
		b, err := os.ReadFile(cfgPath)
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.Unmarshal(b, &c); err != nil {
			t.Fatal(err)
		}
		return c.FlannelIface + " " + c.NodeIP
	}
	starts := func() int { b, _ := os.ReadFile(argsFile); return strings.Count(string(b), "\n") }

	// Before any configuration: kept, nothing written.
	if err := a.SetAddress("eno1", netip.MustParseAddr("10.0.0.7")); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(cfgPath); err == nil {
		t.Error("SetAddress wrote a configuration before the node had one")
	}
	if err := a.Apply(p.Config); err != nil {
		t.Fatal(err)
	}
	if got := nodeIP(); got != "eno1 10.0.0.7" {
		t.Errorf("first configuration: %q, want the address reported, not the inventory's", got)
	}
	waitFor(t, "k3s agent to start", func() bool { return starts() == 1 })

	// Another interface: nothing changes.
	if err := a.SetAddress("eth9", netip.MustParseAddr("192.168.1.1")); err != nil {
		t.Fatal(err)
	}
	if got := nodeIP(); got != "eno1 10.0.0.7" {
		t.Errorf("after a change on another interface: %q", got)
	}

	// The provisioning interface: rewritten, k3s agent restarted.
	if err := a.SetAddress("eno1", netip.MustParseAddr("10.0.0.9")); err != nil {
		t.Fatal(err)
	}
	if got := nodeIP(); got != "eno1 10.0.0.9" {
		t.Errorf("after the change: %q, want eno1 10.0.0.9", got)
	}
	waitFor(t, "the restart", func() bool { return starts() == 2 })
	// A re-registration with the same configuration keeps the new address.
	if err := a.Apply(p.Config); err != nil {
		t.Fatal(err)
	}
	if got := nodeIP(); got != "eno1 10.0.0.9" {
		t.Errorf("re-applied: %q, want eno1 10.0.0.9", got)
	}
	time.Sleep(200 * time.Millisecond)
	if n := starts(); n != 2 {
		t.Errorf("k3s agent started %d times, want 2", n)
	}
}
