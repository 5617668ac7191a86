package profiles

import (
	"fmt"
	"strconv"
	"strings"
)

// isDNSLabelSyntax reports whether s matches [a-z0-9]([-a-z0-9]*[a-z0-9])?,
// as k8s.io/apimachinery/pkg/util/validation checks a DNS label.
func isDNSLabelSyntax(s string) bool {
	return nameSyntax(s, func(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }, "-")
}

// isLabelNameSyntax reports whether s matches
// ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9], the syntax of a label name or value.
func isLabelNameSyntax(s string) bool {
	return nameSyntax(s, isAlnum, "-_.")
}

// nameSyntax reports whether s is non-empty, starts and ends with a
// character edge accepts, and holds only those and the characters in inner.
func nameSyntax(s string, edge func(byte) bool, inner string) bool {
	if s == "" || !edge(s[0]) || !edge(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !edge(s[i]) && strings.IndexByte(inner, s[i]) < 0 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// RoleLabelPrefix is the prefix of the label Role sets. Profiles may not set
// it through Labels: a kubelet may not set it on its own Node, so the
// controller applies it, and only from Role.
const RoleLabelPrefix = "node-role.kubernetes.io/"

// ProfileLabel is the label that names a node's profile; Resolve sets it.
const ProfileLabel = "corral.io/profile"

// checkDNSLabel checks an RFC 1123 label: at most 63 characters of a-z, 0-9
// and '-', starting and ending with a letter or digit.
func checkDNSLabel(s string) error {
	switch {
	case s == "":
		return fmt.Errorf("is empty; want a DNS label such as gpu-worker")
	case len(s) > 63:
		return fmt.Errorf("%q is %d characters long; a DNS label has at most 63", s, len(s))
	case !isDNSLabelSyntax(s):
		return fmt.Errorf("%q is not a DNS label: use lower-case letters, digits and '-', starting and ending with a letter or digit", s)
	}
	return nil
}

// checkDNSSubdomain checks an RFC 1123 subdomain: dot-separated DNS labels,
// at most 253 characters.
func checkDNSSubdomain(s string) error {
	if len(s) > 253 {
		return fmt.Errorf("%q is %d characters long; at most 253", s, len(s))
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || !isDNSLabelSyntax(l) {
			return fmt.Errorf("%q is not a DNS subdomain: lower-case letters, digits, '-' and '.', each part starting and ending with a letter or digit", s)
		}
	}
	return nil
}

// checkLabelKey checks a Kubernetes label or taint key: an optional DNS
// subdomain prefix and '/', then a name of at most 63 characters.
func checkLabelKey(k string) error {
	name := k
	if i := strings.LastIndexByte(k, '/'); i >= 0 {
		prefix := k[:i]
		name = k[i+1:]
		if prefix == "" {
			return fmt.Errorf("key %q has an empty prefix before '/'", k)
		}
		if err := checkDNSSubdomain(prefix); err != nil {
			return fmt.Errorf("key %q: prefix %w", k, err)
		}
	}
	switch {
	case name == "":
		return fmt.Errorf("key %q has an empty name", k)
	case len(name) > 63:
		return fmt.Errorf("key %q: name part is %d characters long; at most 63", k, len(name))
	case !isLabelNameSyntax(name):
		return fmt.Errorf("key %q: name part must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit", k)
	}
	return nil
}

// checkLabelValue checks a Kubernetes label value: empty, or at most 63
// characters of letters, digits, '-', '_' and '.', starting and ending with a
// letter or digit.
func checkLabelValue(v string) error {
	switch {
	case v == "":
		return nil
	case len(v) > 63:
		return fmt.Errorf("value %q is %d characters long; at most 63", v, len(v))
	case !isLabelNameSyntax(v):
		return fmt.Errorf("value %q must consist of letters, digits, '-', '_' or '.', and start and end with a letter or digit", v)
	}
	return nil
}

// taintEffects lists the effects Kubernetes knows, for messages.
const taintEffects = "NoSchedule, PreferNoSchedule, NoExecute"

// ParseTaint parses "key=value:Effect" or "key:Effect" and checks it as
// Kubernetes does.
func ParseTaint(s string) (Taint, error) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return Taint{}, fmt.Errorf("taint %q has no effect; write key=value:Effect with Effect one of %s", s, taintEffects)
	}
	t := Taint{Key: s[:i], Effect: s[i+1:]}
	if j := strings.IndexByte(t.Key, '='); j >= 0 {
		t.Key, t.Value = t.Key[:j], t.Key[j+1:]
	}
	switch t.Effect {
	case "NoSchedule", "PreferNoSchedule", "NoExecute":
	default:
		return Taint{}, fmt.Errorf("taint %q: effect %q is not one of %s", s, t.Effect, taintEffects)
	}
	if err := checkLabelKey(t.Key); err != nil {
		return Taint{}, fmt.Errorf("taint %q: %w", s, err)
	}
	if err := checkLabelValue(t.Value); err != nil {
		return Taint{}, fmt.Errorf("taint %q: %w", s, err)
	}
	return t, nil
}

