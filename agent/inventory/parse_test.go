package inventory

import (
	"bytes"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	api "corral.io/corral/api/v1alpha1"
)

func TestParseCPUInfo(t *testing.T) {
	data, err := os.ReadFile("testdata/build-vm/proc/cpuinfo")
	if err != nil {
		t.Fatal(err)
	}
	ci := ParseCPUInfo(data)
	if ci.Processors != 2 || ci.Vendor != "AuthenticAMD" || ci.Family != 25 || ci.ModelID != 17 || len(ci.Packages) != 1 || len(ci.Cores) != 2 {
		t.Errorf("build-vm cpuinfo = %+v", ci)
	}
	for name, in := range map[string]string{
		"empty":           "",
		"no colon":        "processor 0\nvendor_id AuthenticAMD\n",
		"bad numbers":     "processor\t: 0\ncpu family\t: x\nmodel\t: -\n",
		"binary garbage":  "\x00\xff:\xfe\n",
		"only separators": ":\n:\n",
	} {
		t.Run(name, func(t *testing.T) { ParseCPUInfo([]byte(in)) })
	}
}

func TestParseSMBIOS(t *testing.T) {
	var tb smbiosTable
	tb.addStrings(1, "Vendor", "", "Product")
	tb.addDIMM(dimm{locator: "DIMM_A1", sizeMiB: 32768, memType: 0x22, formFactor: 0x09, speed: 0xFFFF, configured: 4800})
	tb.addDIMM(dimm{locator: "DIMM_A2"}) // empty slot
	tb.addDIMM(dimm{locator: "DIMM_B1", sizeMiB: 0x20000, memType: 0x1A, formFactor: 0x09, speed: 3200})
	data := tb.end()
	// The 0xFFFF speed says "see the extended field at 0x54"; this record is
	// only 0x54 bytes long, so there is none and the speed is unknown.
	structs, err := ParseSMBIOS(data)
	if err != nil || len(structs) != 5 {
		t.Fatalf("ParseSMBIOS = %d structures, %v; want 5", len(structs), err)
	}
	if got := structs[0].str(6); got != "Product" {
		t.Errorf("third field of type 1 = %q, want Product (an unset field refers to string 0)", got)
	}
	mods := MemoryModules(structs)
	want := []struct {
		loc          string
		size         uint64
		typ          string
		speed, confd int
	}{{"DIMM_A1", 32 << 30, "DDR5", 0, 4800}, {"DIMM_B1", 128 << 30, "DDR4", 3200, 0}}
	if len(mods) != len(want) {
		t.Fatalf("modules = %+v", mods)
	}
	for i, w := range want {
		m := mods[i]
		if m.Locator != w.loc || m.SizeBytes != w.size || m.Type != w.typ || m.SpeedMTs != w.speed || m.ConfiguredSpeedMTs != w.confd {
			t.Errorf("module %d = %+v, want %+v", i, m, w)
		}
	}

	t.Run("real QEMU table", func(t *testing.T) {
		b, err := os.ReadFile("testdata/qemu-q35/sys/firmware/dmi/tables/DMI")
		if err != nil {
			t.Fatal(err)
		}
		structs, err := ParseSMBIOS(b)
		if err != nil {
			t.Fatal(err)
		}
		mods := MemoryModules(structs)
		if len(mods) != 1 || mods[0].Locator != "DIMM 0" || mods[0].SizeBytes != 1<<30 || mods[0].Type != "RAM" || mods[0].Manufacturer != "QEMU" {
			t.Errorf("QEMU's memory device = %+v, want DIMM 0, 1 GiB of RAM by QEMU", mods)
		}
	})
	t.Run("truncated table keeps what it read", func(t *testing.T) {
		structs, err := ParseSMBIOS(data[:len(data)-10])
		if err == nil || len(structs) != 3 {
			t.Errorf("got %d structures, err %v; want 3 and an error", len(structs), err)
		}
	})
	t.Run("short header", func(t *testing.T) {
		if _, err := ParseSMBIOS([]byte{17, 2, 0, 0, 0, 0}); err == nil {
			t.Error("want an error for a structure shorter than its header")
		}
	})
}

