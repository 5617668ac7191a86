package v1alpha1

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const testFP = "3f1c5a7e9b0d2468ace13579bdf02468ace13579bdf02468ace13579bdf0246a"

func TestParseKernelArgs(t *testing.T) {
	a := ParseKernelArgs("initrd=initrd.img corral.rootfs= corral.api=https://old:9443 BOOTIF=01-52-54-00-12-34-56 " +
		`corral.api="https://h:9443" corral.ca=` + testFP + " corral.rootfs.sha256x=1 -- corral.rootfs.sha256=abc")
	if a.API != "https://h:9443" || a.CAFingerprint != testFP || a.RootfsURL != "" || a.RootfsSHA256 != "" {
		t.Errorf("ParseKernelArgs = %+v", a)
	}
	for name, has := range map[string]bool{KernelArgAPI: true, KernelArgCA: true, KernelArgRootfs: true, KernelArgRootfsSHA256: false, "corral.rootfs.sha256x": false, "BOOTIF": false} {
		if a.Has(name) != has {
			t.Errorf("Has(%q) = %v, want %v", name, !has, has)
		}
	}
}

func TestParseKernelArgsBareName(t *testing.T) {
	a := ParseKernelArgs("corral.api=https://h:9443 corral.api corral.rootfs.sha256")
	if a.API != "https://h:9443" || !a.Has(KernelArgRootfsSHA256) || a.Has(KernelArgRootfs) {
		t.Errorf("ParseKernelArgs = %+v, Has(sha256) %v: want the bare names seen, no value changed", a, a.Has(KernelArgRootfsSHA256))
	}
}

func TestFormatKernelArgs(t *testing.T) {
	got, err := KernelArgs{API: "https://h:9443", RootfsURL: "http://h/r", RootfsSHA256: "ab"}.Format()
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff([]string{"corral.api=https://h:9443", "corral.rootfs=http://h/r", "corral.rootfs.sha256=ab"}, got); d != "" {
		t.Errorf("Format (-want +got):\n%s", d)
	}
	for _, bad := range []string{"a b", `a"b`, "a\nb"} {
		if w, err := (KernelArgs{CAFingerprint: bad}).Format(); err == nil || !strings.Contains(err.Error(), "corral.ca=") {
			t.Errorf("Format of %q = %q, %v: want an error naming corral.ca=", bad, w, err)
		}
	}
}

func TestSplitCmdline(t *testing.T) {
	for in, want := range map[string][]string{
		"":                                nil,
		"  a\tb\n":                        {"a", "b"},
		`k="v w" x`:                       {"k=v w", "x"},
		`"unterminated q`:                 {"unterminated q"},
		`a -- b`:                          {"a", "--", "b"},
		`""`:                              {""},
		"vmlinuz initrd=initrd.img quiet": {"vmlinuz", "initrd=initrd.img", "quiet"},
	} {
		if diff := cmp.Diff(want, SplitCmdline(in)); diff != "" {
			t.Errorf("SplitCmdline(%q) (-want +got):\n%s", in, diff)
		}
	}
}

// FuzzKernelArgs: any command line parses without panicking; what Format
// writes from the values parsed, appended to the command line (before any
// "--" or open quote), parses back to the same values; Format never writes
// a word the kernel would split.
func FuzzKernelArgs(f *testing.F) {
	for _, seed := range []string{
		"initrd=initrd.img BOOTIF=01-52-54-00-12-34-56 corral.api=https://10.0.0.1:9443 corral.ca=" + testFP,
		"corral.rootfs=http://10.0.0.1:8080/images/v/rootfs.squashfs corral.rootfs.sha256=" + testFP,
		`corral.api="https://h:9443" "corral.ca=x y"`, "corral.api=a -- corral.ca=b", `"unterminated corral.api=x`,
		"corral.api==", "\x00corral.ca=\xff", "corral.rootfs= corral.rootfs.sha256", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, cmdline string) {
		a := ParseKernelArgs(cmdline)
		words, err := a.Format()
		if err != nil {
			return // a quoted value with a space: not writable, and said so
		}
		for _, w := range words {
			if got := SplitCmdline(w); len(got) != 1 || got[0] != w {
				t.Fatalf("Format wrote %q, which the kernel splits into %q", w, got)
			}
		}
		b := ParseKernelArgs(strings.Join(words, " "))
		if b.API != a.API || b.CAFingerprint != a.CAFingerprint || b.RootfsURL != a.RootfsURL || b.RootfsSHA256 != a.RootfsSHA256 {
			t.Fatalf("Parse(Format(%+v)) = %+v", a, b)
		}
		if strings.ContainsAny(cmdline, `"`) || strings.Contains(cmdline, "--") {
			return
		}
		c := ParseKernelArgs(cmdline + " " + strings.Join(words, " "))
		if c.API != a.API || c.CAFingerprint != a.CAFingerprint || c.RootfsURL != a.RootfsURL || c.RootfsSHA256 != a.RootfsSHA256 {
			t.Fatalf("appending %q to %q gave %+v, want %+v", words, cmdline, c, a)
		}
	})
}
