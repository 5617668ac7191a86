// Package config is the controller's configuration: one versioned YAML
// document (apiVersion corral.io/v1alpha1, kind ControllerConfig).
//
// Load reads and strictly decodes the file (an unknown field is an error, with
// its line), Default fills every field a user left out, and Validate refuses a
// wrong value naming the field and what is expected.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/internal/fielderr"
)

// APIVersion and Kind identify the document.
const (
	APIVersion = "corral.io/v1alpha1"
	Kind       = "ControllerConfig"
)

// DHCP modes.
const (
	// ModeAuthoritative hands out addresses from the pool and boot information.
	ModeAuthoritative = "authoritative"
	// ModeProxy answers PXE clients with boot information only (proxyDHCP),
	// beside an existing DHCP server that hands out the addresses.
	ModeProxy = "proxy"
	// ModeOff disables the DHCP server.
	ModeOff = "off"
)

// Controller is the whole configuration of `corral controller`.
type Controller struct {
	// APIVersion must be corral.io/v1alpha1.
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	// Kind must be ControllerConfig.
	Kind string `yaml:"kind" json:"kind"`
	// StateDir holds everything the controller must not lose (the lease
	// database, images). Default /var/lib/corral.
	StateDir string `yaml:"stateDir" json:"stateDir"`
	// Interface is the provisioning network interface: DHCP listens only
	// there. Required unless dhcp.mode is off.
	Interface string `yaml:"interface" json:"interface"`
	// AdvertiseAddress is the IPv4 address workers use to reach the
	// controller (TFTP next-server, HTTP URLs). Default: the first IPv4
	// address of Interface.
	AdvertiseAddress string `yaml:"advertiseAddress,omitempty" json:"advertiseAddress,omitempty"`
	// Log configures the controller's log.
	Log Log `yaml:"log" json:"log"`
	// DHCP configures the DHCPv4 server.
	DHCP DHCP `yaml:"dhcp" json:"dhcp"`
	// TFTP configures the TFTP server for the iPXE binaries.
	TFTP TFTP `yaml:"tftp" json:"tftp"`
	// HTTP configures the HTTP server (iPXE scripts, images, metrics).
	HTTP HTTP `yaml:"http" json:"http"`
	// Boot says what a booting machine is given.
	Boot Boot `yaml:"boot" json:"boot"`
	// API configures the HTTPS API for agents and operators.
	API API `yaml:"api" json:"api"`
	// Enrollment decides which machines may join.
	Enrollment Enrollment `yaml:"enrollment" json:"enrollment"`
	// Profiles says where the role profiles come from.
	Profiles Profiles `yaml:"profiles" json:"profiles"`
	// K3s configures the cluster's k3s server (docs/k3s.md).
	K3s K3s `yaml:"k3s" json:"k3s"`
	// Kube connects the Node reconciler to the cluster (docs/kube.md).
	Kube Kube `yaml:"kube" json:"kube"`
}

// Profiles configures role profiles (docs/profiles.md).
type Profiles struct {
	// Dir holds the operator's profiles (*.yaml); one named like a shipped
	// profile (gpu-worker, storage, compute) replaces it. Empty: the
	// shipped profiles only.
	Dir string `yaml:"dir,omitempty" json:"dir,omitempty"`
}

// API configures the HTTPS API.
type API struct {
	// Listen is the TCP address. Default ":9443".
	Listen string `yaml:"listen" json:"listen"`
}

// Enrollment policies.
const (
	PolicyAuto      = "auto"
	PolicyManual    = "manual"
	PolicyAllowlist = "allowlist"
)

// Enrollment decides which machines may join.
type Enrollment struct {
	// Policy is manual (an operator approves each node; the default), auto
	// (every node is approved: for labs) or allowlist (nodes matching a
	// pattern are approved, the others wait for an operator).
	Policy string `yaml:"policy" json:"policy"`
	// Allowlist patterns for the allowlist policy: shell globs on a NIC's
	// MAC, the system serial or the system UUID; every field set in one
	// entry must match.
	Allowlist []AllowPattern `yaml:"allowlist,omitempty" json:"allowlist,omitempty"`
	// Heartbeat is how often nodes report. Default 15s.
	Heartbeat Duration `yaml:"heartbeat" json:"heartbeat"`
	// LostAfter without a heartbeat marks a ready node lost. Default 90s.
	LostAfter Duration `yaml:"lostAfter" json:"lostAfter"`
}