func TestParseBootIF(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"01-52-54-00-12-34-56", "52:54:00:12:34:56", true},
		{"01-B8-CE-F6-5A-10-20", "b8:ce:f6:5a:10:20", true},
		{"52:54:00:12:34:56", "52:54:00:12:34:56", true},
		{"06-52-54-00-12-34-56", "", false}, // hardware type 6 (IEEE 802) is not Ethernet
		{"01-52-54-00-12-34", "", false},
		{"", "", false},
		{"zz-zz", "", false},
		{"01-52-54-00-12-34-56-78-9a-bc-de-f0-11-22-33-44-55-66-77-88-99", "", false},
	}
	for _, tt := range tests {
		got, err := ParseBootIF(tt.in)
		if (err == nil) != tt.ok || (tt.ok && got.String() != tt.want) {
			t.Errorf("ParseBootIF(%q) = %v, %v; want %q ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
	cmdline := "BOOT_IMAGE=x BOOTIF=01-aa-bb-cc-dd-ee-ff quiet BOOTIF=01-52-54-00-12-34-56 -- BOOTIF=bogus"
	if v, _ := kernelArg(cmdline, "BOOTIF"); v != "01-52-54-00-12-34-56" {
		t.Errorf("kernelArg = %q, want the last BOOTIF before --", v)
	}
}

// Fuzz targets for the parsers that read what a machine (cpuinfo, firmware
// tables) or the network (BOOTIF, from the boot loader) hands the agent.
// Run one with e.g. go test ./agent/inventory -run '^$' -fuzz FuzzParseSMBIOS -fuzztime 30s.

func FuzzParseCPUInfo(f *testing.F) {
	if b, err := os.ReadFile("testdata/build-vm/proc/cpuinfo"); err == nil {
		f.Add(b)
	}
	f.Add([]byte("processor\t: 0\nphysical id\t: 1\ncore id\t: 3\nflags\t: fpu avx\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ci := ParseCPUInfo(b)
		if ci.Processors < 0 || len(ci.Cores) > bytes.Count(b, []byte("\n"))+1 {
			t.Errorf("impossible result %+v", ci)
		}
	})
}

func FuzzParseSMBIOS(f *testing.F) {
	qemu := f.TempDir()
	buildQEMU(f, qemu)
	for _, dir := range []string{qemu, dgxRoot(f)} {
		if b, err := os.ReadFile(dir + "/sys/firmware/dmi/tables/DMI"); err == nil {
			f.Add(b)
		}
	}
	if b, err := os.ReadFile("testdata/qemu-q35/sys/firmware/dmi/tables/DMI"); err == nil {
		f.Add(b)
	}
	f.Add([]byte{17, 4, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		structs, _ := ParseSMBIOS(b)
		for _, m := range MemoryModules(structs) {
			_ = m.Locator
		}
		for _, s := range structs {
			if len(s.Formatted) < 4 {
				t.Errorf("structure with a %d-byte formatted area", len(s.Formatted))
			}
		}
	})
}

func FuzzParseBootIF(f *testing.F) {
	for _, s := range []string{"01-52-54-00-12-34-56", "52:54:00:12:34:56", "06-00-00-00-00-00-00", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		hw, err := ParseBootIF(s)
		if err == nil && len(hw) != 6 {
			t.Errorf("ParseBootIF(%q) = %v: not an Ethernet MAC", s, hw)
		}
		if err == nil {
			if _, err := net.ParseMAC(hw.String()); err != nil {
				t.Errorf("round trip of %v: %v", hw, err)
			}
		}
	})
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, 4096, 4097, 100_000, maxAttrSize + 10} {
		want := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		path := dir + "/f"
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := readFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if size > maxAttrSize {
			want = want[:maxAttrSize] // bounded: nothing the inventory reads is that large
		}
		if !bytes.Equal(got, want) {
			t.Errorf("size %d: read %d bytes, want %d", size, len(got), len(want))
		}
	}
}

// TestProbeTimeout: a disk that never answers is reported unprobed, with a
// warning, instead of hanging the inventory.
func TestProbeTimeout(t *testing.T) {
	dir := t.TempDir()
	buildQEMU(t, dir)
	release := make(chan struct{})
	defer close(release)
	hang := func(string) (probeResult, error) { <-release; return probeResult{}, nil }
	w := &warnings{}
	d := readDisk(PrefixRoot(dir), w, "vda", diskContext{probe: hang, timeout: 50 * time.Millisecond})
	if d.Probed || len(w.all()) != 1 || !strings.Contains(w.all()[0], "no answer") {
		t.Errorf("probed %v, warnings %q; want unprobed with one warning", d.Probed, w.all())
	}
}

