package enroll

import (
	"fmt"
	"strings"

	"corral.io/corral/api/v1alpha1"
)

// maxHostname is the kernel's HOST_NAME_MAX.
const maxHostname = 64

// Hostname returns an Apply hook that sets the node's hostname with set
// (unix.Sethostname on a node, a recorder in tests), after checking that
// the controller's name is a valid RFC 1123 host name. An empty hostname in
// the configuration leaves the machine's alone.
func Hostname(set func(name string) error) func(v1alpha1.NodeConfig) error {
	return func(cfg v1alpha1.NodeConfig) error {
		if cfg.Hostname == "" {
			return nil
		}
		if err := ValidHostname(cfg.Hostname); err != nil {
			return err
		}
		if err := set(cfg.Hostname); err != nil {
			return fmt.Errorf("set hostname %q: %w", cfg.Hostname, err)
		}
		return nil
	}
}

// ValidHostname checks name against RFC 1123 §2.1 (dot-separated labels of
// letters, digits and inner hyphens, each 1–63 characters) and the kernel's
// 64-byte limit.
func ValidHostname(name string) error {
	if len(name) > maxHostname {
		return fmt.Errorf("hostname %q: longer than %d characters", name, maxHostname)
	}
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("hostname %q: each dot-separated label must have 1 to 63 characters", name)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("hostname %q: a label may not begin or end with '-'", name)
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return fmt.Errorf("hostname %q: %q is not allowed (letters, digits and '-' only)", name, c)
			}
		}
	}
	return nil
}