// AllowPattern matches machines for the allowlist policy.
type AllowPattern struct {
	MAC    string `yaml:"mac,omitempty" json:"mac,omitempty"`
	Serial string `yaml:"serial,omitempty" json:"serial,omitempty"`
	UUID   string `yaml:"uuid,omitempty" json:"uuid,omitempty"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. Default info.
	Level string `yaml:"level" json:"level"`
	// Format is text or json. Default text.
	Format string `yaml:"format" json:"format"`
}

// DHCP configures the DHCPv4 server.
type DHCP struct {
	// Mode is authoritative, proxy or off. Default authoritative.
	Mode string `yaml:"mode" json:"mode"`
	// Subnet is the provisioning subnet in CIDR form, e.g. 10.10.0.0/24.
	// Required in authoritative mode.
	Subnet string `yaml:"subnet,omitempty" json:"subnet,omitempty"`
	// RangeStart and RangeEnd bound the dynamic pool (inclusive). Both
	// must lie in Subnet. Required in authoritative mode.
	RangeStart string `yaml:"rangeStart,omitempty" json:"rangeStart,omitempty"`
	RangeEnd   string `yaml:"rangeEnd,omitempty" json:"rangeEnd,omitempty"`
	// Router is the default gateway given to clients (option 3). Optional.
	Router string `yaml:"router,omitempty" json:"router,omitempty"`
	// DNS servers given to clients (option 6). Optional.
	DNS []string `yaml:"dns,omitempty" json:"dns,omitempty"`
	// Domain is the domain name given to clients (option 15). Optional.
	Domain string `yaml:"domain,omitempty" json:"domain,omitempty"`
	// NTP servers given to clients (option 42). Optional.
	NTP []string `yaml:"ntp,omitempty" json:"ntp,omitempty"`
	// LeaseTime is how long an address is leased, e.g. 1h. Default 1h.
	LeaseTime Duration `yaml:"leaseTime" json:"leaseTime"`
	// Reservations give a fixed address (and optionally a host name) to
	// a MAC address. The address must lie in Subnet; it may lie outside
	// the dynamic range.
	Reservations []Reservation `yaml:"reservations,omitempty" json:"reservations,omitempty"`
	// ProxyPort4011 also answers PXE boot-server requests on UDP port
	// 4011 (PXE 2.1 §2.2.2). Only in proxy mode. Default true.
	ProxyPort4011 *bool `yaml:"proxyPort4011,omitempty" json:"proxyPort4011,omitempty"`
	// RouterAdvertisements sends IPv6 router advertisements that configure
	// nothing (router lifetime 0, no prefix, no M/O flags) on Interface,
	// so iPXE does not wait ~16 s for an IPv6 router before it boots.
	// Default true in authoritative mode, false otherwise (a network with
	// its own DHCP server may have its own routers).
	RouterAdvertisements *bool `yaml:"routerAdvertisements,omitempty" json:"routerAdvertisements,omitempty"`
	// Port is the server port. Default 67; change only for tests.
	Port int `yaml:"port,omitempty" json:"port,omitempty"`
}

// Reservation is a static address for one MAC.
type Reservation struct {
	// MAC is the client's hardware address, e.g. 52:54:00:12:34:56.
	MAC string `yaml:"mac" json:"mac"`
	// IP is the address it always gets.
	IP string `yaml:"ip" json:"ip"`
	// Hostname is given as option 12 when set.
	Hostname string `yaml:"hostname,omitempty" json:"hostname,omitempty"`
}

// TFTP configures the TFTP server.
type TFTP struct {
	// Enabled serves TFTP. Default true.
	Enabled *bool `yaml:"enabled,omitempty" json:"enabled,omitempty"`
	// Listen is the UDP address to listen on. Default ":69".
	Listen string `yaml:"listen" json:"listen"`
}

// HTTP configures the HTTP server.
type HTTP struct {
	// Listen is the TCP address to listen on. Default ":8080".
	Listen string `yaml:"listen" json:"listen"`
}

// Boot says what booting machines are given.
type Boot struct {
	// IPXEDir is where the iPXE boot programs come from: at start the
	// controller copies biosFile, uefiFile and snponly.efi from here into
	// filesDir, following symlinks (Debian links ipxe.efi to /boot). Default
	// /usr/lib/ipxe, the Debian ipxe package. Set it to "" ("none") to
	// manage filesDir yourself.
	IPXEDir *string `yaml:"ipxeDir,omitempty" json:"ipxeDir,omitempty"`
	// FilesDir holds the network boot programs served over TFTP and HTTP.
	// Nothing outside it is served: names with "..", absolute names and
	// symlinks leading out are refused. Default <stateDir>/bootfiles.
	FilesDir string `yaml:"filesDir" json:"filesDir"`
	// BIOSFile is given to BIOS PXE clients (option 93 = 0). Default undionly.kpxe.
	BIOSFile string `yaml:"biosFile" json:"biosFile"`
	// UEFIFile is given to x86-64 UEFI PXE clients (option 93 = 7 or 9).
	// Default ipxe.efi; snponly.efi uses the firmware's network driver.
	UEFIFile string `yaml:"uefiFile" json:"uefiFile"`
	// ImagesDir holds node images, served at /images/, and which one is
	// active (corral image import, activate; docs/image-store.md).
	// Default <stateDir>/images.
	ImagesDir string `yaml:"imagesDir" json:"imagesDir"`
	// Kernel is the kernel a node boots, as a URL or a path relative to
	// the HTTP root (e.g. /images/test/vmlinuz). Unset (the usual case),
	// nodes boot the active image of ImagesDir; set, with Initrd, it wins
	// over the active image (a profile's imageVersion wins over both).
	Kernel string `yaml:"kernel,omitempty" json:"kernel,omitempty"`
	// Initrd is the initramfs, as a URL or a path like Kernel; set both
	// or neither.
	Initrd string `yaml:"initrd,omitempty" json:"initrd,omitempty"`
	// Cmdline is the kernel command line. Corral appends its own arguments
	// (BOOTIF and the controller URL).
	Cmdline string `yaml:"cmdline,omitempty" json:"cmdline,omitempty"`
}

// Duration is a time.Duration written as "90s", "1h".
type Duration struct{ time.Duration }

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration (write e.g. 30m or 1h)", n.Line, s)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes a duration string (JSON output).
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// Load reads, decodes, defaults and validates a configuration file.
func Load(path string) (*Controller, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Decode strictly decodes one document, then defaults and validates it.
func Decode(r io.Reader) (*Controller, error) { return DecodeWith(r, nil) }

// DecodeWith is Decode with overrides (command-line flags) applied after
// decoding and before defaults and validation.
func DecodeWith(r io.Reader, override func(*Controller)) (*Controller, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Controller
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document: start from the example in docs/controller-config.md")
		}
		return nil, err
	}
	if override != nil {
		override(&c)
	}
	c.Default()
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Default fills every unset field with its documented default.
func (c *Controller) Default() {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&c.StateDir, "/var/lib/corral")
	def(&c.Log.Level, "info")
	def(&c.Log.Format, "text")
	def(&c.DHCP.Mode, ModeAuthoritative)
	if c.DHCP.LeaseTime.Duration == 0 {
		c.DHCP.LeaseTime.Duration = time.Hour
	}
	if c.DHCP.Port == 0 {
		c.DHCP.Port = 67
	}
	if c.DHCP.ProxyPort4011 == nil {
		t := true
		c.DHCP.ProxyPort4011 = &t
	}
	if c.DHCP.RouterAdvertisements == nil {
		on := c.DHCP.Mode == ModeAuthoritative
		c.DHCP.RouterAdvertisements = &on
	}
	if c.TFTP.Enabled == nil {
		t := true
		c.TFTP.Enabled = &t
	}
	def(&c.TFTP.Listen, ":69")
	def(&c.HTTP.Listen, ":8080")
	def(&c.API.Listen, ":9443")
	def(&c.Enrollment.Policy, PolicyManual)
	if c.Enrollment.Heartbeat.Duration == 0 {
		c.Enrollment.Heartbeat.Duration = 15 * time.Second
	}
	if c.Enrollment.LostAfter.Duration == 0 {
		c.Enrollment.LostAfter.Duration = 90 * time.Second
	}
	if c.Boot.IPXEDir == nil {
		d := "/usr/lib/ipxe"
		c.Boot.IPXEDir = &d
	}
	def(&c.Boot.FilesDir, c.StateDir+"/bootfiles")
	def(&c.Boot.BIOSFile, "undionly.kpxe")
	def(&c.Boot.UEFIFile, "ipxe.efi")
	if c.Boot.ImagesDir == "" {
		c.Boot.ImagesDir = c.StateDir + "/images"
	}
	c.K3s.defaults(c.StateDir)
	c.Kube.defaults(c.K3s.Enabled(), c.StateDir)
}

// FieldError is a configuration value that is wrong.
type FieldError = fielderr.Error

// Validate checks every field and returns all problems at once.
func (c *Controller) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.New(field, format, args...))
	}
	if c.APIVersion != APIVersion {
		bad("apiVersion", "is %q, must be %q", c.APIVersion, APIVersion)
	}
	if c.Kind != Kind {
		bad("kind", "is %q, must be %q", c.Kind, Kind)
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "is %q, must be debug, info, warn or error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "is %q, must be text or json", c.Log.Format)
	}
	if c.AdvertiseAddress != "" {
		if a, err := netip.ParseAddr(c.AdvertiseAddress); err != nil || !a.Is4() {
			bad("advertiseAddress", "is %q, must be an IPv4 address", c.AdvertiseAddress)
		}
	}
	switch c.DHCP.Mode {
	case ModeAuthoritative:
		if c.Interface == "" {
			bad("interface", "is required: name the provisioning network interface (e.g. eth1)")
		}
		errs = append(errs, c.DHCP.validatePool()...)
	case ModeProxy:
		if c.Interface == "" {
			bad("interface", "is required: name the provisioning network interface (e.g. eth1)")
		}
		if c.DHCP.Subnet != "" || c.DHCP.RangeStart != "" || len(c.DHCP.Reservations) > 0 {
			bad("dhcp.mode", "is proxy, which hands out no addresses: remove dhcp.subnet, dhcp.rangeStart/rangeEnd and dhcp.reservations, or use mode authoritative")
		}
	case ModeOff:
	default:
		bad("dhcp.mode", "is %q, must be authoritative, proxy or off", c.DHCP.Mode)
	}
	if c.DHCP.LeaseTime.Duration < time.Minute {
		bad("dhcp.leaseTime", "is %s, must be at least 1m", c.DHCP.LeaseTime.Duration)
	}
	if c.DHCP.Port < 1 || c.DHCP.Port > 65535 {
		bad("dhcp.port", "is %d, must be a UDP port (1-65535)", c.DHCP.Port)
	}
	if _, _, err := net.SplitHostPort(c.TFTP.Listen); err != nil {
		bad("tftp.listen", "is %q, must be host:port (e.g. :69)", c.TFTP.Listen)
	}
	if _, _, err := net.SplitHostPort(c.HTTP.Listen); err != nil {
		bad("http.listen", "is %q, must be host:port (e.g. :8080)", c.HTTP.Listen)
	}
	if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
		bad("api.listen", "is %q, must be host:port (e.g. :9443)", c.API.Listen)
	}
	switch c.Enrollment.Policy {
	case PolicyAuto, PolicyManual:
	case PolicyAllowlist:
		if len(c.Enrollment.Allowlist) == 0 {
			bad("enrollment.allowlist", "is empty: the allowlist policy needs at least one pattern (mac, serial or uuid)")
		}
	default:
		bad("enrollment.policy", "is %q, must be manual, auto or allowlist", c.Enrollment.Policy)
	}
	for i, p := range c.Enrollment.Allowlist {
		if p.MAC == "" && p.Serial == "" && p.UUID == "" {
			bad(fmt.Sprintf("enrollment.allowlist[%d]", i), "sets nothing: give mac, serial or uuid (shell globs, e.g. mac: \"52:54:00:*\")")
		}
	}
	if c.Enrollment.Heartbeat.Duration < time.Second {
		bad("enrollment.heartbeat", "is %s, must be at least 1s", c.Enrollment.Heartbeat.Duration)
	}
	if c.Enrollment.LostAfter.Duration < 2*c.Enrollment.Heartbeat.Duration {
		bad("enrollment.lostAfter", "is %s, must be at least twice enrollment.heartbeat (%s)", c.Enrollment.LostAfter.Duration, c.Enrollment.Heartbeat.Duration)
	}
	for field, name := range map[string]string{"boot.biosFile": c.Boot.BIOSFile, "boot.uefiFile": c.Boot.UEFIFile} {
		if strings.Contains(name, "/") || strings.Contains(name, "..") {
			bad(field, "is %q, must be a plain file name inside boot.filesDir", name)
		}
	}
	errs = append(errs, c.K3s.validate()...)
	errs = append(errs, c.Kube.validate()...)
	return errors.Join(errs...)
}

func (d *DHCP) validatePool() []error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.New(field, format, args...))
	}
	subnet, err := netip.ParsePrefix(d.Subnet)
	if err != nil || !subnet.Addr().Is4() {
		bad("dhcp.subnet", "is %q, must be an IPv4 subnet in CIDR form (e.g. 10.10.0.0/24)", d.Subnet)
		return errs
	}
	subnet = subnet.Masked()
	inSubnet := func(field, s string, required bool) netip.Addr {
		if s == "" {
			if required {
				bad(field, "is required in authoritative mode: an IPv4 address inside %s", subnet)
			}
			return netip.Addr{}
		}
		a, err := netip.ParseAddr(s)
		if err != nil || !a.Is4() {
			bad(field, "is %q, must be an IPv4 address", s)
			return netip.Addr{}
		}
		if !subnet.Contains(a) {
			bad(field, "is %s, which is outside dhcp.subnet %s", a, subnet)
		}
		return a
	}
	start := inSubnet("dhcp.rangeStart", d.RangeStart, true)
	end := inSubnet("dhcp.rangeEnd", d.RangeEnd, true)
	if start.IsValid() && end.IsValid() && end.Less(start) {
		bad("dhcp.rangeEnd", "is %s, before dhcp.rangeStart %s", end, start)
	}
	inSubnet("dhcp.router", d.Router, false)
	for i, s := range d.DNS {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			bad(fmt.Sprintf("dhcp.dns[%d]", i), "is %q, must be an IPv4 address", s)
		}
	}
	for i, s := range d.NTP {
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			bad(fmt.Sprintf("dhcp.ntp[%d]", i), "is %q, must be an IPv4 address", s)
		}
	}
	seenMAC := map[string]int{}
	seenIP := map[netip.Addr]int{}
	for i, r := range d.Reservations {
		f := fmt.Sprintf("dhcp.reservations[%d]", i)
		mac, err := net.ParseMAC(r.MAC)
		if err != nil || len(mac) != 6 {
			bad(f+".mac", "is %q, must be a MAC address like 52:54:00:12:34:56", r.MAC)
		} else if j, dup := seenMAC[mac.String()]; dup {
			bad(f+".mac", "%s is already reserved by dhcp.reservations[%d]", mac, j)
		} else {
			seenMAC[mac.String()] = i
		}
		if a := inSubnet(f+".ip", r.IP, true); a.IsValid() {
			if j, dup := seenIP[a]; dup {
				bad(f+".ip", "%s is already reserved by dhcp.reservations[%d]", a, j)
			}
			seenIP[a] = i
		}
	}
	return errs
}
