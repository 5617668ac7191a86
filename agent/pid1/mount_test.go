package pid1

import (
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const mountHelperEnv = "PID1_TEST_MOUNT_ROOT"

// TestMountEssentials mounts the essentials under a scratch root in a
// private mount namespace (unshare -m), so the host's mounts never change
// and everything goes away with the helper process.
func TestMountEssentials(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root (run the suite as root, as .ci/run does)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare (util-linux) is not installed")
	}
	root := t.TempDir()
	cmd := exec.Command("unshare", "--mount", "--propagation", "private",
		os.Args[0], "-test.run=^TestMountEssentialsInNamespace$", "-test.v")
	cmd.Env = append(os.Environ(), mountHelperEnv+"="+root)
	out, err := cmd.CombinedOutput()
	t.Logf("helper:\n%s", out)
	if err != nil {
		t.Fatalf("helper in a private mount namespace: %v", err)
	}
	if !strings.Contains(string(out), "--- PASS: TestMountEssentialsInNamespace") {
		t.Fatal("the helper did not run")
	}
	// Back in the test's namespace nothing is mounted under root.
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), root) {
		t.Errorf("a mount under %s leaked into the host namespace", root)
	}
}

// TestMountEssentialsInNamespace is the helper; it runs only when
// TestMountEssentials starts it.
func TestMountEssentialsInNamespace(t *testing.T) {
	root := os.Getenv(mountHelperEnv)
	if root == "" {
		t.Skip("helper for TestMountEssentials")
	}
	o := MountOptions{Root: root, Logger: slog.New(slog.NewTextHandler(os.Stderr, nil))}
	done, err := MountEssentials(o)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, f := range Essentials {
		want = append(want, filepath.Join(root, f.Target))
	}
	if d := cmp.Diff(want, done); d != "" {
		t.Errorf("first call mounted (-want +got):\n%s", d)
	}
	again, err := MountEssentials(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 0 {
		t.Errorf("second call mounted %v again; want nothing (idempotent)", again)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	table, err := ParseMountinfo(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range Essentials {
		m, ok := Mounted(table, filepath.Join(root, f.Target))
		if !ok || m.FSType != f.FSType {
			t.Errorf("%s: mounted=%v fstype %q, want %s", f.Target, ok, m.FSType, f.FSType)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "proc/self/status")); err != nil {
		t.Errorf("the mounted /proc is not usable: %v", err)
	}
}

func TestMountEssentialsSkipsWhatIsMounted(t *testing.T) {
	// A table where everything is mounted already: no mount(2) is attempted,
	// so this runs unprivileged.
	dir := t.TempDir()
	var lines []string
	for i, f := range Essentials {
		lines = append(lines, strings.Join([]string{strconv.Itoa(i + 2), "1", "0:1", "/", filepath.Join(dir, f.Target), "rw", "-", f.FSType, f.Source, "rw"}, " "))
	}
	info := filepath.Join(dir, "mountinfo")
	if err := os.WriteFile(info, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	done, err := MountEssentials(MountOptions{Root: dir, Mountinfo: info})
	if err != nil || len(done) != 0 {
		t.Errorf("mounted %v, err %v; want nothing", done, err)
	}
}
