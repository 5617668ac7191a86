package profiles

import (
	"strconv"
	"text/template"

	"github.com/google/cel-go/cel"
)

// APIVersion and Kind are what every profile document must declare.
const (
	APIVersion = "corral.io/v1alpha1"
	Kind       = "Profile"
)

// Disk uses a DiskSelector can give.
const (
	// UseScratch disks hold node-local scratch space (the k3s data
	// directory, container images, emptyDir volumes).
	UseScratch = "scratch"
	// UseCeph disks become Ceph OSDs.
	UseCeph = "ceph"
	// UseNone disks are left alone (only in a Plan, never in a selector).
	UseNone = "none"
)

// Profile is one profile document. The exported fields are the YAML schema
// (docs/profiles.md); a Profile is only usable once Parse, LoadFile, LoadDir or
// Defaults has validated and compiled it.
type Profile struct {
	// APIVersion must be "corral.io/v1alpha1".
	APIVersion string `yaml:"apiVersion" json:"apiVersion"`
	// Kind must be "Profile".
	Kind string `yaml:"kind" json:"kind"`
	// Name identifies the profile: a DNS label (lower-case letters, digits
	// and '-', at most 63 characters). Unique within a set.
	Name string `yaml:"name" json:"name"`
	// Description is a free-text note for operators.
	Description string `yaml:"description,omitempty" json:"description,omitempty"`
	// Priority orders the rules: when several match expressions are true,
	// the highest priority wins, and at equal priority the name that sorts
	// first.
	Priority int `yaml:"priority,omitempty" json:"priority,omitempty"`
	// Match is a CEL expression over the variable inventory that must be
	// of type bool. Empty: the profile is chosen only by selectors or by an
	// operator's assignment.
	Match string `yaml:"match,omitempty" json:"match,omitempty"`
	// Selectors pick nodes by identity; a node a selector matches gets this
	// profile whatever the rules say.
	Selectors Selectors `yaml:"selectors,omitempty" json:"selectors,omitzero"`
	// HostnameTemplate renders the node's hostname from a fixed set of
	// fields (HostnameData); empty means "{{.NodeID}}".
	HostnameTemplate string `yaml:"hostnameTemplate,omitempty" json:"hostnameTemplate,omitempty"`
	// Role, if set, gives the node the label node-role.kubernetes.io/<role>.
	Role string `yaml:"role,omitempty" json:"role,omitempty"`
	// Labels are added to the node's inventory labels (and win over them).
	Labels map[string]string `yaml:"labels,omitempty" json:"labels,omitempty"`
	// Taints are Kubernetes taints written key=value:Effect or key:Effect.
	Taints []string `yaml:"taints,omitempty" json:"taints,omitempty"`
	// KernelArgs are appended to the kernel command line of the node's
	// iPXE script, one argument per item.
	KernelArgs []string `yaml:"kernelArgs,omitempty" json:"kernelArgs,omitempty"`
	// K3sArgs are extra k3s agent flags, one per item, e.g.
	// "--kubelet-arg=max-pods=250".
	K3sArgs []string `yaml:"k3sArgs,omitempty" json:"k3sArgs,omitempty"`
	// ImageVersion pins the node image; empty means the controller's
	// active image.
	ImageVersion string `yaml:"imageVersion,omitempty" json:"imageVersion,omitempty"`
	// Disks is the disk policy: each disk goes to the first selector that
	// matches it and still has room (Limit).
	Disks []DiskSelector `yaml:"disks,omitempty" json:"disks,omitempty"`

	// compiled state, filled by compile.
	compiled bool
	source   Source
	program  cel.Program
	taints   []Taint
	disks    []diskRule
	hostname *template.Template
}

