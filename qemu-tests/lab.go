// Package qemutests is Corral's virtual lab: end-to-end tests that drive the
// real binaries from the outside. A test gets a network namespace with a
// bridge, runs `bin/corral controller` inside it as a separate process, and
// boots QEMU virtual machines (-accel tcg, real SeaBIOS/iPXE or OVMF firmware)
// on taps attached to that bridge. Assertions are made on the VM's serial
// console and on what the controller logged and counted.
//
// Everything a test starts is stopped and removed in t.Cleanup, even when the
// test fails; then the serial consoles, the controller's log and its config
// are copied to qemu-tests/artifacts/<test>/ and the path is logged.
//
// CORRAL_BIN runs the lab against another corral binary than bin/corral;
// CORRAL_LAB_KEEP=1 keeps the artifacts of passing tests too.
//
// Prerequisites (a test skips with one line naming the fix when one is
// missing): root, qemu-system-x86_64 and the firmware packages (qemu-system-x86,
// ipxe-qemu, ovmf, ipxe), `make build` for bin/corral and `make testimage`
// for the test kernel and initramfs.
package qemutests

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	api "corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/testnet"
)

// The lab's provisioning network inside each test's namespace.
const (
	bridgeName     = "br0"
	controllerIP   = "10.77.0.1"
	controllerCIDR = controllerIP + "/24"
	httpPort       = "8080"
	// uefiFile is the iPXE binary the controller gives UEFI PXE clients.
	uefiFile = "ipxe.efi"
)

// failureMarkers on a serial console mean the boot has failed for good, so
// a test need not wait for its deadline: SeaBIOS found nothing to boot, OVMF
// gave up on every network boot option and fell back to its shell, or the
// kernel panicked.
var failureMarkers = []string{"No bootable device", `"EFI Internal Shell"`, "Kernel panic"}

// Markers printed by the test initramfs (qemu-tests/testimage/init).
const (
	initMarker    = "CORRAL-TEST-INIT-OK"
	cmdlinePrefix = "CORRAL-TEST-CMDLINE: "
)

// Firmware is how a VM boots from the network: the machine's firmware and
// whether its virtio NIC has an option ROM.
type Firmware struct {
	// Name names the VM's files and log lines.
	Name string
	// UEFI boots OVMF instead of SeaBIOS.
	UEFI bool
	// NoROM leaves the NIC without an option ROM; otherwise QEMU loads its
	// default one, Debian's iPXE efi-virtio.rom (ipxe-qemu).
	NoROM bool
}

// The firmwares the lab boots.
var (
	// BIOS is SeaBIOS with QEMU's default iPXE option ROM. That ROM is iPXE
	// itself: it identifies as iPXE in its DHCP request and is given the
	// boot script URL directly, so this chain has no TFTP step.
	//
	// The ROM must be QEMU's default, not named with romfile=: only a
	// default ROM gets its PCI device id patched to the device's. Debian's
	// efi-virtio.rom and pxe-virtio.rom declare the modern virtio-net id
	// 1af4:1041, and SeaBIOS skips such a ROM on QEMU's transitional
	// virtio-net-pci (1af4:1000), then finds no boot device.
	BIOS = Firmware{Name: "bios"}
	// UEFI is OVMF with its own virtio-net driver and PXE client and no
	// option ROM, like a server's firmware: it loads ipxe.efi over TFTP,
	// and that iPXE fetches the boot script.
	UEFI = Firmware{Name: "uefi", UEFI: true, NoROM: true}
	// UEFIWithIPXEROM is OVMF with QEMU's default option ROM, whose EFI
	// image is iPXE. OVMF tries that iPXE before its own PXE client, so like
	// BIOS this chain goes from DHCP straight to the boot script.
	UEFIWithIPXEROM = Firmware{Name: "uefi-ipxe-rom", UEFI: true}
)

