package profiles

import (
	"os"
	"strings"
	"testing"
)

// TestDocExamples keeps docs/profiles.md honest: every line of its ```cel
// block compiles as a match expression and is cheap on the largest fixture.
func TestDocExamples(t *testing.T) {
	doc, err := os.ReadFile("../docs/profiles.md")
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(doc), "```cel\n")
	if !ok {
		t.Fatal("docs/profiles.md has no ```cel block")
	}
	block, _, _ = strings.Cut(block, "```")
	env, err := newEnv()
	if err != nil {
		t.Fatal(err)
	}
	inv := InventoryMap(readInventory(t, "dgx-a100"))
	for _, expr := range strings.Split(strings.TrimSpace(block), "\n") {
		t.Run(expr, func(t *testing.T) {
			prg, errs := compileMatch(env, expr)
			if len(errs) > 0 {
				t.Fatalf("does not compile: %+v", errs)
			}
			_, details, err := prg.Eval(map[string]any{"inventory": inv})
			if err != nil {
				t.Fatal(err)
			}
			if cost := *details.ActualCost(); cost >= 1000 {
				t.Errorf("costs %d on the DGX fixture, want under 1000", cost)
			} else {
				t.Logf("cost %d", cost)
			}
		})
	}
}
