// Package k3s joins the node to the controller's k3s cluster: it writes
// /etc/rancher/k3s/config.yaml from the node's configuration (join data,
// labels a kubelet may set on itself, taints, the provisioning NIC, reserved
// resources), puts the air-gap images where k3s imports them, and
// supervises `k3s agent` for as long as the agent runs.
//
// docs/k3s.md describes every key of the file and why it is set.
package k3s

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"sort"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/api/v1alpha1"
)

// Paths on a node.
const (
	// DefaultBinary is where the node image puts k3s (image.K3sInRootfs).
	DefaultBinary = "/usr/local/bin/k3s"
	// DefaultConfigPath is the file k3s reads by default.
	DefaultConfigPath = "/etc/rancher/k3s/config.yaml"
	// DefaultDataDir is k3s' own default data-dir: on a node without a
	// scratch disk it lives in RAM with the rest of the root.
	DefaultDataDir = "/var/lib/rancher/k3s"
	// DefaultImagesDir is where the node image carries the air-gap image
	// tarballs (k3s-airgap-images-amd64.tar.zst), agreed in docs/k3s.md.
	DefaultImagesDir = "/usr/share/corral/k3s"
)

// AgentConfig is the k3s agent configuration file: YAML keys are the flag
// names of `k3s agent` (docs/installation/configuration.md); repeatable
// flags are lists. Field order is the order in the file.
type AgentConfig struct {
	Server       string   `yaml:"server"`
	Token        string   `yaml:"token"`
	NodeName     string   `yaml:"node-name"`
	NodeIP       string   `yaml:"node-ip"`
	FlannelIface string   `yaml:"flannel-iface"`
	DataDir      string   `yaml:"data-dir,omitempty"`
	NodeLabel    []string `yaml:"node-label,omitempty"`
	NodeTaint    []string `yaml:"node-taint,omitempty"`
	KubeletArg   []string `yaml:"kubelet-arg,omitempty"`
}

// Params are what the agent configuration is made from.
type Params struct {
	// Config is the node's configuration from the controller.
	Config v1alpha1.NodeConfig
	// Hostname is used when Config.Hostname is empty.
	Hostname string
	// NIC is the provisioning interface and the node's address on it.
	NIC NIC
	// Inventory gives the machine's size for the reserved resources; nil
	// reserves nothing.
	Inventory *v1alpha1.Inventory
	// DataDir is k3s' data-dir on the scratch disk; empty leaves k3s'
	// default (in RAM).
	DataDir string
	// Logger receives one debug line per label dropped.
	Logger *slog.Logger
}

// NIC is the provisioning interface.
type NIC struct {
	Name string
	Addr netip.Addr
}

// NewAgentConfig builds the file's content. It fails only when the node
// cannot join at all (no join data, no address); labels and taints that k3s
// would refuse are dropped with a log line instead.
func NewAgentConfig(p Params) (AgentConfig, error) {
	log := p.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	j := p.Config.K3s
	if j == nil || j.ServerURL == "" || j.Token == "" {
		return AgentConfig{}, errors.New("the node configuration carries no k3s join data (server URL and token)")
	}
	if u, err := url.Parse(j.ServerURL); err != nil || u.Scheme != "https" || u.Host == "" {
		return AgentConfig{}, fmt.Errorf("k3s server URL %q: want https://host:port", j.ServerURL)
	}
	if strings.ContainsAny(j.Token, " \t\r\n") {
		return AgentConfig{}, errors.New("the k3s token from the controller contains white space")
	}
	name := p.Config.Hostname
	if name == "" {
		name = p.Hostname
	}
	if name == "" {
		return AgentConfig{}, errors.New("no node name: the configuration has no hostname and the machine has none")
	}
	name = strings.ToLower(name)
	if err := validNodeName(name); err != nil {
		return AgentConfig{}, err
	}
	if !p.NIC.Addr.IsValid() || p.NIC.Name == "" {
		return AgentConfig{}, errors.New("the provisioning interface and its address are unknown: boot with BOOTIF= (the iPXE script sets it) so the agent knows which NIC the node network-booted from")
	}
	cfg := AgentConfig{
		Server:       j.ServerURL,
		Token:        j.Token,
		NodeName:     name,
		NodeIP:       p.NIC.Addr.String(),
		FlannelIface: p.NIC.Name,
		DataDir:      p.DataDir,
		NodeLabel:    SelfLabels(p.Config.Labels, log),
		NodeTaint:    validTaints(p.Config.Taints, log),
	}
	if p.Inventory != nil {
		cfg.KubeletArg = Reserved(p.Inventory.CPU.Threads, p.Inventory.Memory.TotalBytes).KubeletArgs()
	}
	return cfg, nil
}