// Paths of the firmware Debian installs.
const (
	ovmfCode = "/usr/share/OVMF/OVMF_CODE.fd"
	ovmfVars = "/usr/share/OVMF/OVMF_VARS.fd"
	// defaultROM is where Debian's QEMU finds virtio-net-pci's default
	// option ROM, efi-virtio.rom.
	defaultROM = "/usr/lib/ipxe/qemu/efi-virtio.rom"
	ipxeDir    = "/usr/lib/ipxe"
)

// deadline is the test's deadline, when t is a *testing.T that has one.
func deadline(t testing.TB) (time.Time, bool) {
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		return d.Deadline()
	}
	return time.Time{}, false
}

// repoRoot is the module root: the nearest directory up from the working
// directory with Corral's go.mod (go test runs in qemu-tests/, make lab in
// the root).
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("find the repository root: %v", err)
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module corral.io/corral\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("not inside the Corral repository: no go.mod of corral.io/corral above the working directory")
		}
		dir = parent
	}
}

// paths of the built artifacts a lab needs.
type paths struct {
	corral, kernel, initrd string
}

// requireLab skips the test, with one line saying what to do, when the lab
// cannot run here for this firmware (and the controller, when it is needed).
func requireLab(t testing.TB, fw Firmware, controller, testImage bool) paths {
	t.Helper()
	testnet.RequireRoot(t)
	if _, err := exec.LookPath("qemu-system-x86_64"); err != nil {
		t.Skip("qemu-system-x86_64 is not installed (apt-get install qemu-system-x86 ipxe-qemu)")
	}
	need := map[string]string{
		ipxeDir + "/undionly.kpxe": "ipxe",
		ipxeDir + "/" + uefiFile:   "ipxe",
	}
	if !fw.NoROM {
		need[defaultROM] = "ipxe-qemu"
	}
	if fw.UEFI {
		need[ovmfCode] = "ovmf"
		need[ovmfVars] = "ovmf"
	}
	for f, pkg := range need {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("%s is missing (apt-get install %s)", f, pkg)
		}
	}
	root := repoRoot(t)
	p := paths{
		corral: cmp.Or(os.Getenv("CORRAL_BIN"), filepath.Join(root, "bin", "corral")),
		kernel: filepath.Join(root, ".cache", "testimage", "vmlinuz"),
		initrd: filepath.Join(root, ".cache", "testimage", "initrd.img"),
	}
	if _, err := os.Stat(p.corral); err != nil && controller {
		t.Skipf("%s is not built (run `make build`, or point CORRAL_BIN at a corral binary)", p.corral)
	}
	for _, f := range []string{p.kernel, p.initrd} {
		if _, err := os.Stat(f); err != nil && testImage {
			t.Skipf("%s is not built (run `make testimage`, i.e. qemu-tests/testimage/build.sh)", f)
		}
	}
	return p
}

// Lab is one test's provisioning network: a namespace with a bridge and a
// running controller.
type Lab struct {
	t     testing.TB
	NS    *testnet.NS
	paths paths
	dir   string // scratch directory: config, state, logs
	// ControllerLog is the file receiving the controller's stdout and stderr.
	ControllerLog string
	// Cmdline is the kernel command line configured in the controller.
	Cmdline string
	http    *http.Client
	logs    []string // files copied to the artifacts directory on failure
	taps    int
	// proxy runs the controller as proxyDHCP (boot information only),
	// beside another DHCP server that hands out the addresses.
	proxy bool
	// ExtraConfig is appended to the controller's configuration, e.g. a
	// k3s: section; $STATE_DIR in it is replaced by the state directory.
	ExtraConfig string
	// nodeImage, when set, is a node image directory (vmlinuz, initrd.img:
	// make image) booted instead of the test image, with auto enrollment.
	nodeImage string
}

// NewLab creates the namespace and bridge, writes a controller config for it
// and starts `bin/corral controller` inside it, waiting until its HTTP server
// answers. It skips the test when the lab cannot run here.
func NewLab(t testing.TB, fw Firmware) *Lab {
	t.Helper()
	l := newLab(t, fw, true)
	l.startController()
	return l
}

