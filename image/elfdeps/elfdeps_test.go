package elfdeps

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestLsNeedsLibcAndTheLoader(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the search directories are Debian amd64's")
	}
	libs, err := Resolver{}.Needed("/bin/ls")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, l := range libs {
		t.Logf("%s <- %s", l.Path, l.Source)
		got[l.Path] = true
		if st, err := os.Lstat(l.Source); err != nil || !st.Mode().IsRegular() {
			t.Errorf("%s: source %s is not a regular file (%v)", l.Path, l.Source, err)
		}
	}
	for _, want := range []string{"/lib64/ld-linux-x86-64.so.2", "/lib/x86_64-linux-gnu/libc.so.6"} {
		if !got[want] {
			t.Errorf("missing %s in %v", want, libs)
		}
	}
}

func TestStaticProgramNeedsNothing(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "main.go")
	if err := os.WriteFile(src, []byte("package main\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "static")
	cmd := exec.Command("go", "build", "-o", bin, src)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	libs, err := Resolver{}.Needed(bin)
	if err != nil || len(libs) != 0 {
		t.Errorf("Needed(static) = %v, %v; want nothing", libs, err)
	}
}

func TestMissingLibraryNamesItAndTheProgram(t *testing.T) {
	_, err := Resolver{Dirs: []string{t.TempDir()}}.Needed("/bin/ls")
	if err == nil || !strings.Contains(err.Error(), "needed by /bin/ls: not found in") {
		t.Errorf("err = %v, want one naming the library and /bin/ls", err)
	}
}

func TestNotAnELF(t *testing.T) {
	p := filepath.Join(t.TempDir(), "script")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (Resolver{}).Needed(p); err == nil {
		t.Error("Needed accepted a shell script")
	}
}