// KubeletMaySet reports whether a kubelet may set label key on its own Node
// (the NodeRestriction admission plugin, see reference/k3s.md): labels
// outside the kubernetes.io and k8s.io namespaces, those under
// kubelet.kubernetes.io and node.kubernetes.io, and a fixed set. The
// controller must apply every other label (such as the role) itself.
func KubeletMaySet(key string) bool {
	switch key {
	case "kubernetes.io/hostname", "kubernetes.io/arch", "kubernetes.io/os",
		"beta.kubernetes.io/instance-type", "node.kubernetes.io/instance-type",
		"failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone",
		"topology.kubernetes.io/region", "topology.kubernetes.io/zone":
		return true
	}
	i := strings.LastIndexByte(key, '/')
	if i < 0 {
		return true
	}
	prefix := key[:i]
	for _, ns := range []string{"kubelet.kubernetes.io", "node.kubernetes.io"} {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return true
		}
	}
	for _, ns := range []string{"kubernetes.io", "k8s.io"} {
		if prefix == ns || strings.HasSuffix(prefix, "."+ns) {
			return false
		}
	}
	return true
}

// checkKernelArg checks one kernel argument as the iPXE script would pass it.
func checkKernelArg(a string) error {
	if a == "" {
		return fmt.Errorf("is empty")
	}
	for _, r := range a {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("%q holds control character %q", a, r)
		case r == ' ':
			return fmt.Errorf("%q holds a space; give one argument per list item", a)
		case r == '$':
			return fmt.Errorf("%q holds '$', which iPXE would expand as a setting", a)
		}
	}
	if a[0] == '#' {
		return fmt.Errorf("%q starts with '#', which iPXE reads as a comment", a)
	}
	if a == "||" || a == "&&" || a == ";" {
		return fmt.Errorf("%q is an iPXE command separator", a)
	}
	// Corral's iPXE script sets these itself (controller/boot/ipxe), and
	// keeps the corral. namespace for its own arguments.
	for _, r := range []string{"initrd=", "BOOTIF=", "corral."} {
		if strings.HasPrefix(a, r) {
			return fmt.Errorf("%q: %s… is set by Corral itself", a, r)
		}
	}
	return nil
}

// managedK3sFlag says who sets a k3s agent flag that Corral manages from the
// node's registration and profile; a profile sets it through its own fields.
func managedK3sFlag(name string) (by string, managed bool) {
	switch name {
	case "server", "token", "token-file":
		return "the controller", true
	case "node-name", "with-node-id":
		return "hostnameTemplate", true
	case "node-label":
		return "labels and role", true
	case "node-taint":
		return "taints", true
	case "node-ip", "flannel-iface":
		return "the agent (the provisioning NIC)", true
	case "data-dir":
		return "the disk plan (the first scratch disk)", true
	}
	return "", false
}

// checkK3sArg checks one extra k3s agent argument.
func checkK3sArg(a string) error {
	if !strings.HasPrefix(a, "--") || len(a) < 3 {
		return fmt.Errorf("%q is not a flag; write --flag or --flag=value", a)
	}
	for _, r := range a {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%q holds control character %q", a, r)
		}
	}
	name, _, _ := strings.Cut(a[2:], "=")
	if by, ok := managedK3sFlag(name); ok {
		return fmt.Errorf("%q: --%s is set by %s", a, name, by)
	}
	return nil
}

// isImageVersion reports whether s is at most 64 letters, digits, '.', '_',
// '+' or '-', starting with a letter or digit.
func isImageVersion(s string) bool {
	if s == "" || len(s) > 64 || !isAlnum(s[0]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) && strings.IndexByte("._+-", s[i]) < 0 {
			return false
		}
	}
	return true
}

// diskTransports returns the transports the inventory reports.
func diskTransports() []string {
	return []string{"nvme", "sata", "sas", "scsi", "virtio", "usb", "mmc", "xen"}
}

// ParseSize reads a size: bytes, or a number with a suffix K, M, G, T, P
// (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024). "1.5Ti" is allowed.
func ParseSize(s string) (uint64, error) {
	t := strings.TrimSpace(s)
	mult := uint64(1)
	for _, u := range []struct {
		suffix string
		mult   uint64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40}, {"Pi", 1 << 50},
		{"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"P", 1e15},
	} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	if n, err := strconv.ParseUint(t, 10, 64); err == nil {
		if n > (1<<63)/mult {
			return 0, fmt.Errorf("size %q is too large", s)
		}
		return n * mult, nil
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f != f || t == "" || strings.ContainsAny(t, "eEinxX") {
		return 0, fmt.Errorf("size %q: want bytes or a number with K, M, G, T, P, Ki, Mi, Gi, Ti or Pi, e.g. 100Gi", s)
	}
	if f*float64(mult) >= 1<<63 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return uint64(f * float64(mult)), nil
}