// newLab creates the namespace and bridge, and the scratch directory whose
// logs are saved when the test fails.
func newLab(t testing.TB, fw Firmware, controller bool) *Lab {
	t.Helper()
	return newLabWith(t, requireLab(t, fw, controller, true))
}

// newLabWith is newLab once the prerequisites are checked.
func newLabWith(t testing.TB, p paths) *Lab {
	t.Helper()
	// TempDir first: its removal is registered first, so it runs after the
	// artifacts are saved, which in turn runs after everything is stopped.
	dir := t.TempDir()
	l := &Lab{t: t, paths: p, dir: dir, Cmdline: "console=ttyS0 panic=-1"}
	// Artifacts of an earlier run would be mistaken for this run's.
	if err := os.RemoveAll(artifactsDir(t)); err != nil {
		t.Fatalf("remove old artifacts: %v", err)
	}
	t.Cleanup(l.saveArtifacts)
	l.NS = testnet.New(t, "lab")
	l.NS.Bridge(bridgeName, controllerCIDR)
	l.http = &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{DialContext: l.dialInNS, DisableKeepAlives: true},
	}
	return l
}

// dialInNS dials from inside the lab's namespace.
func (l *Lab) dialInNS(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := l.NS.Do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// config is the controller configuration of the lab. The controller copies
// the iPXE programs from Debian's ipxe package into its filesDir (default
// <stateDir>/bootfiles, inside the test's scratch directory).
func (l *Lab) config(stateDir, imagesDir string) string {
	// A node lab boots the image store's active image; the others name
	// the test image's files.
	files := "  kernel: /images/test/vmlinuz\n  initrd: /images/test/initrd.img\n"
	if l.nodeImage != "" {
		files = ""
	}
	return fmt.Sprintf(`apiVersion: corral.io/v1alpha1
kind: ControllerConfig
stateDir: %s
interface: %s
advertiseAddress: %s
log:
  level: debug
  format: json
%s
%s
tftp:
  listen: ":69"
http:
  listen: ":%s"
boot:
  ipxeDir: %s
  uefiFile: %s
  imagesDir: %s
%s  cmdline: %s
%s`, stateDir, bridgeName, controllerIP, l.dhcpConfig(), l.enrollmentConfig(), httpPort, ipxeDir, uefiFile, imagesDir, files, l.Cmdline, strings.ReplaceAll(l.ExtraConfig, "$STATE_DIR", stateDir))
}

func (l *Lab) enrollmentConfig() string {
	if l.nodeImage != "" {
		return "enrollment:\n  policy: auto\n  heartbeat: 5s\n  lostAfter: 30s"
	}
	return ""
}

func (l *Lab) dhcpConfig() string {
	if l.proxy {
		return "dhcp:\n  mode: proxy"
	}
	return fmt.Sprintf(`dhcp:
  mode: authoritative
  subnet: 10.77.0.0/24
  rangeStart: 10.77.0.100
  rangeEnd: 10.77.0.150
  router: %s
  leaseTime: 10m`, controllerIP)
}

// startController writes the config and the test image into the scratch
// directory and starts the controller inside the namespace.
func (l *Lab) startController() {
	t := l.t
	t.Helper()
	stateDir := filepath.Join(l.dir, "state")
	imagesDir := filepath.Join(l.dir, "images")
	if l.nodeImage != "" {
		// As an operator installs an image: import it (every file
		// checked against its manifest) and activate it.
		version := l.importImage(imagesDir)
		t.Logf("node image %s imported from %s and active", version, l.nodeImage)
	} else {
		for src, dst := range map[string]string{
			l.paths.kernel: filepath.Join(imagesDir, "test", "vmlinuz"),
			l.paths.initrd: filepath.Join(imagesDir, "test", "initrd.img"),
		} {
			if err := copyFile(src, dst); err != nil {
				t.Fatalf("stage the test image: %v", err)
			}
		}
	}
	cfg := filepath.Join(l.dir, "controller.yaml")
	if err := os.WriteFile(cfg, []byte(l.config(stateDir, imagesDir)), 0o644); err != nil {
		t.Fatalf("write controller config: %v", err)
	}
	l.ControllerLog = filepath.Join(l.dir, "controller.log")
	l.logs = append(l.logs, cfg, l.ControllerLog)

	cmd, done := l.start("controller", l.ControllerLog, l.paths.corral, "controller", "--config", cfg)
	t.Logf("controller started (pid %d), log %s", cmd.Process.Pid, l.ControllerLog)

	// Ready when its HTTP server answers; fail early if it exits.
	url := "http://" + net.JoinHostPort(controllerIP, httpPort) + "/metrics"
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := l.http.Get(url)
		if err == nil {
			resp.Body.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("controller exited during start-up: %v\n%s", cmd.ProcessState, tail(l.ControllerLog, 30))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("controller HTTP %s not answering after 30s: %v\n%s", url, err, tail(l.ControllerLog, 30))
		}
	}
}

