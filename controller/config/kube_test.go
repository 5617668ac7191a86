package config

import (
	"strings"
	"testing"
	"time"
)

func TestKubeIsOffUnlessAKubeconfigIsGiven(t *testing.T) {
	c, err := Decode(strings.NewReader(head + pool))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kube.Enabled() || c.Kube.DrainTimeout.Duration != 2*time.Minute {
		t.Errorf("defaults: %+v, want disabled with drainTimeout 2m", c.Kube)
	}
	c, err = Decode(strings.NewReader(head + pool + "kube:\n  kubeconfig: /var/lib/corral/k3s/kubeconfig.yaml\n  drainTimeout: 30s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Kube.Enabled() || c.Kube.DrainTimeout.Duration != 30*time.Second {
		t.Errorf("kube %+v: want enabled, drainTimeout 30s", c.Kube)
	}
}

func TestInvalidKubeNamesTheFieldAndTheFix(t *testing.T) {
	for _, tt := range []struct{ name, doc, want string }{
		{"relative kubeconfig", "kube:\n  kubeconfig: k3s.yaml\n", `kube.kubeconfig: is "k3s.yaml", must be an absolute path`},
		{"negative drain timeout", "kube:\n  drainTimeout: -1m\n", "kube.drainTimeout: is -1m0s, must be positive"},
		{"not a duration", "kube:\n  drainTimeout: soon\n", `"soon" is not a duration`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(head + pool + tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// A controller that runs k3s reconciles its Nodes without being told where
// k3s puts its kubeconfig; an explicit kubeconfig still wins.
func TestKubeDefaultsToTheKubeconfigK3sWrites(t *testing.T) {
	c, err := Decode(strings.NewReader(head + pool + "stateDir: /srv/corral\nk3s:\n  binary: /usr/local/bin/k3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.Kube.Kubeconfig, "/srv/corral/k3s/kubeconfig.yaml"; got != want {
		t.Errorf("kube.kubeconfig = %q, want %q", got, want)
	}
	c, err = Decode(strings.NewReader(head + pool + "k3s:\n  binary: /usr/local/bin/k3s\nkube:\n  kubeconfig: /etc/other.yaml\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Kube.Kubeconfig; got != "/etc/other.yaml" {
		t.Errorf("kube.kubeconfig = %q, want the explicit /etc/other.yaml", got)
	}
}
