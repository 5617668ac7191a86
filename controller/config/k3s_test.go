package config

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestK3sIsOffUnlessABinaryIsGiven(t *testing.T) {
	c, err := Decode(strings.NewReader(head + pool))
	if err != nil {
		t.Fatal(err)
	}
	want := K3s{DataDir: "/var/lib/corral/k3s/data", Disable: []string{"traefik", "servicelb"}, HTTPSPort: 6443}
	if diff := cmp.Diff(want, c.K3s); diff != "" || c.K3s.Enabled() {
		t.Errorf("defaults (-want +got):\n%s", diff)
	}
	c, err = Decode(strings.NewReader(head + pool + "k3s:\n  binary: /usr/local/bin/k3s\n  disable: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.K3s.Enabled() || c.K3s.Disable == nil || len(c.K3s.Disable) != 0 {
		t.Errorf("k3s %+v: want enabled, disabling nothing", c.K3s)
	}
}

func TestInvalidK3sNamesTheFieldAndTheFix(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"relative binary", "k3s:\n  binary: k3s\n", `k3s.binary: is "k3s", must be an absolute path`},
		{"unknown component", "k3s:\n  disable: [traefik, kube-proxy]\n", `k3s.disable[1]: is "kube-proxy", must be one of coredns, servicelb`},
		{"bad SAN", "k3s:\n  tlsSANs: [\"a b\"]\n", `k3s.tlsSANs[0]: is "a b"`},
		{"bad port", "k3s:\n  httpsPort: 70000\n", "k3s.httpsPort: is 70000"},
		{"positional extra arg", "k3s:\n  extraArgs: [server]\n", `k3s.extraArgs[0]: is "server", must be a flag`},
		{"relative data dir", "k3s:\n  dataDir: data\n", `k3s.dataDir: is "data"`},
		{"unknown key", "k3s:\n  bin: /usr/local/bin/k3s\n", "field bin not found"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(head + pool + tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}