// importImage runs `corral image import` and `corral image activate` for
// the lab's node image into imagesDir and returns its version.
func (l *Lab) importImage(imagesDir string) string {
	t := l.t
	t.Helper()
	m, err := api.ReadImageManifest(filepath.Join(l.nodeImage, api.ImageManifestFile))
	if err != nil {
		t.Fatalf("read the node image's manifest: %v", err)
	}
	for _, args := range [][]string{
		{"image", "import", l.nodeImage, "--images-dir", imagesDir},
		{"image", "activate", m.Version, "--images-dir", imagesDir},
	} {
		if out, err := exec.Command(l.paths.corral, args...).CombinedOutput(); err != nil {
			t.Fatalf("corral %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return m.Version
}

// start runs a program inside the namespace with its stdout and stderr in
// logFile. Cleanup stops it: SIGTERM, then SIGKILL after 5 s. The returned
// channel is closed when it has exited (cmd.ProcessState is then set).
func (l *Lab) start(what, logFile, name string, args ...string) (*exec.Cmd, <-chan struct{}) {
	t := l.t
	t.Helper()
	out, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatalf("open %s log: %v", what, err)
	}
	// `ip netns exec` execs the program, so the pid is the program's own.
	cmd := l.NS.Command(context.Background(), name, args...)
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		out.Close()
		t.Fatalf("start %s: %v", what, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
			return
		default:
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Logf("%s ignored SIGTERM for 5s: killing it", what)
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, done
}

// VM is a QEMU virtual machine booting from the lab's network.
type VM struct {
	Name     string
	Firmware Firmware
	Shape    Shape
	// MAC is the boot NIC's address; MACs holds every NIC's, boot NIC first.
	MAC  net.HardwareAddr
	MACs []net.HardwareAddr
	// Disks are the VM's disks as attached, in Shape.Disks order.
	Disks []AttachedDisk
	// Serial is the file receiving the VM's serial console.
	Serial  string
	started time.Time
	done    <-chan struct{}
	cmd     *exec.Cmd
	lab     *Lab
}

// Shape is a VM's hardware: what the agent must find and report.
type Shape struct {
	// CPUs is the number of vCPUs (-smp); 0 means 1.
	CPUs int
	// MemoryMiB is the RAM (-m); 0 means 512.
	MemoryMiB int
	// Disks are attached in order; each is a sparse raw file.
	Disks []Disk
	// ExtraNICs are NICs besides the boot NIC, on the same bridge, without
	// an option ROM, so the firmware never boots from them.
	ExtraNICs int
}

// DefaultShape is one vCPU, 512 MiB, one NIC and no disk.
var DefaultShape = Shape{CPUs: 1, MemoryMiB: 512}

// Disk is a VM disk.
type Disk struct {
	// Serial is the serial number the device reports (at most 20 bytes).
	Serial string
	// SizeBytes is the disk's size.
	SizeBytes int64
	// Bus is "virtio" (virtio-blk, the default), "nvme" or "scsi"
	// (virtio-scsi).
	Bus string
	// Files, when set, make the disk a whole-disk ext4 filesystem holding
	// these files (name → content), made with mkfs.ext4 -d: data Corral
	// did not write.
	Files map[string]string
}

// AttachedDisk is a disk as it was given to QEMU.
type AttachedDisk struct {
	Disk
	// Path is the raw file backing it.
	Path string
}

// StartVM creates a tap on the bridge and boots a 512 MiB, one-vCPU VM
// from the network on it with the given firmware.
func (l *Lab) StartVM(name string, fw Firmware) *VM {
	l.t.Helper()
	return l.startVM(name, fw, DefaultShape, "-boot", "n")
}

// StartShapedVM boots a VM of the given shape from the network.
func (l *Lab) StartShapedVM(name string, fw Firmware, shape Shape) *VM {
	l.t.Helper()
	return l.startVM(name, fw, shape, "-boot", "n")
}

// startDirectVM boots the test kernel and initramfs directly (-kernel,
// -initrd, -append), bypassing firmware network boot: it checks the fixture
// and the harness without a controller.
func (l *Lab) startDirectVM(name, cmdline string) *VM {
	l.t.Helper()
	return l.startVM(name, Firmware{Name: "direct"}, DefaultShape, "-kernel", l.paths.kernel, "-initrd", l.paths.initrd, "-append", cmdline)
}

func (l *Lab) startVM(name string, fw Firmware, shape Shape, boot ...string) *VM {
	t := l.t
	t.Helper()
	shape.CPUs = cmp.Or(shape.CPUs, 1)
	shape.MemoryMiB = cmp.Or(shape.MemoryMiB, 512)
	vm := &VM{Name: name, Firmware: fw, Shape: shape, lab: l,
		Serial: filepath.Join(l.dir, name+".serial.log")}
	qemuLog := filepath.Join(l.dir, name+".qemu.log")
	l.logs = append(l.logs, vm.Serial, qemuLog)

	args := []string{
		"-name", "corral-" + name,
		"-accel", "tcg",
		// graphics=off: SeaBIOS (and the iPXE ROM through it) print on the
		// serial port; OVMF always does.
		"-machine", "pc,graphics=off",
		"-smp", strconv.Itoa(shape.CPUs),
		"-m", strconv.Itoa(shape.MemoryMiB),
		// No default CD-ROM, floppy or VGA: nothing to try before the NIC.
		"-nodefaults", "-nographic",
		// A hardware RNG, as servers have: without RDRAND (TCG) the
		// guest's random pool takes minutes to be ready.
		"-device", "virtio-rng-pci",
		"-no-reboot",
		"-serial", "file:" + vm.Serial,
	}
	for i := 0; i <= shape.ExtraNICs; i++ {
		l.taps++
		tap := fmt.Sprintf("tap%d", l.taps)
		l.NS.Tap(tap, bridgeName)
		mac := randomMAC()
		vm.MACs = append(vm.MACs, mac)
		id := fmt.Sprintf("net%d", i)
		nic := "virtio-net-pci,netdev=" + id + ",mac=" + mac.String()
		if i == 0 {
			nic += ",bootindex=1"
			if fw.NoROM {
				nic += ",romfile="
			}
		} else {
			nic += ",romfile="
		}
		args = append(args, "-netdev", "tap,id="+id+",ifname="+tap+",script=no,downscript=no", "-device", nic)
	}
	vm.MAC = vm.MACs[0]
	scsi := false
	for i, d := range shape.Disks {
		path := filepath.Join(l.dir, fmt.Sprintf("%s.disk%d.raw", name, i))
		if err := makeDisk(path, d); err != nil {
			t.Fatalf("VM %s: disk %d: %v", name, i, err)
		}
		vm.Disks = append(vm.Disks, AttachedDisk{Disk: d, Path: path})
		id := fmt.Sprintf("disk%d", i)
		args = append(args, "-drive", "if=none,format=raw,id="+id+",file="+path)
		switch d.Bus {
		case "", "virtio":
			args = append(args, "-device", "virtio-blk-pci,drive="+id+",serial="+d.Serial)
		case "nvme":
			args = append(args, "-device", "nvme,drive="+id+",serial="+d.Serial)
		case "scsi":
			if !scsi {
				args = append(args, "-device", "virtio-scsi-pci,id=scsi0")
				scsi = true
			}
			args = append(args, "-device", "scsi-hd,bus=scsi0.0,drive="+id+",serial="+d.Serial)
		default:
			t.Fatalf("VM %s: disk %d: unknown bus %q (virtio, nvme or scsi)", name, i, d.Bus)
		}
	}
	if fw.UEFI {
		vars := filepath.Join(l.dir, name+".OVMF_VARS.fd")
		if err := copyFile(ovmfVars, vars); err != nil {
			t.Fatalf("copy OVMF variables: %v", err)
		}
		args = append(args,
			"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+ovmfCode,
			"-drive", "if=pflash,format=raw,unit=1,file="+vars)
	}
	args = append(args, boot...)

	vm.started = time.Now()
	vm.cmd, vm.done = l.start("qemu "+name, qemuLog, "qemu-system-x86_64", args...)
	t.Logf("VM %s (%s, %d vCPU, %d MiB, %d disks, MAC %s) started (pid %d), serial console %s",
		name, fw.Name, shape.CPUs, shape.MemoryMiB, len(shape.Disks), vm.MAC, vm.cmd.Process.Pid, vm.Serial)
	return vm
}

// makeDisk creates a sparse raw disk file, formatted as ext4 with the
// disk's files when it has any.
func makeDisk(path string, d Disk) error {
	if d.SizeBytes <= 0 {
		return fmt.Errorf("size %d: a disk needs a positive size", d.SizeBytes)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := f.Truncate(d.SizeBytes); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if len(d.Files) == 0 {
		return nil
	}
	src, err := os.MkdirTemp(filepath.Dir(path), "ext4-src-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(src)
	for name, content := range d.Files {
		if err := os.WriteFile(filepath.Join(src, filepath.Base(name)), []byte(content), 0o644); err != nil {
			return err
		}
	}
	// Lazy init keeps a large sparse disk sparse.
	out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "userdata",
		"-E", "lazy_itable_init=1,lazy_journal_init=1", "-d", src, path).CombinedOutput()
	if err != nil {
		return fmt.Errorf("mkfs.ext4: %v: %s", err, out)
	}
	return nil
}

// Stop powers the VM off (SIGTERM to QEMU, which stops it at once) and
// waits for QEMU to exit, so its disks can be inspected.
func (vm *VM) Stop() {
	if vm.cmd.Process == nil {
		return
	}
	_ = vm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vm.done:
	case <-time.After(10 * time.Second):
		_ = vm.cmd.Process.Kill()
		<-vm.done
	}
}

// Started is when QEMU was started.
func (vm *VM) Started() time.Time { return vm.started }

// WaitFor polls the serial console until it contains marker and returns the
// time since QEMU was started. It fails the test, showing the end of the
// console, when the deadline passes, QEMU exits first, or the console shows
// that the boot failed (failureMarkers).
func (vm *VM) WaitFor(marker string, timeout time.Duration) time.Duration {
	t := vm.lab.t
	t.Helper()
	// Stop before `go test -timeout` would: its panic skips every cleanup,
	// leaving the namespace behind.
	if d, ok := deadline(t); ok {
		if left := time.Until(d) - 30*time.Second; left < timeout {
			timeout = max(left, time.Second)
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	exited := false
	for {
		data, _ := os.ReadFile(vm.Serial)
		if bytes.Contains(data, []byte(marker)) {
			return time.Since(vm.started)
		}
		for _, bad := range failureMarkers {
			if bytes.Contains(data, []byte(bad)) {
				vm.failf("VM %s: boot failed after %s (console shows %s)",
					vm.Name, time.Since(vm.started).Round(time.Second), bad)
			}
		}
		if exited {
			vm.failf("VM %s: QEMU exited (%v) after %s without printing %q",
				vm.Name, vm.cmd.ProcessState, time.Since(vm.started).Round(time.Second), marker)
		}
		select {
		case <-vm.done:
			exited = true // read the console once more: it may have the marker
		case <-timer.C:
			vm.failf("VM %s: no %q on the serial console after %s", vm.Name, marker, timeout)
		case <-tick.C:
		}
	}
}

// Since returns how long after QEMU started the first of records was
// logged, or -1 when there is none.
func (vm *VM) Since(records []LogRecord) time.Duration {
	for _, r := range records {
		if at, ok := r.Time(); ok {
			return at.Sub(vm.started)
		}
	}
	return -1
}

// failf fails the test with the end of the serial console and the
// controller's warnings and errors, which usually say why a boot failed.
func (vm *VM) failf(format string, args ...any) {
	t := vm.lab.t
	t.Helper()
	msg := fmt.Sprintf(format, args...) + "; end of serial console:\n" + tail(vm.Serial, 40)
	if vm.lab.ControllerLog != "" {
		// The lines as the controller wrote them, with time and msg first.
		data, _ := os.ReadFile(vm.lab.ControllerLog)
		var problems []string
		for _, line := range strings.Split(string(data), "\n") {
			var r LogRecord
			if json.Unmarshal([]byte(line), &r) == nil && (r.Has(slog.LevelKey, "WARN") || r.Has(slog.LevelKey, "ERROR")) {
				problems = append(problems, line)
			}
		}
		if n := len(problems); n > 10 {
			problems = slices.Concat(problems[:5], []string{fmt.Sprintf("... %d more ...", n-10)}, problems[n-5:])
		}
		if len(problems) > 0 {
			msg += "\ncontroller warnings and errors:\n" + strings.Join(problems, "\n")
		}
	}
	t.Fatal(msg)
}

// ConsoleContains reports whether the serial console shows s.
func (vm *VM) ConsoleContains(s string) bool {
	data, _ := os.ReadFile(vm.Serial)
	return bytes.Contains(data, []byte(s))
}

// LastConsoleLine is the last non-empty line the VM printed on its serial
// console, without terminal escapes, for a status display.
func (vm *VM) LastConsoleLine() string {
	data, _ := os.ReadFile(vm.Serial)
	lines := strings.Split(strings.ReplaceAll(string(data), "\r", "\n"), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(strings.Map(func(r rune) rune {
			if r < 0x20 || r == 0x7f {
				return -1
			}
			return r
		}, lines[i]))
		if line != "" {
			return line
		}
	}
	return ""
}

// KernelCmdline returns the command line the test init printed.
func (vm *VM) KernelCmdline() string {
	t := vm.lab.t
	t.Helper()
	data, err := os.ReadFile(vm.Serial)
	if err != nil {
		t.Fatalf("read serial console: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if i := strings.Index(line, cmdlinePrefix); i >= 0 {
			return strings.TrimSpace(line[i+len(cmdlinePrefix):])
		}
	}
	t.Fatalf("VM %s: no %q line on the serial console", vm.Name, cmdlinePrefix)
	return ""
}

// BOOTIF is the pxelinux-style BOOTIF value for the VM's MAC
// (01 = Ethernet, then the MAC with dashes), e.g. 01-52-54-00-12-34-56.
func (vm *VM) BOOTIF() string {
	return "01-" + strings.ReplaceAll(vm.MAC.String(), ":", "-")
}

// Metrics fetches the controller's /metrics and returns every sample as
// "name{labels}" → value.
func (l *Lab) Metrics() map[string]float64 {
	t := l.t
	t.Helper()
	resp, err := l.http.Get("http://" + net.JoinHostPort(controllerIP, httpPort) + "/metrics")
	if err != nil {
		t.Fatalf("fetch controller metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("fetch controller metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

// parseMetrics reads the Prometheus text exposition format, keeping samples
// only. Label values containing spaces are not expected here.
func parseMetrics(r io.Reader) map[string]float64 {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		// name{labels} value [timestamp]
		cut := strings.LastIndex(line, "}")
		if cut < 0 {
			cut = strings.IndexByte(line, ' ')
		} else {
			cut++
		}
		if cut <= 0 {
			continue
		}
		fields := strings.Fields(line[cut:])
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		m[line[:cut]] = v
	}
	return m
}

// LogRecord is one line of the controller's JSON log.
type LogRecord map[string]any

// String shows the record as the controller wrote it.
func (r LogRecord) String() string {
	b, _ := json.Marshal(map[string]any(r))
	return string(b)
}

// Has reports whether the record's key has the value (compared as text).
func (r LogRecord) Has(key, value string) bool {
	v, ok := r[key]
	return ok && fmt.Sprint(v) == value
}

// ControllerLogRecords reads the controller's log (it is configured with
// log.format json); lines that are not JSON, such as a panic, are skipped.
func (l *Lab) ControllerLogRecords() []LogRecord {
	t := l.t
	t.Helper()
	data, err := os.ReadFile(l.ControllerLog)
	if err != nil {
		t.Fatalf("read controller log: %v", err)
	}
	var recs []LogRecord
	for _, line := range bytes.Split(data, []byte("\n")) {
		var r LogRecord
		if json.Unmarshal(line, &r) == nil {
			recs = append(recs, r)
		}
	}
	return recs
}

// Time is when the controller wrote the record.
func (r LogRecord) Time() (time.Time, bool) {
	s, _ := r[slog.TimeKey].(string)
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// FindLog returns the controller log records with message msg whose
// attributes include every key, value pair of kv.
func (l *Lab) FindLog(msg string, kv ...string) []LogRecord {
	l.t.Helper()
	var found []LogRecord
next:
	for _, r := range l.ControllerLogRecords() {
		if !r.Has(slog.MessageKey, msg) {
			continue
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !r.Has(kv[i], kv[i+1]) {
				continue next
			}
		}
		found = append(found, r)
	}
	return found
}

// saveArtifacts copies the logs of a failed test (of every test, with
// CORRAL_LAB_KEEP=1) to qemu-tests/artifacts/<test>/.
func (l *Lab) saveArtifacts() {
	if !l.t.Failed() && os.Getenv("CORRAL_LAB_KEEP") == "" {
		return
	}
	dst := artifactsDir(l.t)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		l.t.Logf("cannot save artifacts: %v", err)
		return
	}
	var errs []error
	for _, f := range l.logs {
		if _, err := os.Stat(f); errors.Is(err, os.ErrNotExist) {
			continue
		}
		errs = append(errs, copyFile(f, filepath.Join(dst, filepath.Base(f))))
	}
	if err := errors.Join(errs...); err != nil {
		l.t.Logf("saving artifacts: %v", err)
	}
	l.t.Logf("serial consoles and controller log saved in %s", dst)
}

// artifactsDir is where a failed test's logs go: qemu-tests/artifacts/<test>.
func artifactsDir(t testing.TB) string {
	return filepath.Join(repoRoot(t), "qemu-tests", "artifacts", strings.ReplaceAll(t.Name(), "/", "_"))
}

// randomMAC returns a locally administered unicast MAC in QEMU's 52:54:00 range.
func randomMAC() net.HardwareAddr {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0, 0, 0}
	_, _ = rand.Read(mac[3:])
	return mac
}

// copyFile copies src to dst, creating dst's directory.
func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return fmt.Errorf("copy %s to %s: %w", src, dst, err)
	}
	return out.Close()
}

// tail returns the last n lines of a file, for failure messages.
func tail(file string, n int) string {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", file, err)
	}
	lines := strings.Split(strings.TrimRight(strings.ReplaceAll(string(data), "\r", ""), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
