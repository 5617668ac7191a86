package profiles

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
)

const gib = 1 << 30

// blank is a probed, empty, non-rotational NVMe disk.
func blank(name string, size uint64) v1alpha1.Disk {
	return v1alpha1.Disk{Name: name, Path: "/dev/" + name, SizeBytes: size, Transport: "nvme", Probed: true,
		ByID: "/dev/disk/by-id/nvme-SAMSUNG_" + name}
}

// with returns d changed by f.
func with(d v1alpha1.Disk, f func(*v1alpha1.Disk)) v1alpha1.Disk {
	f(&d)
	return d
}

func ext4(d *v1alpha1.Disk) { d.Filesystem = &v1alpha1.Filesystem{Type: "ext4"} }

func bluestore(d *v1alpha1.Disk) { d.Filesystem = &v1alpha1.Filesystem{Type: "bluestore"} }

func gptWith(labels ...string) func(*v1alpha1.Disk) {
	return func(d *v1alpha1.Disk) {
		d.PartitionTable = "gpt"
		for i, l := range labels {
			d.Partitions = append(d.Partitions, v1alpha1.Partition{Number: i + 1, Label: l})
		}
	}
}

// decision is the part of a DiskDecision a test states.
type decision struct {
	Name, Contents, Use, Action, Selector, Reason string
}

