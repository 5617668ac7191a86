// Package testnet gives tests throwaway Linux network namespaces joined by
// veth pairs or a bridge, so real DHCP and TFTP clients can talk to Corral's
// servers without touching the host's network.
//
// Everything a test creates is removed in t.Cleanup, even when the test fails:
// processes still running inside a namespace are killed, then the namespace
// (and with it every interface inside it) is deleted.
package testnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netns"
)

// RequireRoot skips the test when it cannot create namespaces.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces (run the suite as root, as .ci/run does)")
	}
}

// RequireCommands skips the test, naming the Debian package, when a client
// program it drives is not installed.
func RequireCommands(t testing.TB, cmds ...string) {
	t.Helper()
	for _, c := range cmds {
		if _, err := exec.LookPath(c); err != nil {
			t.Skipf("%s is not installed (run .ci/run, or apt-get install the package that ships it)", c)
		}
	}
}

// NS is a named network namespace.
type NS struct {
	Name string
	t    testing.TB
}

// suffix returns a short random suffix so parallel tests never collide.
func suffix() string {
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// New creates a network namespace with its loopback up. Its name starts with
// "crl-" so leftovers are easy to spot.
func New(t testing.TB, label string) *NS {
	t.Helper()
	RequireRoot(t)
	reapOnce.Do(reapStale)
	// The pid in the name lets a later run remove what an interrupted one
	// (Ctrl-C, a go test timeout) could not.
	name := fmt.Sprintf("crl-%s-%d-%s", label, os.Getpid(), suffix())
	ns := &NS{Name: name, t: t}
	mustRun(t, "ip", "netns", "add", name)
	t.Cleanup(ns.remove)
	ns.MustIP("link", "set", "lo", "up")
	return ns
}

var reapOnce sync.Once

// reapStale removes namespaces left by test processes that no longer exist.
func reapStale() {
	entries, _ := os.ReadDir("/run/netns")
	for _, e := range entries {
		parts := strings.Split(e.Name(), "-")
		if len(parts) < 4 || parts[0] != "crl" {
			continue
		}
		pid, err := strconv.Atoi(parts[len(parts)-2])
		if err != nil || pid <= 0 || syscall.Kill(pid, 0) != syscall.ESRCH {
			continue
		}
		(&NS{Name: e.Name(), t: quiet{}}).remove()
	}
}

// quiet is a testing.TB that only logs nowhere, for reaping outside a test.
type quiet struct{ testing.TB }

func (quiet) Logf(string, ...any) {}

// remove kills whatever still runs in the namespace and deletes it.
func (ns *NS) remove() {
	for attempt := 0; attempt < 50; attempt++ {
		out, _ := exec.Command("ip", "netns", "pids", ns.Name).Output()
		pids := strings.Fields(string(out))
		if len(pids) == 0 {
			break
		}
		for _, p := range pids {
			if pid, err := strconv.Atoi(p); err == nil {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
		ns.t.Logf("delete netns %s: %v: %s", ns.Name, err, out)
	}
}

// MustIP runs `ip <args>` inside the namespace and fails the test on error.
func (ns *NS) MustIP(args ...string) {
	ns.t.Helper()
	mustRun(ns.t, "ip", append([]string{"-n", ns.Name}, args...)...)
}

// Command returns a command that runs inside the namespace.
func (ns *NS) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Do runs fn on an OS thread switched into the namespace. Sockets created in fn
// belong to the namespace and stay usable from any goroutine afterwards.
func (ns *NS) Do(fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return fmt.Errorf("get current netns: %w", err)
	}
	defer orig.Close()
	target, err := netns.GetFromName(ns.Name)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", ns.Name, err)
	}
	defer target.Close()
	if err := netns.Set(target); err != nil {
		return fmt.Errorf("enter netns %s: %w", ns.Name, err)
	}
	defer func() {
		if err := netns.Set(orig); err != nil {
			// A thread stuck in the wrong namespace must not be reused:
			// returning without UnlockOSThread makes the runtime kill it.
			panic(fmt.Sprintf("restore netns: %v", err))
		}
	}()
	return fn()
}

// Veth joins two namespaces with a veth pair. aName lives in a with address
// aCIDR, bName in b with bCIDR (either CIDR may be empty for no address).
func Veth(t testing.TB, a *NS, aName, aCIDR string, b *NS, bName, bCIDR string) {
	t.Helper()
	tmp := "crv" + suffix()
	mustRun(t, "ip", "link", "add", tmp, "type", "veth", "peer", "name", tmp+"p")
	// If a later step fails, make sure the pair does not linger in the host namespace.
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", tmp).Run() })
	mustRun(t, "ip", "link", "set", tmp, "netns", a.Name, "name", aName)
	mustRun(t, "ip", "link", "set", tmp+"p", "netns", b.Name, "name", bName)
	for _, side := range []struct {
		ns         *NS
		name, cidr string
	}{{a, aName, aCIDR}, {b, bName, bCIDR}} {
		if side.cidr != "" {
			side.ns.MustIP("addr", "add", side.cidr, "dev", side.name)
		}
		side.ns.MustIP("link", "set", side.name, "up")
	}
}

// HardwareAddr returns the MAC address of an interface inside the namespace.
func (ns *NS) HardwareAddr(ifname string) net.HardwareAddr {
	ns.t.Helper()
	var mac net.HardwareAddr
	err := ns.Do(func() error {
		ifc, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		mac = ifc.HardwareAddr
		return nil
	})
	if err != nil {
		ns.t.Fatalf("interface %s in %s: %v", ifname, ns.Name, err)
	}
	return mac
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out.String())
	}
}
