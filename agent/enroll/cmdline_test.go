package enroll

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const fp = "3f1c5a7e9b0d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a"

func TestParseCmdline(t *testing.T) {
	for _, tc := range []struct {
		name, cmdline string
		want          BootParams
	}{
		{"what the iPXE script writes",
			"initrd=initrd.img console=ttyS0 BOOTIF=01-52-54-00-12-34-56 corral.url=http://10.0.0.1 corral.api=https://10.0.0.1:9443 corral.ca=" + fp + " quiet\n",
			BootParams{API: "https://10.0.0.1:9443", CAFingerprint: fp}},
		{"absent", "console=ttyS0 root=/dev/ram0", BootParams{}},
		{"empty", "", BootParams{}},
		{"tabs and newlines separate", "a\tcorral.api=https://h:9443\ncorral.ca=AB:CD", BootParams{API: "https://h:9443", CAFingerprint: "AB:CD"}},
		{"quoted value", `corral.api="https://[fd00::1]:9443" x`, BootParams{API: "https://[fd00::1]:9443"}},
		{"quoted whole parameter", `"corral.api=https://h:9443"`, BootParams{API: "https://h:9443"}},
		{"quotes keep spaces", `corral.ca="a b"`, BootParams{CAFingerprint: "a b"}},
		{"the last occurrence wins", "corral.api=https://old:9443 corral.api=https://new:9443", BootParams{API: "https://new:9443"}},
		{"arguments after -- belong to init", "corral.api=https://h:9443 -- corral.ca=" + fp, BootParams{API: "https://h:9443"}},
		{"a longer name is another parameter", "corral.api.x=1 corral.cafile=2 xcorral.api=3", BootParams{}},
		{"no value", "corral.api corral.ca=", BootParams{}},
		{"value with '='", "corral.api=https://h:9443/?a=b", BootParams{API: "https://h:9443/?a=b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if d := cmp.Diff(tc.want, ParseCmdline(tc.cmdline)); d != "" {
				t.Errorf("ParseCmdline(%q) (-want +got):\n%s", tc.cmdline, d)
			}
		})
	}
}

// FuzzParseCmdline: any command line parses without panicking, values never
// contain a double quote, values come from the input, and a parameter
// appended at the end (after the input's own, before any --) wins.
func FuzzParseCmdline(f *testing.F) {
	for _, seed := range []string{
		"initrd=initrd.img BOOTIF=01-52-54-00-12-34-56 corral.api=https://10.0.0.1:9443 corral.ca=" + fp,
		`corral.api="https://h:9443" "corral.ca=x y"`,
		"corral.api=a -- corral.ca=b",
		`"unterminated corral.api=x`,
		"corral.api==", "\x00corral.ca=\xff", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cmdline string) {
		p := ParseCmdline(cmdline)
		for _, v := range []string{p.API, p.CAFingerprint} {
			if strings.Contains(v, `"`) {
				t.Errorf("value %q keeps a double quote", v)
			}
			if !strings.Contains(strings.ReplaceAll(cmdline, `"`, ""), v) {
				t.Errorf("value %q is not in the command line %q", v, cmdline)
			}
		}
		if strings.Contains(cmdline, `"`) || strings.Contains(cmdline, "--") {
			return // an open quote or "--" swallows what follows
		}
		got := ParseCmdline(cmdline + " corral.api=https://appended:9443")
		if got.API != "https://appended:9443" || got.CAFingerprint != p.CAFingerprint {
			t.Errorf("appending corral.api= to %q gave %+v, want it to win and keep corral.ca=%q", cmdline, got, p.CAFingerprint)
		}
	})
}

func TestValidHostname(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"worker-1", true},
		{"gpu-07.rack2.example", true},
		{"A1", true},
		{strings.Repeat("a", 63), true},
		{strings.Repeat("a", 64), false},        // one label over 63
		{strings.Repeat("a.", 32) + "b", false}, // 65 bytes
		{"", false},
		{"-lead", false},
		{"trail-", false},
		{"a..b", false},
		{"under_score", false},
		{"sp ace", false},
		{"x/y", false},
	} {
		if err := ValidHostname(tc.name); (err == nil) != tc.ok {
			t.Errorf("ValidHostname(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}
