package profiles

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"corral.io/corral/api/v1alpha1"
)

// GPT partition names Corral writes on the disks it owns. A disk whose GPT
// partitions all carry one of these names holds only Corral's data; agent/disks
// must name its partitions so, and nothing else may.
const (
	PartLabelScratch = "corral-scratch"
	PartLabelCeph    = "corral-ceph"
)

// Disk actions in a plan.
const (
	// ActionCreate: the disk is blank; partition and format it.
	ActionCreate = "create"
	// ActionKeep: the disk already holds Corral's data for this use
	// (scratch partition, or a Ceph OSD); use it as it is.
	ActionKeep = "keep"
	// ActionWipe: erase the disk, then create. Only for foreign data a
	// selector explicitly allows wiping, and for Corral scratch disks
	// turned into Ceph OSDs (scratch data is disposable). Never for a
	// Ceph OSD.
	ActionWipe = "wipe"
	// ActionNone: leave the disk alone.
	ActionNone = "none"
)

// Disk contents as the plan classifies them.
const (
	ContentBlank   = "blank"   // probed: no partition table, no filesystem
	ContentScratch = "scratch" // GPT whose partitions are all corral-scratch
	ContentCeph    = "ceph"    // a Ceph OSD: whole-disk bluestore, or corral-ceph partitions
	ContentForeign = "foreign" // anything else: data Corral did not write
	ContentUnknown = "unknown" // not probed: contents could not be read
)

// DiskDecision is what the plan does with one disk of the inventory.
type DiskDecision struct {
	// Name, Path, ByID and SizeBytes identify the disk (from the inventory).
	Name      string `json:"name" yaml:"name"`
	Path      string `json:"path" yaml:"path"`
	ByID      string `json:"byID,omitempty" yaml:"byID,omitempty"`
	SizeBytes uint64 `json:"sizeBytes" yaml:"sizeBytes"`
	// Contents is what the disk holds: blank, scratch, ceph, foreign, unknown.
	Contents string `json:"contents" yaml:"contents"`
	// Use is scratch, ceph or none.
	Use string `json:"use" yaml:"use"`
	// Action is create, keep, wipe or none.
	Action string `json:"action" yaml:"action"`
	// Selector names the disk selector that matched, if any.
	Selector string `json:"selector,omitempty" yaml:"selector,omitempty"`
	// Reason explains the decision in one sentence.
	Reason string `json:"reason" yaml:"reason"`
}

// diskRule is a checked DiskSelector.
type diskRule struct {
	name     string
	sel      DiskSelector
	min, max uint64
}

// fieldErr is a problem with a field below a disk selector.
type fieldErr struct {
	field []any
	msg   string
}

// compileDiskSelector checks disks[i].
func compileDiskSelector(i int, s DiskSelector) (diskRule, []fieldErr) {
	r := diskRule{name: s.Name, sel: s}
	if r.name == "" {
		r.name = "disks[" + strconv.Itoa(i) + "]"
	}
	var errs []fieldErr
	bad := func(field string, format string, args ...any) {
		errs = append(errs, fieldErr{[]any{field}, fmt.Sprintf(format, args...)})
	}
	switch s.Use {
	case UseScratch, UseCeph:
	case "":
		errs = append(errs, fieldErr{nil, "use is missing; want use: scratch or use: ceph"})
	default:
		bad("use", "is %q; want scratch or ceph", s.Use)
	}
	if len(s.Name) > 63 || strings.ContainsAny(s.Name, " \t\n") {
		bad("name", "%q: at most 63 characters, no spaces", s.Name)
	}
	var err error
	if s.MinSize != "" {
		if r.min, err = ParseSize(s.MinSize); err != nil {
			bad("minSize", "%v", err)
		}
	}
	r.max = 1<<64 - 1
	if s.MaxSize != "" {
		if r.max, err = ParseSize(s.MaxSize); err != nil {
			bad("maxSize", "%v", err)
		} else if r.max < r.min {
			bad("maxSize", "%s is less than minSize %s", s.MaxSize, s.MinSize)
		}
	}
	for j, t := range s.Transports {
		if !slices.Contains(diskTransports(), t) {
			errs = append(errs, fieldErr{[]any{"transports", j}, fmt.Sprintf("%q is not one of %s", t, strings.Join(diskTransports(), ", "))})
		}
	}
	if s.ByID != "" {
		if err := checkGlob(s.ByID); err != nil {
			bad("byID", "%v", err)
		}
	}
	if s.Model != "" {
		if err := checkGlob(s.Model); err != nil {
			bad("model", "%v", err)
		}
	}
	if s.Limit < 0 {
		bad("limit", "is %d; want 0 (no limit) or more", s.Limit)
	}
	return r, errs
}

// matches reports whether a disk has the selector's attributes, and if
// not, which one it lacks.
func (r diskRule) matches(d v1alpha1.Disk) (bool, string) {
	s := r.sel
	switch {
	case d.SizeBytes < r.min:
		return false, fmt.Sprintf("smaller than %s", s.MinSize)
	case d.SizeBytes > r.max:
		return false, fmt.Sprintf("larger than %s", s.MaxSize)
	case s.Rotational != nil && *s.Rotational != d.Rotational:
		if d.Rotational {
			return false, "rotational"
		}
		return false, "not rotational"
	case len(s.Transports) > 0 && !slices.Contains(s.Transports, d.Transport):
		return false, fmt.Sprintf("transport %q is not in %v", d.Transport, s.Transports)
	case s.ByID != "" && !glob(s.ByID, strings.TrimPrefix(d.ByID, "/dev/disk/by-id/")):
		return false, fmt.Sprintf("by-id name %q does not match %q", strings.TrimPrefix(d.ByID, "/dev/disk/by-id/"), s.ByID)
	case s.Model != "" && !glob(s.Model, d.Model):
		return false, fmt.Sprintf("model %q does not match %q", d.Model, s.Model)
	}
	return true, ""
}

