package profiles

import (
	"os"
	"testing"
)

func BenchmarkParseDefaults(b *testing.B) {
	data, err := os.ReadFile("examples/omegaml/omegaml.yaml")
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Parse("omegaml.yaml", data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewEnv(b *testing.B) {
	for b.Loop() {
		if _, err := newEnv(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSelectDGX(b *testing.B) {
	ps, err := Defaults()
	if err != nil {
		b.Fatal(err)
	}
	inv := readInventory(b, "dgx-a100")
	for b.Loop() {
		if _, err := Select(inv, ps, SelectOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
