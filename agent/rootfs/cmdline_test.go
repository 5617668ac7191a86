package rootfs

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const sum = "9f82f06b4cf318fcf4eeda3f4fedaa10c0cebc418b1a047e72b104f5ea7874c5"

func TestParseCmdline(t *testing.T) {
	url := "http://10.77.0.1:8080/images/0.1.0/rootfs.squashfs"
	for _, tc := range []struct {
		name, cmdline string
		want          Params
		ok            bool
		err           string
	}{
		{name: "absent", cmdline: "console=ttyS0 corral.api=https://x:9443"},
		{name: "both", cmdline: "console=ttyS0 corral.rootfs=" + url + " corral.rootfs.sha256=" + sum, want: Params{url, sum}, ok: true},
		{name: "upper-case digest", cmdline: "corral.rootfs=" + url + " corral.rootfs.sha256=" + strings.ToUpper(sum), want: Params{url, sum}, ok: true},
		{name: "quoted", cmdline: `corral.rootfs="` + url + `" "corral.rootfs.sha256=` + sum + `"`, want: Params{url, sum}, ok: true},
		{name: "later wins", cmdline: "corral.rootfs=http://old/r corral.rootfs.sha256=" + sum + " corral.rootfs=" + url, want: Params{url, sum}, ok: true},
		{name: "https", cmdline: "corral.rootfs=https://c/r.squashfs corral.rootfs.sha256=" + sum, want: Params{"https://c/r.squashfs", sum}, ok: true},
		{name: "after -- belongs to init", cmdline: "quiet -- corral.rootfs=" + url + " corral.rootfs.sha256=" + sum},
		{name: "url without digest", cmdline: "corral.rootfs=" + url, ok: true, err: "not mounted unverified"},
		{name: "empty digest", cmdline: "corral.rootfs=" + url + " corral.rootfs.sha256=", ok: true, err: "not mounted unverified"},
		{name: "digest without url", cmdline: "corral.rootfs.sha256=" + sum, ok: true, err: "without corral.rootfs="},
		{name: "short digest", cmdline: "corral.rootfs=" + url + " corral.rootfs.sha256=abcd", ok: true, err: "64 hex digits"},
		{name: "not hex", cmdline: "corral.rootfs=" + url + " corral.rootfs.sha256=" + strings.Repeat("z", 64), ok: true, err: "64 hex digits"},
		{name: "tftp", cmdline: "corral.rootfs=tftp://c/r corral.rootfs.sha256=" + sum, ok: true, err: "want http://"},
		{name: "no host", cmdline: "corral.rootfs=http:///r corral.rootfs.sha256=" + sum, ok: true, err: "want http://"},
		{name: "relative", cmdline: "corral.rootfs=/images/r corral.rootfs.sha256=" + sum, ok: true, err: "want http://"},
		{name: "prefix is not the parameter", cmdline: "corral.rootfsx=" + url + " xcorral.rootfs.sha256=" + sum},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseCmdline(tc.cmdline)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if ok != tc.ok {
				t.Errorf("ok = %v, want %v", ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzParseCmdline(f *testing.F) {
	f.Add("console=ttyS0 corral.rootfs=http://10.0.0.1:8080/images/v/rootfs.squashfs corral.rootfs.sha256=" + sum)
	f.Add(`corral.rootfs="http://a b" corral.rootfs.sha256=` + sum)
	f.Add("corral.rootfs= corral.rootfs.sha256")
	f.Add(`"`)
	f.Fuzz(func(t *testing.T, cmdline string) {
		p, ok, err := ParseCmdline(cmdline)
		if err != nil {
			if !ok {
				t.Fatalf("error %v with ok false", err)
			}
			return
		}
		if !ok {
			if p != (Params{}) {
				t.Fatalf("params %+v without ok", p)
			}
			return
		}
		if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
			t.Fatalf("accepted URL %q", p.URL)
		}
		if len(p.SHA256) != 64 || strings.ToLower(p.SHA256) != p.SHA256 {
			t.Fatalf("accepted digest %q", p.SHA256)
		}
	})
}
