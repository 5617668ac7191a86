package profiles

import (
	"fmt"
	"path"
	"reflect"
	"strings"
	"text/template"
	"text/template/parse"

	"corral.io/corral/api/v1alpha1"
)

// DefaultHostnameTemplate is used when a profile sets none: the node id is
// stable across reboots and profile changes, so k3s never sees a known
// hostname on a different machine.
const DefaultHostnameTemplate = "{{.NodeID}}"

// HostnameData are the fields a hostname template may use. Every string is
// lower case and holds only a-z, 0-9 and '-'.
type HostnameData struct {
	// Profile is the profile's name.
	Profile string
	// Index is the node's number within its profile, from 1, assigned by
	// the registry (ResolveOptions.Index).
	Index int
	// NodeID is Corral's node id, "n" + 24 hex digits.
	NodeID string
	// MAC is the boot NIC's MAC as 12 hex digits, e.g. 525400123456.
	MAC string
	// Serial is the system serial number (else the baseboard's, else the
	// chassis'), with every other character replaced by '-'.
	Serial string
}

// hostnameFields lists HostnameData's fields for error messages.
func hostnameFields() string {
	t := reflect.TypeFor[HostnameData]()
	var f []string
	for i := range t.NumField() {
		f = append(f, "."+t.Field(i).Name)
	}
	return strings.Join(f, ", ")
}

// parseHostnameTemplate parses a hostname template and checks that it uses
// only text, {{.Field}} and {{printf "…" .Field …}}, and that it renders a
// valid hostname for sample data.
func parseHostnameTemplate(profile, text string) (*template.Template, error) {
	if len(text) > 253 {
		return nil, fmt.Errorf("is %d characters long; at most 253", len(text))
	}
	t, err := template.New("hostnameTemplate").Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s", strings.TrimPrefix(err.Error(), "template: "))
	}
	if err := checkTemplateNodes(t.Root); err != nil {
		return nil, err
	}
	sample := HostnameData{Profile: profile, Index: 1, NodeID: "n0123456789abcdef01234567", MAC: "525400123456", Serial: "abc123"}
	if _, err := renderHostname(t, sample); err != nil {
		return nil, err
	}
	return t, nil
}

// checkTemplateNodes allows text, field references and printf calls only, so
// that a template cannot loop, define templates or call anything else.
func checkTemplateNodes(n parse.Node) error {
	switch n := n.(type) {
	case *parse.ListNode:
		for _, c := range n.Nodes {
			if err := checkTemplateNodes(c); err != nil {
				return err
			}
		}
		return nil
	case *parse.TextNode:
		return nil
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 || len(n.Pipe.Cmds) != 1 {
			return fmt.Errorf("%q: only {{.Field}} and {{printf \"%%03d\" .Field}} are allowed", n.String())
		}
		args := n.Pipe.Cmds[0].Args
		if id, ok := args[0].(*parse.IdentifierNode); ok && id.Ident == "printf" {
			args = args[1:]
			if len(args) == 0 {
				return fmt.Errorf("%q: printf needs a format", n.String())
			}
			if _, ok := args[0].(*parse.StringNode); !ok {
				return fmt.Errorf("%q: printf's format must be a string", n.String())
			}
			args = args[1:]
		} else if len(args) != 1 {
			return fmt.Errorf("%q: only {{.Field}} and {{printf \"%%03d\" .Field}} are allowed", n.String())
		}
		for _, a := range args {
			f, ok := a.(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return fmt.Errorf("%q: only the fields %s may be used", n.String(), hostnameFields())
			}
			if _, ok := reflect.TypeFor[HostnameData]().FieldByName(f.Ident[0]); !ok {
				return fmt.Errorf("%q: unknown field .%s; the fields are %s", n.String(), f.Ident[0], hostnameFields())
			}
		}
		return nil
	default:
		return fmt.Errorf("%q: only text, {{.Field}} and {{printf ...}} are allowed (fields: %s)", n.String(), hostnameFields())
	}
}

// limitedWriter fails writes beyond its limit.
type limitedWriter struct {
	b     strings.Builder
	limit int
}

func (w *limitedWriter) Write(p []byte) (int, error) {
	if w.b.Len()+len(p) > w.limit {
		return 0, fmt.Errorf("renders more than %d characters", w.limit)
	}
	return w.b.Write(p)
}

// renderHostname executes a hostname template and checks the result.
func renderHostname(t *template.Template, data HostnameData) (string, error) {
	w := &limitedWriter{limit: 63}
	if err := t.Execute(w, data); err != nil {
		return "", fmt.Errorf("render %q: %w", t.Root.String(), err)
	}
	h := w.b.String()
	if err := checkDNSLabel(h); err != nil {
		return "", fmt.Errorf("%q renders %q, not a valid hostname: %w", t.Root.String(), h, err)
	}
	return h, nil
}

// hostnameData collects the template fields of an inventory.
func hostnameData(inv *v1alpha1.Inventory, profile string, index int) HostnameData {
	d := HostnameData{Profile: profile, Index: index, NodeID: inv.Identity.NodeID}
	mac := inv.System.BootMAC
	for _, n := range inv.NICs {
		if mac == "" && n.Boot {
			mac = n.MAC
		}
	}
	if mac == "" && inv.Identity.Source == "mac" {
		mac = inv.Identity.Value
	}
	d.MAC = strings.NewReplacer(":", "", "-", "").Replace(strings.ToLower(mac))
	for _, s := range []string{inv.System.Serial, inv.System.BoardSerial, inv.System.ChassisSerial} {
		if s != "" {
			d.Serial = sanitizeHostPart(s)
			break
		}
	}
	return d
}

// sanitizeHostPart lower-cases s and replaces what a hostname may not hold
// with '-', trimming '-' at both ends.
func sanitizeHostPart(s string) string {
	b := []byte(strings.ToLower(s))
	for i, c := range b {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			b[i] = '-'
		}
	}
	return strings.Trim(string(b), "-")
}

// checkGlob checks a selector pattern.
func checkGlob(p string) error {
	if p == "" {
		return fmt.Errorf("pattern is empty")
	}
	if _, err := path.Match(p, ""); err != nil {
		return fmt.Errorf("pattern %q: %w", p, err)
	}
	return nil
}

// glob matches a checked pattern.
func glob(pattern, s string) bool {
	ok, _ := path.Match(pattern, s)
	return ok
}
