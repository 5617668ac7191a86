package main

import "testing"

// The kernel passes init the command-line words it does not know; as PID 1
// the agent must run init whatever they are, and a real verb still wins.
func TestIsVerb(t *testing.T) {
	root := newRoot()
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"vmlinuz"}, false},
		{[]string{"quiet", "splash"}, false},
		{[]string{"init"}, true},
		{[]string{"run", "--api", "x"}, true},
		{[]string{"inventory"}, true},
	} {
		if got := isVerb(root, tc.args); got != tc.want {
			t.Errorf("isVerb(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}
