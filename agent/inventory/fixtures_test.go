package inventory

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// This file builds the two synthetic machine dumps the tests use besides the
// real one in testdata/build-vm (see testdata/README.md for where every
// value comes from). They are built at test time so that a reader can see,
// and review, every value in one place.

// tree writes files and symlinks under a root directory.
type tree struct {
	t   testing.TB
	dir string
}

func (tr tree) file(path, content string) {
	tr.t.Helper()
	p := filepath.Join(tr.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		tr.t.Fatal(err)
	}
}

func (tr tree) link(path, target string) {
	tr.t.Helper()
	p := filepath.Join(tr.dir, path)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		tr.t.Fatal(err)
	}
	if err := os.Symlink(target, p); err != nil {
		tr.t.Fatal(err)
	}
}

// attrs writes name → value attribute files in dir, one line each as sysfs does.
func (tr tree) attrs(dir string, kv map[string]string) {
	tr.t.Helper()
	for k, v := range kv {
		tr.file(filepath.Join(dir, k), v+"\n")
	}
}

// relTo is the relative symlink target from the directory holding link to target.
func relTo(link, target string) string {
	r, err := filepath.Rel(filepath.Dir(link), target)
	if err != nil {
		panic(err)
	}
	return r
}

// smbiosTable encodes SMBIOS structures (DSP0134 §6.1.2) for tests.
type smbiosTable struct {
	buf    []byte
	handle uint16
}

// add appends a structure: formatted is the area after the 4-byte header,
// strs its strings (referenced from formatted by 1-based number).
func (s *smbiosTable) add(typ uint8, formatted []byte, strs ...string) {
	s.buf = append(s.buf, typ, byte(4+len(formatted)))
	s.buf = binary.LittleEndian.AppendUint16(s.buf, s.handle)
	s.handle++
	s.buf = append(s.buf, formatted...)
	if len(strs) == 0 {
		s.buf = append(s.buf, 0, 0)
		return
	}
	for _, str := range strs {
		s.buf = append(s.buf, str...)
		s.buf = append(s.buf, 0)
	}
	s.buf = append(s.buf, 0)
}

func (s *smbiosTable) end() []byte {
	s.add(127, nil)
	return s.buf
}

// dimm is one SMBIOS type 17 record.
type dimm struct {
	locator, bank, manufacturer, serial, part string
	sizeMiB                                   uint32
	memType, formFactor                       uint8
	speed, configured                         uint16
}

// addDIMM appends a type 17 structure of SMBIOS 3.2 length (0x54 bytes).
func (s *smbiosTable) addDIMM(d dimm) {
	f := make([]byte, 0x54-4)
	put16 := func(off int, v uint16) { binary.LittleEndian.PutUint16(f[off-4:], v) }
	put32 := func(off int, v uint32) { binary.LittleEndian.PutUint32(f[off-4:], v) }
	put16(0x04, 0xFFFE) // physical memory array handle (not modelled)
	put16(0x06, 0xFFFE)
	put16(0x08, 72) // total width, ECC
	put16(0x0A, 64)
	switch {
	case d.sizeMiB >= 0x7FFF:
		put16(0x0C, 0x7FFF)
		put32(0x1C, d.sizeMiB)
	default:
		put16(0x0C, uint16(d.sizeMiB))
	}
	f[0x0E-4] = d.formFactor
	var strs []string
	ref := func(off int, v string) {
		if v == "" {
			return
		}
		strs = append(strs, v)
		f[off-4] = byte(len(strs))
	}
	ref(0x10, d.locator)
	ref(0x11, d.bank)
	f[0x12-4] = d.memType
	put16(0x15, d.speed)
	ref(0x17, d.manufacturer)
	ref(0x18, d.serial)
	ref(0x1A, d.part)
	put16(0x20, d.configured)
	s.add(17, f, strs...)
}

// addStrings appends a structure whose formatted area is only string
// references (types 0–3 as tests need them: the kernel, not this package,
// decodes those into /sys/class/dmi/id).
func (s *smbiosTable) addStrings(typ uint8, strs ...string) {
	f := make([]byte, len(strs))
	var set []string
	for i, str := range strs {
		if str != "" { // SMBIOS strings cannot be empty: an unset field refers to string 0
			set = append(set, str)
			f[i] = byte(len(set))
		}
	}
	s.add(typ, f, set...)
}

