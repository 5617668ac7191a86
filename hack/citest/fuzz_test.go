// Package citest tests the scripts CI runs and the README commands they stand for. For
// hack/fuzz.sh, the fuzz stage: a crash found by the engine must fail the stage, a clean run must
// pass it, and the engine stopping itself at its own -fuzztime deadline (golang/go#75804) must
// be reported but must not fail it.
package citest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fuzzStage runs hack/fuzz.sh in dir with extra environment and returns its output and error.
func fuzzStage(t *testing.T, dir string, env ...string) (string, error) {
	t.Helper()
	script, err := filepath.Abs("../fuzz.sh")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", script, "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append([]string{"GOWORK=off", "GOFLAGS="}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// module copies testdata/name to a fresh directory, so crashers the engine writes stay there.
func module(t *testing.T, name string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", name))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestCrashFailsTheStage(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real fuzzing engine")
	}
	dir := module(t, "crash")
	out, err := fuzzStage(t, dir, "FUZZTIME=60s")
	if err == nil {
		t.Fatalf("a crashing target passed the fuzz stage:\n%s", out)
	}
	for _, want := range []string{"fuzz: FAIL", "deliberate crash", "new failing input(s)", "1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "testdata", "fuzz", "FuzzCrash")); len(files) == 0 {
		t.Errorf("the engine wrote no failing input")
	}
}

func TestCleanRunPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real fuzzing engine")
	}
	out, err := fuzzStage(t, module(t, "ok"), "FUZZTIME=1s")
	if err != nil {
		t.Fatalf("a clean target failed the fuzz stage: %v\n%s", err, out)
	}
	// The engine may race its own deadline on a clean target too (it did in CI): either way it passes.
	if !strings.Contains(out, "1 ok, 0 engine time-outs, 0 failed") && !strings.Contains(out, "0 ok, 1 engine time-outs, 0 failed") {
		t.Errorf("unexpected summary:\n%s", out)
	}
}

// fakeGo writes a stand-in for the go command (named as such: it is not Go) that lists one
// fuzz target and answers the fuzz run with the given output and exit status, so the rare
// engine race, which cannot be produced on demand, is replayed exactly as CI saw it.
func fakeGo(t *testing.T, dir, outFile string, rc int) string {
	t.Helper()
	fake := filepath.Join(t.TempDir(), "fake-go")
	script := `#!/bin/sh
case "$1" in
list) echo "example.com/timeout ` + dir + `" ;;
test) case " $* " in *" -list "*) echo FuzzIsSolicitation; echo ok ;; *) cat '` + outFile + `'; exit ` + string(rune('0'+rc)) + ` ;; esac ;;
esac
`
	if err := os.WriteFile(fake, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return fake
}

func TestEngineDeadlineIsNotACrash(t *testing.T) {
	dir := t.TempDir()
	recorded, err := filepath.Abs("testdata/timeout/go-test-fuzz.txt")
	if err != nil {
		t.Fatal(err)
	}
	out, err := fuzzStage(t, dir, "GO="+fakeGo(t, dir, recorded, 1))
	if err != nil {
		t.Fatalf("the engine's own deadline failed the stage: %v\n%s", err, out)
	}
	if !strings.Contains(out, "fuzz: timeout") || !strings.Contains(out, "0 ok, 1 engine time-outs, 0 failed") {
		t.Errorf("the time-out was not reported:\n%s", out)
	}
}

func TestDeadlineWithACrasherStillFails(t *testing.T) {
	dir := t.TempDir()
	// The same deadline message, but the engine also wrote a failing input: a crash.
	if err := os.MkdirAll(filepath.Join(dir, "testdata", "fuzz", "FuzzIsSolicitation"), 0o755); err != nil {
		t.Fatal(err)
	}
	recorded, _ := filepath.Abs("testdata/timeout/go-test-fuzz.txt")
	out := filepath.Join(t.TempDir(), "out")
	data, _ := os.ReadFile(recorded)
	data = append(data, []byte("Failing input written to testdata/fuzz/FuzzIsSolicitation/abc\n")...)
	if err := os.WriteFile(out, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "testdata", "fuzz", "FuzzIsSolicitation", "abc"), []byte("go test fuzz v1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := fuzzStage(t, dir, "GO="+fakeGo(t, dir, out, 1))
	if err == nil || !strings.Contains(res, "fuzz: FAIL") {
		t.Fatalf("a crash next to the deadline message passed: %v\n%s", err, res)
	}
}
