package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStopLeavesNothing runs the lab as a user does: `corral-lab 2>&1 |
// tee lab.log` in a real terminal (a tmux pty), then stops it the three
// ways a lab ends — Ctrl-C (SIGINT to the foreground process group, tee
// included), the terminal closing (SIGHUP) and kill (SIGTERM) — and checks
// that no network namespace or temp directory of it remains. With
// --workers 0 it starts the controller alone, cheap enough for CI.
func TestStopLeavesNothing(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the lab creates network namespaces")
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("needs tmux (apt-get install tmux) for a real terminal")
	}
	image, _ := filepath.Abs("../../.cache/image/lab")
	if _, err := os.Stat(filepath.Join(image, "manifest.json")); err != nil {
		t.Skip("node image missing: run make image IMAGE_VERSION=lab")
	}
	bin := filepath.Join(t.TempDir(), "corral-lab")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	corral := filepath.Join(filepath.Dir(bin), "corral")
	if out, err := exec.Command("go", "build", "-o", corral, "../corral").CombinedOutput(); err != nil {
		t.Fatalf("go build corral: %v\n%s", err, out)
	}
	t.Setenv("CORRAL_BIN", corral)
	for _, how := range []string{"ctrl-c", "hangup", "term"} {
		t.Run(how, func(t *testing.T) {
			dir := t.TempDir()
			pidFile, logFile := filepath.Join(dir, "pid"), filepath.Join(dir, "lab.log")
			session := fmt.Sprintf("crl-labtest-%d-%s", os.Getpid(), how)
			before := labTempDirs(t)
			cmd := fmt.Sprintf("sh -c 'echo $$ > %s; exec %s --workers 0 --image %s' 2>&1 | tee %s", pidFile, bin, image, logFile)
			if out, err := exec.Command(tmux, "new-session", "-d", "-s", session, "-x", "120", "-y", "40", cmd).CombinedOutput(); err != nil {
				t.Fatalf("tmux: %v\n%s", err, out)
			}
			defer func() { _ = exec.Command(tmux, "kill-session", "-t", session).Run() }()
			waitFor(t, 120*time.Second, "lab running in "+logFile, func() bool {
				b, _ := os.ReadFile(logFile)
				return strings.Contains(string(b), "lab running")
			})
			b, _ := os.ReadFile(pidFile)
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatalf("pid file: %v", err)
			}
			if len(namespacesOf(t, pid)) == 0 {
				t.Fatalf("lab running but no crl-*-%d-* namespace: the check below would prove nothing", pid)
			}
			switch how {
			case "ctrl-c":
				_ = exec.Command(tmux, "send-keys", "-t", session, "C-c").Run()
			case "hangup":
				_ = exec.Command(tmux, "kill-session", "-t", session).Run()
			case "term":
				_ = exec.Command("kill", "-TERM", strconv.Itoa(pid)).Run()
			}
			waitFor(t, 60*time.Second, fmt.Sprintf("corral-lab (pid %d) to exit", pid), func() bool {
				return exec.Command("kill", "-0", strconv.Itoa(pid)).Run() != nil
			})
			if ns := namespacesOf(t, pid); len(ns) > 0 {
				t.Errorf("after %s: namespaces left behind: %v", how, ns)
				for _, n := range ns {
					_ = exec.Command("ip", "netns", "delete", n).Run()
				}
			}
			for d := range labTempDirs(t) {
				if !before[d] {
					t.Errorf("after %s: temp dir left behind: %s", how, d)
					_ = os.RemoveAll(d)
				}
			}
		})
	}
}

func namespacesOf(t *testing.T, pid int) []string {
	out, err := exec.Command("ip", "netns", "list").Output()
	if err != nil {
		t.Fatalf("ip netns list: %v", err)
	}
	var ns []string
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) > 0 && strings.HasPrefix(f[0], "crl-") && strings.Contains(f[0], fmt.Sprintf("-%d-", pid)) {
			ns = append(ns, f[0])
		}
	}
	return ns
}

func labTempDirs(t *testing.T) map[string]bool {
	m, err := filepath.Glob(filepath.Join(os.TempDir(), "corral-lab-*"))
	if err != nil {
		t.Fatal(err)
	}
	set := map[string]bool{}
	for _, d := range m {
		set[d] = true
	}
	return set
}

func waitFor(t *testing.T, d time.Duration, what string, ok func() bool) {
	t.Helper()
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return
		}
	}
	t.Fatalf("timed out after %s waiting for %s", d, what)
}
