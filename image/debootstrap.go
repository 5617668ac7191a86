// The debootstrap tree: built once per set of inputs, cached and locked
// under the cache directory, trimmed of what a node never reads.

package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// treeKey names a debootstrap tree by what it is made from.
func treeKey(in RootfsInputs) string {
	b, _ := json.Marshal(struct {
		Recipe                       int
		Suite, Variant, Mirror, Arch string
		Packages                     []string
	}{treeRecipe, in.Suite, in.Variant, in.Mirror, "amd64", in.Packages})
	sum := sha256.Sum256(b)
	return in.Suite + "-" + hex.EncodeToString(sum[:8])
}

// debootstrapTree returns the cached tree for these inputs, running
// debootstrap when there is none. A tree is complete once its
// packages.tsv (the dpkg-query list) exists; a half-made one is removed.
func debootstrapTree(ctx context.Context, cache string, in RootfsInputs, log *slog.Logger) (string, []Package, error) {
	dir := filepath.Join(cache, "rootfs", treeKey(in))
	tree, list := filepath.Join(dir, "root"), filepath.Join(dir, "packages.tsv")
	// One build at a time makes a tree; another waits for it and reuses it.
	unlock, err := lockFile(dir+".lock", log)
	if err != nil {
		return "", nil, err
	}
	defer unlock()
	if b, err := os.ReadFile(list); err == nil {
		pkgs, err := parsePackages(b)
		if err == nil {
			log.Info("root filesystem tree is up to date, not rebuilt", "step", "debootstrap", "dir", dir, "packages", len(pkgs))
			return tree, pkgs, nil
		}
		log.Warn("cached package list unreadable: running debootstrap again", "file", list, "err", err)
	}
	if os.Geteuid() != 0 {
		return "", nil, errors.New("debootstrap needs root to build the root filesystem: run make image (or corral image build --rootfs) as root")
	}
	bin, err := exec.LookPath("debootstrap")
	if err != nil {
		return "", nil, errors.New("debootstrap is not installed: apt-get install debootstrap (or make setup)")
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", nil, err
	}
	debs := filepath.Join(cache, "rootfs", "debs")
	if err := os.MkdirAll(debs, 0o755); err != nil {
		return "", nil, err
	}
	args := []string{"--variant=" + in.Variant, "--arch=amd64", "--cache-dir=" + debs}
	if len(in.Packages) > 0 {
		args = append(args, "--include="+strings.Join(in.Packages, ","))
	}
	args = append(args, in.Suite, tree, in.Mirror)
	log.Info("running debootstrap: a few minutes on a fresh machine", "step", "debootstrap", "suite", in.Suite, "mirror", in.Mirror, "packages", strings.Join(in.Packages, ","), "dir", dir)
	start := time.Now()
	cmd := exec.CommandContext(ctx, bin, args...)
	if err := runLogged(cmd, "debootstrap", log, debootstrapPhase); err != nil {
		tail := ""
		if b, rerr := os.ReadFile(filepath.Join(tree, "debootstrap", "debootstrap.log")); rerr == nil {
			tail = lastLines(string(b), 10)
		}
		return "", nil, fmt.Errorf("debootstrap %s from %s: %w%s (MIRROR= chooses another mirror)", in.Suite, in.Mirror, err, tail)
	}
	log.Info("debootstrap done", "step", "debootstrap", "took", time.Since(start).Round(time.Second))
	if err := trimTree(tree); err != nil {
		return "", nil, fmt.Errorf("clean the debootstrap tree: %w", err)
	}
	out, err := exec.CommandContext(ctx, "dpkg-query", "--admindir="+filepath.Join(tree, "var/lib/dpkg"), "-W", "-f", "${Package}\t${Version}\n").Output()
	if err != nil {
		return "", nil, fmt.Errorf("list the installed packages (dpkg-query): %w", err)
	}
	pkgs, err := parsePackages(out)
	if err != nil {
		return "", nil, err
	}
	var b strings.Builder
	for _, p := range pkgs {
		fmt.Fprintf(&b, "%s\t%s\n", p.Name, p.Version)
	}
	if err := os.WriteFile(list, []byte(b.String()), 0o644); err != nil {
		return "", nil, err
	}
	return tree, pkgs, nil
}

// lockFile takes an exclusive flock on path, saying so when it must wait.
func lockFile(path string, log *slog.Logger) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		log.Info("another build is making this root filesystem tree: waiting for it", "lock", path)
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
	}
	return func() { f.Close() }, nil
}

// trimTree removes what rootfsTrim names and empties the logs, and writes
// the files a node's root filesystem must have whatever the build host.
func trimTree(tree string) error {
	for _, p := range rootfsTrim {
		if err := os.RemoveAll(filepath.Join(tree, p)); err != nil {
			return err
		}
	}
	for _, d := range []string{"var/cache/apt/archives/partial", "var/lib/apt/lists/partial"} {
		if err := os.MkdirAll(filepath.Join(tree, d), 0o755); err != nil {
			return err
		}
	}
	// Logs of the build (times, host paths).
	err := filepath.WalkDir(filepath.Join(tree, "var/log"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		return os.Truncate(p, 0)
	})
	if err != nil {
		return err
	}
	for name, content := range map[string]string{
		// The agent writes the leased resolver here at boot.
		"etc/resolv.conf": "",
		// The agent sets the hostname the controller gives.
		"etc/hostname": "corral-node\n",
	} {
		if err := os.WriteFile(filepath.Join(tree, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func parsePackages(b []byte) ([]Package, error) {
	var pkgs []Package
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		name, version, ok := strings.Cut(line, "\t")
		if !ok || name == "" || version == "" {
			return nil, fmt.Errorf("package list line %d: %q: want name<TAB>version", i+1, line)
		}
		pkgs = append(pkgs, Package{Name: name, Version: version})
	}
	if len(pkgs) == 0 {
		return nil, errors.New("no installed packages")
	}
	slices.SortFunc(pkgs, func(a, b Package) int { return strings.Compare(a.Name, b.Name) })
	return pkgs, nil
}