// cpuinfoStanza writes one /proc/cpuinfo processor stanza as x86 Linux does.
func cpuinfoStanza(b *strings.Builder, n int, vendor string, family, model, stepping int, name, microcode string, mhz float64, pkg, core, siblings, cores int, flags string) {
	fmt.Fprintf(b, "processor\t: %d\nvendor_id\t: %s\ncpu family\t: %d\nmodel\t\t: %d\nmodel name\t: %s\nstepping\t: %d\nmicrocode\t: %s\ncpu MHz\t\t: %.3f\ncache size\t: 512 KB\nphysical id\t: %d\nsiblings\t: %d\ncore id\t\t: %d\ncpu cores\t: %d\nflags\t\t: %s\n\n",
		n, vendor, family, model, name, stepping, microcode, mhz, pkg, siblings, core, cores, flags)
}

// buildQEMU writes the dump of a Corral lab worker: QEMU 7.2 (Debian 12),
// machine q35, SeaBIOS, TCG, 2 vCPUs, 2 GiB, one virtio-blk disk of 20 GiB
// holding a GPT from an earlier install, one virtio-net NIC, network-booted
// (root on tmpfs, BOOTIF on the command line), no -uuid (so SMBIOS type 1
// carries the all-zero UUID). A real kernel hides an all-zero or all-F UUID
// (dmi_save_uuid leaves product_uuid out, as testdata/qemu-q35 shows); the
// file is written here anyway so that the agent's own rejection is tested.
func buildQEMU(t testing.TB, dir string) {
	tr := tree{t, dir}
	var ci strings.Builder
	const qflags = "fpu de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pse36 clflush mmx fxsr sse sse2 syscall nx lm rep_good nopl xtopology cpuid tsc_known_freq pni cx16 x2apic hypervisor lahf_lm svm 3dnowprefetch vmmcall"
	for i := 0; i < 2; i++ {
		cpuinfoStanza(&ci, i, "AuthenticAMD", 15, 107, 1, "QEMU Virtual CPU version 2.5+", "0x1000065", 2495.998, 0, i, 2, 2, qflags)
		tr.attrs(fmt.Sprintf("sys/devices/system/cpu/cpu%d/topology", i), map[string]string{"physical_package_id": "0", "core_id": fmt.Sprint(i)})
	}
	tr.file("proc/cpuinfo", ci.String())
	tr.file("proc/meminfo", "MemTotal:        2030940 kB\nMemFree:         1712304 kB\n")
	tr.file("proc/cmdline", "console=ttyS0 BOOTIF=01-52-54-00-12-34-56 corral.controller=http://10.77.0.1 ip=dhcp\n")
	tr.file("proc/sys/kernel/osrelease", "6.1.0-28-amd64\n")
	tr.file("proc/self/mountinfo", "20 1 0:19 / / rw,relatime - tmpfs rootfs rw,size=1015468k\n21 20 0:5 / /dev rw - devtmpfs udev rw\n22 20 0:20 / /sys rw - sysfs sysfs rw\n23 20 0:21 / /proc rw - proc proc rw\n")
	tr.file("etc/os-release", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nID=debian\n")
	tr.attrs("sys/devices/system/node/node0", map[string]string{"cpulist": "0-1", "distance": "10"})
	tr.file("sys/devices/system/node/node0/meminfo", "Node 0 MemTotal:        2030940 kB\nNode 0 MemFree:         1712304 kB\n")
	tr.file("sys/devices/system/clocksource/clocksource0/available_clocksource", "tsc hpet acpi_pm \n")

	tr.attrs("sys/class/dmi/id", map[string]string{
		"sys_vendor": "QEMU", "product_name": "Standard PC (Q35 + ICH9, 2009)", "product_version": "pc-q35-7.2",
		"product_uuid": "00000000-0000-0000-0000-000000000000", "chassis_vendor": "QEMU", "chassis_type": "1",
		"chassis_version": "pc-q35-7.2", "bios_vendor": "SeaBIOS", "bios_version": "1.16.2-debian-1.16.2-1",
		"bios_date": "04/01/2014",
	})
	var sm smbiosTable
	sm.addStrings(0, "SeaBIOS", "1.16.2-debian-1.16.2-1", "04/01/2014")
	sm.addStrings(1, "QEMU", "Standard PC (Q35 + ICH9, 2009)", "pc-q35-7.2")
	sm.addStrings(3, "QEMU", "pc-q35-7.2")
	sm.addDIMM(dimm{locator: "DIMM 0", manufacturer: "QEMU", sizeMiB: 2048, memType: 0x07, formFactor: 0x09})
	tr.file("sys/firmware/dmi/tables/DMI", string(sm.end()))

	pci := "sys/devices/pci0000:00"
	for addr, a := range map[string][3]string{
		"0000:00:01.0": {"0x030000", "0x1234", "0x1111"}, // bochs-display (-vga std)
		"0000:00:02.0": {"0x020000", "0x1af4", "0x1000"}, // virtio-net
		"0000:00:03.0": {"0x010000", "0x1af4", "0x1001"}, // virtio-blk
	} {
		d := filepath.Join(pci, addr)
		tr.attrs(d, map[string]string{"class": a[0], "vendor": a[1], "device": a[2], "numa_node": "-1"})
		tr.link(filepath.Join("sys/bus/pci/devices", addr), relTo(filepath.Join("sys/bus/pci/devices", addr), d))
	}
	tr.link(pci+"/0000:00:01.0/driver", "../../../bus/pci/drivers/bochs-drm")

	// virtio-blk disk vda: 20 GiB, GPT with a BIOS boot and a root partition.
	vda := pci + "/0000:00:03.0/virtio1/block/vda"
	tr.attrs(vda, map[string]string{"size": "41943040", "removable": "0", "ro": "0", "dev": "254:0"})
	tr.attrs(vda+"/queue", map[string]string{"logical_block_size": "512", "physical_block_size": "512", "rotational": "1"})
	tr.attrs(vda+"/vda1", map[string]string{"partition": "1", "start": "2048", "size": "2048", "dev": "254:1"})
	tr.attrs(vda+"/vda2", map[string]string{"partition": "2", "start": "4096", "size": "41936896", "dev": "254:2"})
	tr.link(pci+"/0000:00:03.0/virtio1/driver", "../../../../bus/virtio/drivers/virtio_blk")
	tr.link(vda+"/device", "../../../virtio1")
	tr.link("sys/block/vda", relTo("sys/block/vda", vda))

	eth := pci + "/0000:00:02.0/virtio0/net/eth0"
	tr.attrs(eth, map[string]string{"address": "52:54:00:12:34:56", "addr_assign_type": "0", "mtu": "1500", "speed": "-1", "operstate": "up", "carrier": "1"})
	tr.link(eth+"/device", "../../../virtio0")
	tr.link(pci+"/0000:00:02.0/virtio0/driver", "../../../../bus/virtio/drivers/virtio_net")
	tr.link("sys/class/net/eth0", relTo("sys/class/net/eth0", eth))
	lo := "sys/devices/virtual/net/lo"
	tr.attrs(lo, map[string]string{"address": "00:00:00:00:00:00", "addr_assign_type": "0", "mtu": "65536", "operstate": "unknown", "carrier": "1"})
	tr.link("sys/class/net/lo", relTo("sys/class/net/lo", lo))
}

// dgxGPUs are the PCI addresses of the eight A100s of a DGX A100 and the NUMA
// node each is attached to (NPS4: four nodes per socket), in NVML index order.
var dgxGPUs = []struct {
	addr string
	numa int
}{
	{"0000:07:00.0", 3}, {"0000:0f:00.0", 3}, {"0000:47:00.0", 1}, {"0000:4e:00.0", 1},
	{"0000:87:00.0", 7}, {"0000:90:00.0", 7}, {"0000:b7:00.0", 5}, {"0000:bd:00.0", 5},
}

// buildDGX writes a synthetic dump laid out after an NVIDIA DGX A100: two
// AMD EPYC 7742 (64 cores, SMT) in NPS4 mode (8 NUMA nodes), 16 × 64 GiB
// DDR4-3200 RDIMMs in 32 slots, eight A100-SXM4-40GB, an ASPEED BMC display,
// two M.2 NVMe boot drives and four U.2 NVMe data drives (one of which
// holds a Ceph bluestore OSD from an earlier life), two dual-port ConnectX-6
// Dx Ethernet NICs with SR-IOV, and two ConnectX-6 InfiniBand ports. Serial
// numbers, UUID and MACs are made up. Each disk's /dev node is a small
// image file so that probing runs too.
func buildDGX(t testing.TB, dir string) {
	tr := tree{t, dir}
	const flags = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ht syscall nx mmxext fxsr_opt pdpe1gb rdtscp lm constant_tsc rep_good nopl nonstop_tsc cpuid extd_apicid aperfmperf rapl pni pclmulqdq monitor ssse3 fma cx16 sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand lahf_lm cmp_legacy svm extapic cr8_legacy abm sse4a misalignsse 3dnowprefetch osvw ibs skinit wdt tce topoext perfctr_core perfctr_nb bpext perfctr_llc mwaitx cpb cat_l3 cdp_l3 hw_pstate ssbd mba ibrs ibpb stibp vmmcall fsgsbase bmi1 avx2 smep bmi2 cqm rdt_a rdseed adx smap clflushopt clwb sha_ni xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local clzero irperf xsaveerptr rdpru wbnoinvd amd_ppin arat npt lbrv svm_lock nrip_save tsc_scale vmcb_clean flushbyasid decodeassists pausefilter pfthreshold avic v_vmsave_vmload vgif v_spec_ctrl umip rdpid overflow_recov succor smca sme sev sev_es"
	var ci strings.Builder
	// Linux numbers AMD threads: first every core of socket 0, then of
	// socket 1, then the SMT siblings in the same order.
	for n := 0; n < 256; n++ {
		core := n % 128
		pkg := core / 64
		cpuinfoStanza(&ci, n, "AuthenticAMD", 23, 49, 0, "AMD EPYC 7742 64-Core Processor", "0x830104d", 2250.000, pkg, core%64, 128, 64, flags)
		d := fmt.Sprintf("sys/devices/system/cpu/cpu%d", n)
		tr.attrs(d+"/topology", map[string]string{"physical_package_id": fmt.Sprint(pkg), "core_id": fmt.Sprint(core % 64)})
		tr.attrs(d+"/cpufreq", map[string]string{"cpuinfo_min_freq": "1500000", "cpuinfo_max_freq": "2250000"})
	}
	tr.file("proc/cpuinfo", ci.String())
	tr.file("proc/meminfo", "MemTotal:       1056561752 kB\nMemFree:        1031232112 kB\n")
	tr.file("proc/cmdline", "BOOT_IMAGE=vmlinuz BOOTIF=01-b8-ce-f6-5a-10-20 corral.controller=http://10.77.0.1 console=ttyS1,115200n8\n")
	tr.file("proc/sys/kernel/osrelease", "6.1.0-28-amd64\n")
	tr.file("proc/self/mountinfo", "20 1 0:19 / / rw,relatime - tmpfs rootfs rw\n")
	tr.file("etc/os-release", "ID=debian\nVERSION_ID=\"12\"\n")
	tr.file("sys/firmware/efi/systab", "ACPI20=0x6b5e3000\n")

	for node := 0; node < 8; node++ {
		lo := node * 16
		d := fmt.Sprintf("sys/devices/system/node/node%d", node)
		var dist []string
		for other := 0; other < 8; other++ {
			switch {
			case other == node:
				dist = append(dist, "10")
			case other/4 == node/4:
				dist = append(dist, "12")
			default:
				dist = append(dist, "32")
			}
		}
		tr.attrs(d, map[string]string{"cpulist": fmt.Sprintf("%d-%d,%d-%d", lo, lo+15, 128+lo, 128+lo+15), "distance": strings.Join(dist, " ")})
		tr.file(d+"/meminfo", fmt.Sprintf("Node %d MemTotal:       132070219 kB\nNode %d MemFree:        128904014 kB\n", node, node))
	}

	tr.attrs("sys/class/dmi/id", map[string]string{
		"sys_vendor": "NVIDIA", "product_name": "DGXA100", "product_version": "Default string",
		"product_serial": "SYNTH0000000001", "product_uuid": "8c3b1a2e-5f4d-4e7a-9b21-0d6c2f9e7a11",
		"product_sku": "Default string", "product_family": "DGX",
		"board_vendor": "NVIDIA", "board_name": "DGXA100", "board_serial": "SYNTH-BOARD-0001",
		"chassis_vendor": "NVIDIA", "chassis_type": "23", "chassis_serial": "SYNTH-CHASSIS-0001",
		"chassis_asset_tag": "To Be Filled By O.E.M.",
		"bios_vendor":       "American Megatrends International, LLC.", "bios_version": "1.25", "bios_date": "07/26/2023",
	})
	var sm smbiosTable
	sm.addStrings(0, "American Megatrends International, LLC.", "1.25", "07/26/2023")
	sm.addStrings(1, "NVIDIA", "DGXA100", "Default string", "SYNTH0000000001")
	sm.addStrings(2, "NVIDIA", "DGXA100", "", "SYNTH-BOARD-0001")
	sm.addStrings(3, "NVIDIA", "", "SYNTH-CHASSIS-0001")
	for cpu := 0; cpu < 2; cpu++ {
		for ch := 0; ch < 8; ch++ {
			for slot := 1; slot <= 2; slot++ {
				d := dimm{locator: fmt.Sprintf("CPU%d_DIMM_%c%d", cpu, 'A'+ch, slot), bank: fmt.Sprintf("P%d_Node%d_Channel%c_Dimm%d", cpu, cpu, 'A'+ch, slot-1)}
				if slot == 1 { // one RDIMM per channel populated
					d.manufacturer, d.part = "Samsung", "M393A8G40AB2-CWE"
					d.serial = fmt.Sprintf("SYN%02d%02d", cpu, ch)
					d.sizeMiB, d.memType, d.formFactor, d.speed, d.configured = 65536, 0x1A, 0x09, 3200, 3200
				} else {
					d.manufacturer, d.memType, d.formFactor = "NO DIMM", 0x02, 0x02
				}
				sm.addDIMM(d)
			}
		}
	}
	tr.file("sys/firmware/dmi/tables/DMI", string(sm.end()))

	pciDev := func(addr, class, vendor, device string, numa int, driver string, extra map[string]string) string {
		bus := "pci0000:" + addr[5:7]
		d := filepath.Join("sys/devices", bus, addr)
		kv := map[string]string{"class": class, "vendor": vendor, "device": device, "numa_node": fmt.Sprint(numa)}
		for k, v := range extra {
			kv[k] = v
		}
		tr.attrs(d, kv)
		if driver != "" {
			tr.link(d+"/driver", "../../../bus/pci/drivers/"+driver)
		}
		tr.link("sys/bus/pci/devices/"+addr, relTo("sys/bus/pci/devices/"+addr, d))
		return d
	}
	for _, g := range dgxGPUs {
		pciDev(g.addr, "0x030200", "0x10de", "0x20b0", g.numa, "nvidia", nil)
	}
	pciDev("0000:c2:00.0", "0x030000", "0x1a03", "0x2000", 6, "ast", nil)

	type nvme struct {
		name, addr, model, serial, wwid string
		sectors                         string
		numa                            int
	}
	disks := []nvme{
		{"nvme0n1", "0000:22:00.0", "SAMSUNG MZ1LB1T9HALS-00007", "S436NA0R000001", "eui.343634305a0000010025384100000001", "3750748848", 2},
		{"nvme1n1", "0000:23:00.0", "SAMSUNG MZ1LB1T9HALS-00007", "S436NA0R000002", "eui.343634305a0000020025384100000001", "3750748848", 2},
		{"nvme2n1", "0000:08:00.0", "SAMSUNG MZWLJ3T8HBLS-00007", "S55KNC0R000003", "eui.36344830520000030025384500000001", "7501476528", 3},
		{"nvme3n1", "0000:09:00.0", "SAMSUNG MZWLJ3T8HBLS-00007", "S55KNC0R000004", "eui.36344830520000040025384500000001", "7501476528", 3},
		{"nvme4n1", "0000:88:00.0", "SAMSUNG MZWLJ3T8HBLS-00007", "S55KNC0R000005", "eui.36344830520000050025384500000001", "7501476528", 7},
		{"nvme5n1", "0000:89:00.0", "SAMSUNG MZWLJ3T8HBLS-00007", "S55KNC0R000006", "eui.36344830520000060025384500000001", "7501476528", 7},
	}
	for i, d := range disks {
		dev := pciDev(d.addr, "0x010802", "0x144d", "0xa824", d.numa, "nvme", nil)
		ctrl := fmt.Sprintf("%s/nvme/nvme%d", dev, i)
		tr.attrs(ctrl, map[string]string{"model": d.model, "serial": d.serial})
		blk := ctrl + "/" + d.name
		tr.attrs(blk, map[string]string{"size": d.sectors, "removable": "0", "ro": "0", "dev": fmt.Sprintf("259:%d", i), "wwid": d.wwid})
		tr.attrs(blk+"/queue", map[string]string{"logical_block_size": "512", "physical_block_size": "512", "rotational": "0"})
		tr.link(blk+"/device", "../../nvme"+fmt.Sprint(i))
		tr.link("sys/block/"+d.name, relTo("sys/block/"+d.name, blk))
		tr.file(fmt.Sprintf("run/udev/data/b259:%d", i), fmt.Sprintf("S:disk/by-id/nvme-%s_%s\nS:disk/by-id/nvme-%s\nE:ID_MODEL=%s\n", strings.ReplaceAll(d.model, " ", "_"), d.serial, d.wwid, d.model))
		img := make([]byte, 1<<20)
		if d.name == "nvme3n1" {
			// ceph-volume raw mode: the bluestore label at the start of the whole device.
			copy(img, "bluestore block device\n6f1c2d4e-9a8b-4c3d-8e7f-1a2b3c4d5e6f\n")
		}
		tr.file("dev/"+d.name, string(img))
	}

	type nic struct {
		name, addr, mac, driver string
		speed                   string
		typ                     string
		vfs                     bool
	}
	nics := []nic{
		{"enp97s0f0", "0000:61:00.0", "b8:ce:f6:5a:10:20", "mlx5_core", "100000", "1", true},
		{"enp97s0f1", "0000:61:00.1", "b8:ce:f6:5a:10:21", "mlx5_core", "-1", "1", true},
		{"enp225s0f0", "0000:e1:00.0", "b8:ce:f6:5a:10:30", "mlx5_core", "100000", "1", true},
		{"enp225s0f1", "0000:e1:00.1", "b8:ce:f6:5a:10:31", "mlx5_core", "-1", "1", true},
		{"ibp12s0", "0000:0c:00.0", "00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:40", "mlx5_core", "200000", "32", false},
		{"ibp75s0", "0000:4b:00.0", "00:00:10:49:fe:80:00:00:00:00:00:00:b8:ce:f6:03:00:5a:10:41", "mlx5_core", "200000", "32", false},
	}
	for _, n := range nics {
		extra := map[string]string{}
		if n.vfs {
			extra["sriov_totalvfs"], extra["sriov_numvfs"] = "8", "0"
		}
		dev := pciDev(n.addr, "0x020000", "0x15b3", "0x101d", 1, n.driver, extra)
		nd := dev + "/net/" + n.name
		carrier, state := "1", "up"
		if n.speed == "-1" {
			carrier, state = "0", "down"
		}
		tr.attrs(nd, map[string]string{"address": n.mac, "addr_assign_type": "0", "mtu": "9000", "speed": n.speed, "operstate": state, "carrier": carrier, "type": n.typ})
		tr.link(nd+"/device", "../../../"+n.addr)
		tr.link("sys/class/net/"+n.name, relTo("sys/class/net/"+n.name, nd))
	}
	// A bridge and the loopback: no device, so not NICs.
	for _, v := range []string{"lo", "cni0"} {
		d := "sys/devices/virtual/net/" + v
		tr.attrs(d, map[string]string{"address": "0a:58:0a:2a:00:01", "addr_assign_type": "3", "mtu": "1500", "operstate": "up"})
		tr.link("sys/class/net/"+v, relTo("sys/class/net/"+v, d))
	}
}
