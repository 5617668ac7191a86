package profiles

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the profile decoder: it must return
// profiles or errors, never panic or hang, and every profile it returns must
// be usable by Select and Resolve.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("defaults/*.yaml")
	more, _ := filepath.Glob("examples/*/*.yaml")
	for _, s := range append(seeds, more...) {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(header + "match: inventory.cpu.cores >= 2\nhostnameTemplate: a-{{.Index}}\ntaints: [a=b:NoSchedule]\n"))
	f.Add([]byte("a: &a [*a, *a]\nb: *a\n"))
	inv := readInventory(f, "dgx-a100")
	f.Fuzz(func(t *testing.T, data []byte) {
		slow := time.AfterFunc(5*time.Second, func() { panic(fmt.Sprintf("input took more than 5 s: %q", data)) })
		defer slow.Stop()
		ps, err := Parse("fuzz.yaml", data)
		if err != nil {
			if len(Errors(err)) == 0 {
				t.Fatalf("error without an *Error: %v", err)
			}
			return
		}
		d, err := Select(inv, ps, SelectOptions{})
		if err != nil {
			return
		}
		if p := d.Chosen(ps); p != nil {
			_, _ = Resolve(inv, p, ResolveOptions{Index: 1})
		}
	})
}