// header starts the generated file.
const header = "# Written by corral-agent from the node's configuration: edits are lost at the next boot.\n" +
	"# Every key is explained in docs/k3s.md. Holds the cluster's agent token: keep it 0600.\n"

// Marshal renders the file.
func (c AgentConfig) Marshal() ([]byte, error) {
	var b bytes.Buffer
	b.WriteString(header)
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("render the k3s agent configuration: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// selfPrefixes are the label namespaces a node sets on itself (the others,
// role labels first, are the controller's: NodeRestriction refuses
// node-role.kubernetes.io/* from a kubelet).
var selfPrefixes = []string{"feature.node.kubernetes.io/", "nvidia.com/", "corral.io/"}

// SelfLabels returns the labels of m the kubelet may set at registration,
// as sorted "key=value" strings; every other label is dropped with a debug
// line (the controller applies role and profile labels itself).
func SelfLabels(m map[string]string, log *slog.Logger) []string {
	var out []string
	for k, v := range m {
		ok := false
		for _, p := range selfPrefixes {
			if strings.HasPrefix(k, p) {
				ok = true
			}
		}
		if !ok {
			log.Debug("label not set by the kubelet: outside feature.node.kubernetes.io/, nvidia.com/ and corral.io/ (the controller applies it)", "label", k)
			continue
		}
		if err := validLabel(k, v); err != nil {
			log.Debug("label dropped: Kubernetes would refuse it", "label", k, "err", err)
			continue
		}
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// validLabel checks a label against Kubernetes' rules: a DNS-subdomain
// prefix of at most 253 characters, a name and a value of at most 63
// characters of [A-Za-z0-9-_.] beginning and ending alphanumeric (the
// value may be empty).
func validLabel(k, v string) error {
	prefix, name, ok := strings.Cut(k, "/")
	if !ok || len(prefix) > 253 || prefix == "" {
		return fmt.Errorf("key %q: want prefix/name", k)
	}
	if err := labelPart(name, false); err != nil {
		return fmt.Errorf("name of %q: %w", k, err)
	}
	if err := labelPart(v, true); err != nil {
		return fmt.Errorf("value %q: %w", v, err)
	}
	return nil
}

func labelPart(s string, emptyOK bool) error {
	if s == "" {
		if emptyOK {
			return nil
		}
		return errors.New("empty")
	}
	if len(s) > 63 {
		return errors.New("longer than 63 characters")
	}
	alnum := func(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return errors.New("must begin and end with a letter or digit")
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !alnum(c) && c != '-' && c != '_' && c != '.' {
			return fmt.Errorf("character %q not allowed", c)
		}
	}
	return nil
}

// validNodeName checks a Kubernetes node name: a DNS subdomain (RFC 1123)
// of at most 253 characters, lower-case letters, digits, '-' and '.'.
func validNodeName(name string) error {
	if len(name) > 253 {
		return fmt.Errorf("node name %.20q…: longer than 253 characters", name)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("node name %q is not a DNS name (RFC 1123)", name)
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("node name %q: %q is not allowed (letters, digits, '-' and '.')", name, c)
			}
		}
	}
	return nil
}

// validTaints keeps the taints of the form key[=value]:Effect with a known
// effect, in their order.
func validTaints(taints []string, log *slog.Logger) []string {
	var out []string
	for _, t := range taints {
		kv, effect, ok := strings.Cut(t, ":")
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case !ok || (effect != "NoSchedule" && effect != "PreferNoSchedule" && effect != "NoExecute"):
			log.Warn("taint dropped: want key[=value]:NoSchedule|PreferNoSchedule|NoExecute", "taint", t)
		case validTaintKey(k) != nil || labelPart(v, true) != nil:
			log.Warn("taint dropped: Kubernetes would refuse its key or value", "taint", t)
		default:
			out = append(out, t)
		}
	}
	return out
}

func validTaintKey(k string) error {
	if prefix, name, ok := strings.Cut(k, "/"); ok {
		if prefix == "" || len(prefix) > 253 {
			return errors.New("bad prefix")
		}
		return labelPart(name, false)
	}
	return labelPart(k, false)
}
