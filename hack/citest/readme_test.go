package citest

import (
	"os"
	"strings"
	"testing"
)

// readmeCommands returns the command lines of the README's first sh block, comments cut.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(data), "```sh\n")
	block, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("README.md has no ```sh block")
	}
	var cmds []string
	for _, line := range strings.Split(block, "\n") {
		if cmd, _, _ := strings.Cut(line, "#"); strings.TrimSpace(cmd) != "" {
			cmds = append(cmds, strings.TrimSpace(cmd))
		}
	}
	return cmds
}

// A fresh Debian 12 installed with a root password has neither sudo nor make: the README's two
// opening commands must run as root from bash alone and do their own set-up (issue 10.3).
func TestREADMEOpensWithTwoCommandsThatNeedNoSudo(t *testing.T) {
	cmds := readmeCommands(t)
	if len(cmds) != 2 {
		t.Fatalf("README opens with %d commands, want 2 (the lab and the tests): %q", len(cmds), cmds)
	}
	for i, want := range []string{"make lab", "make ci"} {
		cmd := cmds[i]
		if strings.Contains(cmd, "sudo") {
			t.Errorf("%q needs sudo, which a fresh Debian 12 may not have", cmd)
		}
		if !strings.HasPrefix(cmd, "bash hack/setup.sh && ") {
			t.Errorf("%q does not start with its own set-up from bash (make may not be installed yet)", cmd)
		}
		if !strings.HasSuffix(cmd, want) {
			t.Errorf("%q does not run %q", cmd, want)
		}
	}
	setup, err := os.ReadFile("../setup.sh")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(setup), "\n") {
		if l := strings.TrimSpace(line); !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, "echo") && strings.Contains(l, "sudo ") {
			t.Errorf("hack/setup.sh calls sudo: %q", l)
		}
	}
}

// CI runs the README's test command, nothing else.
func TestCIRunsTheREADMETestCommand(t *testing.T) {
	run, err := os.ReadFile("../../.ci/run")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(run)), "\n")
	if last, want := lines[len(lines)-1], readmeCommands(t)[1]; last != want {
		t.Errorf(".ci/run ends with %q, the README's test command is %q", last, want)
	}
}