func TestPlanDisks(t *testing.T) {
	scratchThenCeph := "disks:\n  - name: fast\n    use: scratch\n    limit: 1\n  - name: osd\n    use: ceph\n"
	tests := []struct {
		name  string
		disks string // the profile's disk selectors
		inv   []v1alpha1.Disk
		want  []decision
	}{
		{
			name:  "a disk with an ext4 filesystem is left alone when its selector does not allow wiping",
			disks: scratchThenCeph,
			inv:   []v1alpha1.Disk{with(blank("sda", 500*gib), ext4), blank("sdb", 500*gib)},
			want: []decision{
				{"sda", ContentForeign, UseNone, ActionNone, "fast", "holds a filesystem (ext4) on the whole disk; left alone (selector fast does not set allowWipeForeignData)"},
				{"sdb", ContentBlank, UseScratch, ActionCreate, "fast", "blank; selector fast takes it for scratch"},
			},
		},
		{
			name:  "a disk with an ext4 filesystem is wiped when its selector allows it",
			disks: "disks:\n  - name: fast\n    use: scratch\n    allowWipeForeignData: true\n",
			inv:   []v1alpha1.Disk{with(blank("sda", 500*gib), ext4)},
			want: []decision{
				{"sda", ContentForeign, UseScratch, ActionWipe, "fast", "holds a filesystem (ext4) on the whole disk; selector fast allows wiping foreign data, so it is wiped for scratch"},
			},
		},
		{
			name:  "allowing wipes on one selector does not allow them on another",
			disks: "disks:\n  - name: small\n    use: scratch\n    maxSize: 100Gi\n  - name: big\n    use: ceph\n    minSize: 1Ti\n    allowWipeForeignData: true\n",
			inv:   []v1alpha1.Disk{with(blank("sda", 50*gib), ext4), with(blank("sdb", 2000*gib), ext4)},
			want: []decision{
				{"sda", ContentForeign, UseNone, ActionNone, "small", "holds a filesystem (ext4) on the whole disk; left alone (selector small does not set allowWipeForeignData)"},
				{"sdb", ContentForeign, UseCeph, ActionWipe, "big", "holds a filesystem (ext4) on the whole disk; selector big allows wiping foreign data, so it is wiped for ceph"},
			},
		},
		{
			name:  "the boot disk is never used, even where wiping is allowed",
			disks: "disks:\n  - use: scratch\n    allowWipeForeignData: true\n",
			inv:   []v1alpha1.Disk{with(blank("vda", 256*gib), func(d *v1alpha1.Disk) { d.Boot = true; ext4(d) })},
			want: []decision{
				{"vda", ContentForeign, UseNone, ActionNone, "", "boot disk: it holds the running system; never used"},
			},
		},
		{
			name:  "removable, read-only and mounted disks are never used",
			disks: "disks:\n  - use: scratch\n    allowWipeForeignData: true\n",
			inv: []v1alpha1.Disk{
				with(blank("sda", 64*gib), func(d *v1alpha1.Disk) { d.Removable = true }),
				with(blank("sdb", 64*gib), func(d *v1alpha1.Disk) { d.ReadOnly = true }),
				with(blank("sdc", 64*gib), func(d *v1alpha1.Disk) { d.Mountpoints = []string{"/mnt"} }),
			},
			want: []decision{
				{"sda", ContentBlank, UseNone, ActionNone, "", "removable disk; never used"},
				{"sdb", ContentBlank, UseNone, ActionNone, "", "read-only disk; never used"},
				{"sdc", ContentBlank, UseNone, ActionNone, "", "mounted at /mnt; never used"},
			},
		},
		{
			name:  "a disk whose contents could not be read is left alone, even where wiping is allowed",
			disks: "disks:\n  - use: scratch\n    allowWipeForeignData: true\n",
			inv:   []v1alpha1.Disk{with(blank("sda", 64*gib), func(d *v1alpha1.Disk) { d.Probed = false })},
			want: []decision{
				{"sda", ContentUnknown, UseNone, ActionNone, "", "its contents could not be read (not probed); left alone"},
			},
		},
		{
			name:  "an MBR disk and a GPT disk with other partitions are foreign",
			disks: scratchThenCeph,
			inv: []v1alpha1.Disk{
				with(blank("sda", 64*gib), func(d *v1alpha1.Disk) {
					d.PartitionTable = "other"
					d.Partitions = []v1alpha1.Partition{{Number: 1}}
				}),
				with(blank("sdb", 64*gib), gptWith(PartLabelScratch, "EFI system partition")),
			},
			want: []decision{
				{"sda", ContentForeign, UseNone, ActionNone, "fast", "holds a partition table Corral does not write (not GPT); left alone (selector fast does not set allowWipeForeignData)"},
				{"sdb", ContentForeign, UseNone, ActionNone, "fast", `holds partition 2 ("EFI system partition"), which Corral did not write; left alone (selector fast does not set allowWipeForeignData)`},
			},
		},
		{
			name:  "Corral's own scratch and Ceph disks are kept for the same use",
			disks: scratchThenCeph,
			inv: []v1alpha1.Disk{
				with(blank("nvme0n1", 900*gib), gptWith(PartLabelScratch)),
				with(blank("nvme1n1", 900*gib), gptWith(PartLabelCeph)),
				with(blank("nvme2n1", 900*gib), bluestore),
			},
			want: []decision{
				{"nvme0n1", ContentScratch, UseScratch, ActionKeep, "fast", "already holds Corral's scratch data; selector fast keeps it"},
				{"nvme1n1", ContentCeph, UseCeph, ActionKeep, "osd", "already a Ceph OSD; selector osd keeps it (the agent starts it only if it belongs to this cluster)"},
				{"nvme2n1", ContentCeph, UseCeph, ActionKeep, "osd", "already a Ceph OSD; selector osd keeps it (the agent starts it only if it belongs to this cluster)"},
			},
		},
		{
			name:  "a Ceph OSD is not used for scratch, but scratch is wiped for Ceph",
			disks: "disks:\n  - name: fast\n    use: scratch\n    maxSize: 1000Gi\n  - name: osd\n    use: ceph\n    minSize: 1001Gi\n",
			inv: []v1alpha1.Disk{
				with(blank("nvme0n1", 900*gib), bluestore),
				with(blank("nvme1n1", 2000*gib), gptWith(PartLabelScratch)),
			},
			want: []decision{
				{"nvme0n1", ContentCeph, UseNone, ActionNone, "fast", "holds a Ceph OSD; left alone: Corral never wipes an OSD for scratch, even where selector fast allows wiping (remove it from Ceph and zap it first)"},
				{"nvme1n1", ContentScratch, UseCeph, ActionWipe, "osd", "holds Corral scratch data, which is disposable; selector osd wipes it for ceph"},
			},
		},
		{
			name:  "a Ceph OSD is never wiped for scratch, even where wiping foreign data is allowed",
			disks: "disks:\n  - name: any\n    use: scratch\n    allowWipeForeignData: true\n",
			inv: []v1alpha1.Disk{
				with(blank("nvme0n1", 900*gib), bluestore),
				with(blank("nvme1n1", 900*gib), gptWith(PartLabelCeph)),
			},
			want: []decision{
				{"nvme0n1", ContentCeph, UseNone, ActionNone, "any", "holds a Ceph OSD; left alone: Corral never wipes an OSD for scratch, even where selector any allows wiping (remove it from Ceph and zap it first)"},
				{"nvme1n1", ContentCeph, UseNone, ActionNone, "any", "holds a Ceph OSD; left alone: Corral never wipes an OSD for scratch, even where selector any allows wiping (remove it from Ceph and zap it first)"},
			},
		},
		{
			name:  "a limit is honoured and a disk left alone does not count against it",
			disks: "disks:\n  - name: fast\n    use: scratch\n    limit: 1\n",
			inv:   []v1alpha1.Disk{with(blank("sda", 64*gib), ext4), blank("sdb", 64*gib), blank("sdc", 64*gib)},
			want: []decision{
				{"sda", ContentForeign, UseNone, ActionNone, "fast", "holds a filesystem (ext4) on the whole disk; left alone (selector fast does not set allowWipeForeignData)"},
				{"sdb", ContentBlank, UseScratch, ActionCreate, "fast", "blank; selector fast takes it for scratch"},
				{"sdc", ContentBlank, UseNone, ActionNone, "", "no disk selector matches (fast: already has its 1 disk(s)); left alone"},
			},
		},
		{
			name: "size, rotation, transport, by-id and model are all checked",
			disks: "disks:\n  - name: s\n    use: scratch\n    minSize: 100Gi\n    maxSize: 1Ti\n    rotational: false\n" +
				"    transports: [nvme]\n    byID: nvme-SAMSUNG_*\n    model: \"SAMSUNG *\"\n",
			inv: []v1alpha1.Disk{
				blank("small", 10*gib),
				blank("huge", 2000*gib),
				with(blank("spinning", 500*gib), func(d *v1alpha1.Disk) { d.Rotational = true }),
				with(blank("sata", 500*gib), func(d *v1alpha1.Disk) { d.Transport = "sata" }),
				with(blank("intel", 500*gib), func(d *v1alpha1.Disk) { d.ByID = "/dev/disk/by-id/nvme-INTEL_1" }),
				with(blank("noname", 500*gib), func(d *v1alpha1.Disk) { d.Model = "INTEL SSD" }),
				with(blank("right", 500*gib), func(d *v1alpha1.Disk) { d.Model = "SAMSUNG MZ1LB1T9" }),
			},
			want: []decision{
				{"small", ContentBlank, UseNone, ActionNone, "", "no disk selector matches (s: smaller than 100Gi); left alone"},
				{"huge", ContentBlank, UseNone, ActionNone, "", "no disk selector matches (s: larger than 1Ti); left alone"},
				{"spinning", ContentBlank, UseNone, ActionNone, "", "no disk selector matches (s: rotational); left alone"},
				{"sata", ContentBlank, UseNone, ActionNone, "", `no disk selector matches (s: transport "sata" is not in [nvme]); left alone`},
				{"intel", ContentBlank, UseNone, ActionNone, "", `no disk selector matches (s: by-id name "nvme-INTEL_1" does not match "nvme-SAMSUNG_*"); left alone`},
				{"noname", ContentBlank, UseNone, ActionNone, "", `no disk selector matches (s: model "INTEL SSD" does not match "SAMSUNG *"); left alone`},
				{"right", ContentBlank, UseScratch, ActionCreate, "s", "blank; selector s takes it for scratch"},
			},
		},
		{
			name:  "a profile without disk selectors leaves every disk alone",
			disks: "",
			inv:   []v1alpha1.Disk{blank("sda", 64*gib)},
			want:  []decision{{"sda", ContentBlank, UseNone, ActionNone, "", "the profile has no disk selectors; left alone"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustParse(t, prof("p", 0, tt.disks))[0]
			var got []decision
			for _, d := range p.PlanDisks(&v1alpha1.Inventory{Disks: tt.inv}) {
				got = append(got, decision{d.Name, d.Contents, d.Use, d.Action, d.Selector, d.Reason})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPlanDisksOnRealInventories(t *testing.T) {
	defaults := mustDefaults(t)
	profile := func(name string) *Profile {
		for _, p := range defaults {
			if p.Name == name {
				return p
			}
		}
		t.Fatalf("no profile %s", name)
		return nil
	}
	tests := []struct {
		name    string
		fixture string
		profile string
		want    []decision
	}{
		{
			name: "the DGX's first NVMe becomes scratch, the others Ceph, and its existing OSD is kept", fixture: "dgx-a100", profile: "gpu-worker",
			want: []decision{
				{"nvme0n1", ContentBlank, UseScratch, ActionCreate, "scratch", "blank; selector scratch takes it for scratch"},
				{"nvme1n1", ContentBlank, UseCeph, ActionCreate, "osd", "blank; selector osd takes it for ceph"},
				{"nvme2n1", ContentBlank, UseCeph, ActionCreate, "osd", "blank; selector osd takes it for ceph"},
				{"nvme3n1", ContentCeph, UseCeph, ActionKeep, "osd", "already a Ceph OSD; selector osd keeps it (the agent starts it only if it belongs to this cluster)"},
				{"nvme4n1", ContentBlank, UseCeph, ActionCreate, "osd", "blank; selector osd takes it for ceph"},
				{"nvme5n1", ContentBlank, UseCeph, ActionCreate, "osd", "blank; selector osd takes it for ceph"},
			},
		},
		{
			name: "the build VM's only disk is its boot disk and is never used", fixture: "build-vm", profile: "compute",
			want: []decision{{"vda", ContentUnknown, UseNone, ActionNone, "", "boot disk: it holds the running system; never used"}},
		},
		{
			name: "the QEMU VM's disk with an unread MBR is left alone", fixture: "qemu", profile: "compute",
			want: []decision{{"vda", ContentUnknown, UseNone, ActionNone, "", "its contents could not be read (not probed); left alone"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []decision
			for _, d := range profile(tt.profile).PlanDisks(readInventory(t, tt.fixture)) {
				got = append(got, decision{d.Name, d.Contents, d.Use, d.Action, d.Selector, d.Reason})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
		})
	}
}
