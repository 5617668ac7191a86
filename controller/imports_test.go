package controller

import (
	"errors"
	"os/exec"
	"strings"
	"testing"
)

// The controller reads built images through their manifest, whose types
// are in api/v1alpha1; the image builder (corral.io/corral/image and the
// packages under it) is only for cmd/corral's `image build`. This keeps it
// that way, for the controller's tests too.
func TestControllerDoesNotImportTheImageBuilder(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("this test runs `go list`: put the go tool on PATH: %v", err)
	}
	out, err := exec.CommandContext(t.Context(), goTool, "list", "-deps", "-test",
		"-f", `{{.ImportPath}}{{range .Imports}}{{"\t"}}{{.}}{{end}}`,
		"corral.io/corral/controller/...").Output()
	if err != nil {
		var stderr []byte
		if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	// A test variant is "path [path.test]"; the builder is the same
	// package either way.
	base := func(p string) string { p, _, _ = strings.Cut(p, " "); return p }
	isBuilder := func(p string) bool {
		return p == "corral.io/corral/image" || strings.HasPrefix(p, "corral.io/corral/image/")
	}
	listed, reported := map[string]bool{}, map[string]bool{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Split(strings.TrimSuffix(line, "\n"), "\t")
		pkg := base(fields[0])
		listed[pkg] = true
		if isBuilder(pkg) {
			continue // reported at its importer below
		}
		for _, imp := range fields[1:] {
			if imp = base(imp); isBuilder(imp) && !reported[pkg+" "+imp] {
				reported[pkg+" "+imp] = true
				t.Errorf("%s imports %s: read images through api/v1alpha1 (ImageManifest, ReadImageManifest), not the image builder", pkg, imp)
			}
		}
	}
	// The walk must have seen the packages that read images, or it proves
	// nothing.
	for _, p := range []string{"corral.io/corral/controller", "corral.io/corral/controller/images", "corral.io/corral/api/v1alpha1"} {
		if !listed[p] {
			t.Errorf("go list -deps did not list %s; listed %d packages", p, len(listed))
		}
	}
}
