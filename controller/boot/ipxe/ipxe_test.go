package ipxe

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func TestRenderGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		script Script
	}{
		{
			name:   "paths on the controller are resolved against its URL",
			golden: "paths.ipxe",
			script: Script{
				Kernel:        "/images/v1/vmlinuz",
				Initrd:        "/images/v1/initrd.img",
				Cmdline:       "console=ttyS0,115200   quiet",
				ControllerURL: "http://10.0.0.1:8080/",
			},
		},
		{
			name:   "absolute URLs are kept and an empty cmdline adds only Corral's arguments",
			golden: "urls.ipxe",
			script: Script{
				Kernel:        "https://mirror.example/corral/v2/vmlinuz?arch=amd64&x=1",
				Initrd:        "https://mirror.example/corral/v2/initrd.img",
				ControllerURL: "https://corral.example:8443",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.script.Render(&buf); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if diff := cmp.Diff(string(want), buf.String()); diff != "" {
				t.Errorf("script differs from %s (-want +got; go test -update rewrites it):\n%s", path, diff)
			}
		})
	}
}

func TestRenderedScriptShape(t *testing.T) {
	s := Script{Kernel: "/k", Initrd: "/i", Cmdline: "console=ttyS0", ControllerURL: "http://10.0.0.1:8080"}
	var buf bytes.Buffer
	if err := s.Render(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "#!ipxe\n") {
		t.Errorf("script does not start with #!ipxe:\n%s", out)
	}
	for _, want := range []string{
		"kernel http://10.0.0.1:8080/k initrd=initrd.img console=ttyS0 BOOTIF=01-${netX/mac:hexhyp} || goto corral-failed\n",
		"initrd --name initrd.img http://10.0.0.1:8080/i || goto corral-failed\n",
		"boot || goto corral-failed\n",
		"goto corral-boot\n",
		"\nreboot\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("script lacks %q:\n%s", want, out)
		}
	}
}

func TestValidateRefusesUnsafeInput(t *testing.T) {
	ok := Script{Kernel: "/k", Initrd: "/i", Cmdline: "console=ttyS0", ControllerURL: "http://10.0.0.1:8080"}
	tests := []struct {
		name   string
		modify func(*Script)
		want   string // part of the error message
	}{
		{name: "newline in cmdline would start a new command", modify: func(s *Script) { s.Cmdline = "quiet\nshell" }, want: "cmdline: control character"},
		{name: "setting expansion in cmdline", modify: func(s *Script) { s.Cmdline = "x=${net0/ip}" }, want: `cmdline: "$" is not allowed`},
		{name: "comment token in cmdline", modify: func(s *Script) { s.Cmdline = "quiet #rest" }, want: "cmdline: an argument may not start with"},
		{name: "or separator in cmdline", modify: func(s *Script) { s.Cmdline = "quiet || shell" }, want: "command separator"},
		{name: "and separator in cmdline", modify: func(s *Script) { s.Cmdline = "quiet && reboot" }, want: "command separator"},
		{name: "semicolon separator in cmdline", modify: func(s *Script) { s.Cmdline = "quiet ; reboot" }, want: "command separator"},
		{name: "Corral's own BOOTIF in cmdline", modify: func(s *Script) { s.Cmdline = "BOOTIF=01-aa" }, want: "is set by Corral"},
		{name: "Corral's own corral.api in cmdline", modify: func(s *Script) { s.Cmdline = "corral.api=https://x" }, want: "is set by Corral"},
		{name: "empty kernel", modify: func(s *Script) { s.Kernel = "" }, want: "kernel is empty"},
		{name: "relative kernel path", modify: func(s *Script) { s.Kernel = "vmlinuz" }, want: "kernel \"vmlinuz\": want an http"},
		{name: "tftp kernel URL", modify: func(s *Script) { s.Kernel = "tftp://10.0.0.1/vmlinuz" }, want: "want an http"},
		{name: "kernel URL with a space", modify: func(s *Script) { s.Kernel = "/k extra" }, want: "contains a space"},
		{name: "initrd URL with a newline", modify: func(s *Script) { s.Initrd = "/i\nreboot" }, want: "initrd: control character"},
		{name: "initrd URL without host", modify: func(s *Script) { s.Initrd = "http:///i" }, want: "has no host"},
		{name: "empty controller URL", modify: func(s *Script) { s.ControllerURL = "" }, want: "controller URL is empty"},
		{name: "controller URL without scheme", modify: func(s *Script) { s.ControllerURL = "10.0.0.1:8080" }, want: "controller URL"},
		{name: "controller URL with expansion", modify: func(s *Script) { s.ControllerURL = "http://${next-server}" }, want: `"$" is not allowed`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.modify(&s)
			err := s.Validate()
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Validate() = %v; want ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %q; want it to contain %q", err, tc.want)
			}
			var buf bytes.Buffer
			if err := s.Render(&buf); err == nil || buf.Len() != 0 {
				t.Errorf("Render wrote %d bytes, err %v; want nothing and an error", buf.Len(), err)
			}
		})
	}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid script: Validate() = %v", err)
	}
}

func TestEnrollmentArguments(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	s := Script{Kernel: "/images/v1/vmlinuz", Initrd: "/images/v1/initrd.img", ControllerURL: "http://10.0.0.1:8080",
		APIURL: "https://10.0.0.1:9443", CAFingerprint: fp}
	var b strings.Builder
	if err := s.Render(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), " corral.api=https://10.0.0.1:9443 corral.ca="+fp+" ") {
		t.Errorf("kernel line lacks the API and CA arguments:\n%s", b.String())
	}
	for name, bad := range map[string]Script{
		"plain http API":         {Kernel: s.Kernel, Initrd: s.Initrd, ControllerURL: s.ControllerURL, APIURL: "http://10.0.0.1:9443"},
		"short fingerprint":      {Kernel: s.Kernel, Initrd: s.Initrd, ControllerURL: s.ControllerURL, CAFingerprint: "abcd"},
		"cmdline sets corral.ca": {Kernel: s.Kernel, Initrd: s.Initrd, ControllerURL: s.ControllerURL, Cmdline: "corral.ca=" + fp},
	} {
		if err := bad.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