// Selectors are glob patterns (path.Match syntax: *, ?, [a-z]) over a node's
// identity. Any one matching pattern selects the node.
type Selectors struct {
	// MACs match any NIC's current or permanent MAC, lower case with
	// colons, e.g. "52:54:00:*".
	MACs []string `yaml:"macs,omitempty" json:"macs,omitempty"`
	// Serials match the system, baseboard or chassis serial number,
	// ignoring case.
	Serials []string `yaml:"serials,omitempty" json:"serials,omitempty"`
	// UUIDs match the DMI system UUID, lower case.
	UUIDs []string `yaml:"uuids,omitempty" json:"uuids,omitempty"`
	// NodeIDs match Corral's node id ("n" + 24 hex digits).
	NodeIDs []string `yaml:"nodeIDs,omitempty" json:"nodeIDs,omitempty"`
	// Hostnames match the hostname the registry knows the node by.
	Hostnames []string `yaml:"hostnames,omitempty" json:"hostnames,omitempty"`
}

// empty reports whether no selector is set.
func (s Selectors) empty() bool {
	return len(s.MACs)+len(s.Serials)+len(s.UUIDs)+len(s.NodeIDs)+len(s.Hostnames) == 0
}

// DiskSelector says which disks get a use. Every condition that is set must
// hold; a selector with no condition matches every usable disk.
type DiskSelector struct {
	// Name names the selector in disk plans; default "disks[<index>]".
	Name string `yaml:"name,omitempty" json:"name,omitempty"`
	// Use is "scratch" or "ceph".
	Use string `yaml:"use" json:"use"`
	// MinSize is the smallest disk size, as bytes or with a suffix: K, M,
	// G, T, P (powers of 1000) or Ki, Mi, Gi, Ti, Pi (powers of 1024).
	MinSize string `yaml:"minSize,omitempty" json:"minSize,omitempty"`
	// MaxSize is the largest disk size, written like MinSize.
	MaxSize string `yaml:"maxSize,omitempty" json:"maxSize,omitempty"`
	// Rotational, if set, requires spinning (true) or solid-state (false) disks.
	Rotational *bool `yaml:"rotational,omitempty" json:"rotational,omitempty"`
	// Transports, if set, lists the allowed transports: nvme, sata, sas,
	// scsi, virtio, usb, mmc, xen.
	Transports []string `yaml:"transports,omitempty" json:"transports,omitempty"`
	// ByID is a glob over the disk's /dev/disk/by-id name, e.g.
	// "nvme-SAMSUNG_MZQL23T8HCLS-*" or "wwn-0x5000c500*".
	ByID string `yaml:"byID,omitempty" json:"byID,omitempty"`
	// Model is a glob over the disk's model string.
	Model string `yaml:"model,omitempty" json:"model,omitempty"`
	// Limit is the most disks this selector takes; 0 means no limit.
	Limit int `yaml:"limit,omitempty" json:"limit,omitempty"`
	// AllowWipeForeignData lets Corral erase disks this selector takes
	// that hold data Corral did not write (a filesystem, a partition table,
	// LVM, LUKS). Default false: such disks are left alone. Ceph OSDs are
	// never wiped, whatever this says.
	AllowWipeForeignData bool `yaml:"allowWipeForeignData,omitempty" json:"allowWipeForeignData,omitempty"`
}

// Source is where a profile was read from.
type Source struct {
	// File is the file name as given, or "defaults/<file>" for shipped
	// profiles.
	File string `json:"file"`
	// Line is the line of the document's first key.
	Line int `json:"line"`
}

// String returns "file:line".
func (s Source) String() string {
	if s.Line == 0 {
		return s.File
	}
	return s.File + ":" + strconv.Itoa(s.Line)
}

// Source returns where the profile was read from.
func (p *Profile) Source() Source { return p.source }

// Taint is a parsed Kubernetes taint.
type Taint struct {
	Key    string `json:"key" yaml:"key"`
	Value  string `json:"value,omitempty" yaml:"value,omitempty"`
	Effect string `json:"effect" yaml:"effect"`
}

// String returns the taint as key=value:Effect (key:Effect without a value).
func (t Taint) String() string {
	if t.Value == "" {
		return t.Key + ":" + t.Effect
	}
	return t.Key + "=" + t.Value + ":" + t.Effect
}
