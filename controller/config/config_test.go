package config

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load("../../examples/controller.yaml")
	if err != nil {
		t.Fatalf("the shipped example must load: %v", err)
	}
	if c.DHCP.LeaseTime.Duration != time.Hour || c.Boot.FilesDir != "/var/lib/corral/bootfiles" || *c.Boot.IPXEDir != "/usr/lib/ipxe" {
		t.Errorf("defaults not applied: %+v", c.Boot)
	}
}

func TestDocumentedExampleMatchesShippedExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/controller-config.md")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := os.ReadFile("../../examples/controller.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), string(ex)) {
		t.Errorf("docs/controller-config.md must contain examples/controller.yaml verbatim; update the doc")
	}
}

const head = "apiVersion: corral.io/v1alpha1\nkind: ControllerConfig\n"

const pool = "interface: eth1\ndhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.0.10\n  rangeEnd: 10.0.0.20\n"

func TestInvalidConfigsNameTheFieldAndTheFix(t *testing.T) {
	tests := []struct {
		name, doc, want string
	}{
		{"empty document", "", "empty document"},
		{"wrong apiVersion", "apiVersion: v1\nkind: ControllerConfig\n" + pool, `apiVersion: is "v1", must be "corral.io/v1alpha1"`},
		{"unknown field is refused with its line", head + pool + "dhpc: {}\n", "line 8: field dhpc not found"},
		{"bad duration", head + pool + "  leaseTime: forever\n", `line 8: "forever" is not a duration`},
		{"missing interface", head + "dhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.0.10\n  rangeEnd: 10.0.0.20\n", "interface: is required"},
		{"range outside subnet", head + "interface: eth1\ndhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.1.10\n  rangeEnd: 10.0.0.20\n", "dhcp.rangeStart: is 10.0.1.10, which is outside dhcp.subnet 10.0.0.0/24"},
		{"range backwards", head + "interface: eth1\ndhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.0.30\n  rangeEnd: 10.0.0.20\n", "dhcp.rangeEnd: is 10.0.0.20, before dhcp.rangeStart 10.0.0.30"},
		{"bad mode", head + pool + "  mode: sometimes\n", `dhcp.mode: is "sometimes", must be authoritative, proxy or off`},
		{"proxy with a pool", head + pool + "  mode: proxy\n", "dhcp.mode: is proxy, which hands out no addresses"},
		{"bad reservation MAC", head + pool + "  reservations:\n    - {mac: nope, ip: 10.0.0.5}\n", `dhcp.reservations[0].mac: is "nope", must be a MAC address`},
		{"duplicate reservation IP", head + pool + "  reservations:\n    - {mac: '52:54:00:00:00:01', ip: 10.0.0.5}\n    - {mac: '52:54:00:00:00:02', ip: 10.0.0.5}\n", "dhcp.reservations[1].ip: 10.0.0.5 is already reserved by dhcp.reservations[0]"},
		{"bad DNS", head + pool + "  dns: [dns.example]\n", `dhcp.dns[0]: is "dns.example", must be an IPv4 address`},
		{"short lease", head + pool + "  leaseTime: 10s\n", "dhcp.leaseTime: is 10s, must be at least 1m"},
		{"bad listen", head + pool + "http:\n  listen: 8080\n", `http.listen: is "8080", must be host:port`},
		{"boot file with a path", head + pool + "boot:\n  biosFile: ../x\n", `boot.biosFile: is "../x", must be a plain file name`},
		{"bad log level", head + pool + "log:\n  level: loud\n", `log.level: is "loud"`},
		{"bad policy", head + pool + "enrollment:\n  policy: trust-everyone\n", `enrollment.policy: is "trust-everyone", must be manual, auto or allowlist`},
		{"allowlist without patterns", head + pool + "enrollment:\n  policy: allowlist\n", "enrollment.allowlist: is empty"},
		{"empty allowlist entry", head + pool + "enrollment:\n  policy: allowlist\n  allowlist: [{}]\n", "enrollment.allowlist[0]: sets nothing"},
		{"lostAfter shorter than two heartbeats", head + pool + "enrollment:\n  heartbeat: 30s\n  lostAfter: 45s\n", "enrollment.lostAfter: is 45s, must be at least twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(tt.doc))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestProxyAndOffNeedNoPool(t *testing.T) {
	for _, doc := range []string{head + "interface: eth1\ndhcp:\n  mode: proxy\n", head + "dhcp:\n  mode: off\n"} {
		if _, err := Decode(strings.NewReader(doc)); err != nil {
			t.Errorf("%q: %v", doc, err)
		}
	}
}

func TestOverridesApplyBeforeValidation(t *testing.T) {
	c, err := DecodeWith(strings.NewReader(head+"dhcp:\n  subnet: 10.0.0.0/24\n  rangeStart: 10.0.0.10\n  rangeEnd: 10.0.0.20\n"), func(c *Controller) {
		c.Interface = "br0"
		c.StateDir = "/tmp/x"
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Interface != "br0" || c.Boot.FilesDir != "/tmp/x/bootfiles" {
		t.Errorf("overrides not applied before defaults: %q %q", c.Interface, c.Boot.FilesDir)
	}
}