type hungGPUs struct{ release chan struct{} }

func (h hungGPUs) GPUs(note func(string, ...any)) (*api.NVIDIADriver, []api.GPU) {
	<-h.release
	note("late note")
	return &api.NVIDIADriver{}, nil
}

// TestNVMLTimeout: a hung NVML costs a note, not the inventory.
func TestNVMLTimeout(t *testing.T) {
	h := hungGPUs{make(chan struct{})}
	drv, gpus, notes := gpusWithin(h, 50*time.Millisecond)
	close(h.release) // the late answer must not race with the notes returned
	if drv != nil || gpus != nil || len(notes) != 1 || !strings.Contains(notes[0], "no answer") {
		t.Errorf("got %v %v %q; want nothing and one note", drv, gpus, notes)
	}
}

type panickingLinks struct{}

func (panickingLinks) Links() (map[string]LinkInfo, error) { panic("boom") }

// TestReaderPanic: a reader that panics costs its area and a warning.
func TestReaderPanic(t *testing.T) {
	dir := t.TempDir()
	buildQEMU(t, dir)
	inv := Collect(Options{Root: PrefixRoot(dir), Links: panickingLinks{}})
	if inv.NICs != nil || inv.CPU.Threads != 2 || !strings.Contains(strings.Join(inv.Warnings, "\n"), "nic: internal error, area skipped: boom") {
		t.Errorf("NICs %v, threads %d, warnings %q", inv.NICs, inv.CPU.Threads, inv.Warnings)
	}
}

func TestParseUnitSerial(t *testing.T) {
	for _, tc := range []struct {
		name string
		page []byte
		want string
	}{
		{"QEMU scsi-hd", append([]byte{0x00, 0x80, 0x00, 0x0a}, "CRL-DATA-0"...), "CRL-DATA-0"},
		{"padded with spaces, as SATA disks through libata", append([]byte{0x00, 0x80, 0x00, 0x14}, "      WD-WCC4N123456"...), "WD-WCC4N123456"},
		{"NUL padding", append([]byte{0x00, 0x80, 0x00, 0x08}, "S3Z\x00\x00\x00\x00\x00"...), "S3Z"},
		{"length beyond the data is cut to the data", append([]byte{0x00, 0x80, 0x00, 0xff}, "ABC"...), "ABC"},
		{"another page", append([]byte{0x00, 0x83, 0x00, 0x03}, "ABC"...), ""},
		{"too short", []byte{0x00, 0x80}, ""},
		{"binary serial", append([]byte{0x00, 0x80, 0x00, 0x02}, 0x01, 0x02), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseUnitSerial(tc.page); got != tc.want {
				t.Errorf("parseUnitSerial(%q) = %q, want %q", tc.page, got, tc.want)
			}
		})
	}
}

func FuzzParseUnitSerial(f *testing.F) {
	f.Add(append([]byte{0x00, 0x80, 0x00, 0x0a}, "CRL-DATA-0"...))
	f.Add([]byte{0x00, 0x80, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		s := parseUnitSerial(b)
		if len(s) > len(b) {
			t.Fatalf("serial %q longer than its page", s)
		}
	})
}

// TestTransport: the bus of a disk from its real sysfs path, named as lsblk
// names it (paths from QEMU q35 guests and a SATA/SAS server).
func TestTransport(t *testing.T) {
	for path, want := range map[string]string{
		"/sys/devices/pci0000:00/0000:00:03.0/virtio1/block/vda":                                           "virtio",
		"/sys/devices/pci0000:00/0000:00:05.0/virtio3/host2/target2:0:0/2:0:0:0/block/sda":                 "scsi",
		"/sys/devices/pci0000:00/0000:00:1f.2/ata1/host0/target0:0:0/0:0:0:0/block/sdb":                    "sata",
		"/sys/devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1":                                          "nvme",
		"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1/1-1:1.0/host3/target3:0:0/3:0:0:0/block/sdc":        "usb",
		"/sys/devices/pci0000:3a/0000:3a:00.0/host4/port-4:0/end_device-4:0/target4:0:0/4:0:0:0/block/sdd": "sas",
		"/sys/devices/virtual/block/loop0":                                                                 "",
	} {
		if got := transport(path); got != want {
			t.Errorf("transport(%s) = %q, want %q", path, got, want)
		}
	}
}
