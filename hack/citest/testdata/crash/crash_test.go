package fuzzcrash

import "testing"

// FuzzCrash panics on any input of two bytes or more, which the engine finds at once.
func FuzzCrash(f *testing.F) {
	f.Add([]byte("a"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) >= 2 {
			panic("deliberate crash")
		}
	})
}