// classify says what a disk holds, and describes foreign data.
func classify(d v1alpha1.Disk) (contents, detail string) {
	if !d.Probed {
		return ContentUnknown, "its contents could not be read"
	}
	if d.Filesystem != nil {
		if d.Filesystem.Type == "bluestore" {
			return ContentCeph, "a Ceph bluestore OSD on the whole disk"
		}
		return ContentForeign, fmt.Sprintf("a filesystem (%s) on the whole disk", d.Filesystem.Type)
	}
	if d.PartitionTable == "" && len(d.Partitions) == 0 {
		return ContentBlank, ""
	}
	if d.PartitionTable != "gpt" {
		return ContentForeign, "a partition table Corral does not write (not GPT)"
	}
	if len(d.Partitions) == 0 {
		return ContentForeign, "an empty GPT partition table Corral did not write"
	}
	var scratch, ceph int
	for _, p := range d.Partitions {
		switch p.Label {
		case PartLabelScratch:
			scratch++
		case PartLabelCeph:
			ceph++
		default:
			fs := ""
			if p.Filesystem != nil {
				fs = " holding " + p.Filesystem.Type
			}
			return ContentForeign, fmt.Sprintf("partition %d (%q)%s, which Corral did not write", p.Number, p.Label, fs)
		}
	}
	switch {
	case ceph == 0:
		return ContentScratch, ""
	case scratch == 0:
		return ContentCeph, ""
	}
	return ContentForeign, "a mix of Corral scratch and Ceph partitions"
}

// PlanDisks decides, for every disk of the inventory in order, whether it
// becomes scratch, a Ceph OSD, or is left alone, following the profile's
// disk selectors. Disks that are never used, whatever the profile says: the
// boot disk, removable and read-only disks, mounted disks and disks whose
// contents could not be read. A disk holding data Corral did not write is
// wiped only when the selector that takes it sets allowWipeForeignData; a
// Ceph OSD is never wiped.
func (p *Profile) PlanDisks(inv *v1alpha1.Inventory) []DiskDecision {
	if inv == nil {
		return nil
	}
	taken := make([]int, len(p.disks))
	var out []DiskDecision
	for _, d := range inv.Disks {
		dd := DiskDecision{Name: d.Name, Path: d.Path, ByID: d.ByID, SizeBytes: d.SizeBytes, Use: UseNone, Action: ActionNone}
		contents, detail := classify(d)
		dd.Contents = contents
		switch {
		case d.Boot:
			dd.Reason = "boot disk: it holds the running system; never used"
		case d.Removable:
			dd.Reason = "removable disk; never used"
		case d.ReadOnly:
			dd.Reason = "read-only disk; never used"
		case len(d.Mountpoints) > 0:
			dd.Reason = fmt.Sprintf("mounted at %s; never used", strings.Join(d.Mountpoints, ", "))
		case contents == ContentUnknown:
			dd.Reason = "its contents could not be read (not probed); left alone"
		default:
			p.decideDisk(&dd, d, detail, taken)
		}
		out = append(out, dd)
	}
	return out
}

// decideDisk applies the first matching selector with room to a usable disk.
func (p *Profile) decideDisk(dd *DiskDecision, d v1alpha1.Disk, detail string, taken []int) {
	var misses []string
	for i, r := range p.disks {
		ok, why := r.matches(d)
		if !ok {
			misses = append(misses, r.name+": "+why)
			continue
		}
		if r.sel.Limit > 0 && taken[i] >= r.sel.Limit {
			misses = append(misses, fmt.Sprintf("%s: already has its %d disk(s)", r.name, r.sel.Limit))
			continue
		}
		dd.Selector = r.name
		use := r.sel.Use
		switch {
		case dd.Contents == ContentBlank:
			dd.Use, dd.Action = use, ActionCreate
			dd.Reason = fmt.Sprintf("blank; selector %s takes it for %s", r.name, use)
		case dd.Contents == use:
			dd.Use, dd.Action = use, ActionKeep
			dd.Reason = fmt.Sprintf("already holds Corral's %s data; selector %s keeps it", use, r.name)
			if use == UseCeph {
				dd.Reason = fmt.Sprintf("already a Ceph OSD; selector %s keeps it (the agent starts it only if it belongs to this cluster)", r.name)
			}
		case dd.Contents == ContentScratch && use == UseCeph:
			dd.Use, dd.Action = use, ActionWipe
			dd.Reason = fmt.Sprintf("holds Corral scratch data, which is disposable; selector %s wipes it for ceph", r.name)
		case dd.Contents == ContentCeph:
			// An OSD holds replicas the cluster may still need: taking it
			// out is Ceph's job (ceph osd purge, ceph-volume lvm zap), never
			// a side effect of a profile, whatever the selector allows.
			dd.Reason = fmt.Sprintf("holds a Ceph OSD; left alone: Corral never wipes an OSD for %s, even where selector %s allows wiping (remove it from Ceph and zap it first)", use, r.name)
			return
		case r.sel.AllowWipeForeignData:
			dd.Use, dd.Action = use, ActionWipe
			dd.Reason = fmt.Sprintf("holds %s; selector %s allows wiping foreign data, so it is wiped for %s", detail, r.name, use)
		default:
			dd.Reason = fmt.Sprintf("holds %s; left alone (selector %s does not set allowWipeForeignData)", detail, r.name)
			return
		}
		taken[i]++
		return
	}
	if len(p.disks) == 0 {
		dd.Reason = "the profile has no disk selectors; left alone"
		return
	}
	dd.Reason = "no disk selector matches (" + strings.Join(misses, "; ") + "); left alone"
}
