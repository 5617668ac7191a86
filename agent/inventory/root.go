package inventory

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Root holds where the kernel's pseudo filesystems and the few other
// directories the inventory reads are found. HostRoot is the running machine;
// PrefixRoot(dir) is a dump under dir.
type Root struct {
	Sys  string // normally /sys
	Proc string // normally /proc
	Dev  string // normally /dev
	Run  string // normally /run (udev's database is under run/udev)
	Etc  string // normally /etc (os-release)
}

// HostRoot is the running machine.
func HostRoot() Root {
	return Root{Sys: "/sys", Proc: "/proc", Dev: "/dev", Run: "/run", Etc: "/etc"}
}

// PrefixRoot is a machine dump whose sys, proc, dev, run and etc
// directories are under dir.
func PrefixRoot(dir string) Root {
	return Root{
		Sys:  filepath.Join(dir, "sys"),
		Proc: filepath.Join(dir, "proc"),
		Dev:  filepath.Join(dir, "dev"),
		Run:  filepath.Join(dir, "run"),
		Etc:  filepath.Join(dir, "etc"),
	}
}

// maxAttrSize bounds what is read from any one file; sysfs attributes are a
// page at most, and the largest file read (the SMBIOS table) is far smaller.
const maxAttrSize = 4 << 20

// readFile reads at most maxAttrSize bytes of path. Its errors are the
// *fs.PathError of open or read as they come, which name the operation and
// the path; callers add the area ("disk: ") and nothing else.
//
// It reads at most maxAttrSize bytes of path. Almost every file read
// is a sysfs or proc attribute of a page at most, so the first buffer holds
// a page and the file is only stat'ed (for a size hint) when it is larger,
// as pci.ids and SMBIOS tables are.
func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, 0, 4096+1)
	grown := false
	for len(buf) < maxAttrSize {
		if len(buf) == cap(buf) {
			next := 2 * cap(buf)
			if st, err := f.Stat(); err == nil && !grown && st.Size() >= int64(next) {
				next = int(min(st.Size()+1, maxAttrSize))
			}
			grown = true
			buf = append(make([]byte, 0, next), buf...)
		}
		n, err := f.Read(buf[len(buf):min(cap(buf), maxAttrSize)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err // an *fs.PathError: it already names the operation and path
		}
	}
	return buf, nil
}

// readString reads a one-line attribute and trims surrounding white space.
func readString(path string) (string, error) {
	b, err := readFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// readInt reads an integer attribute (decimal, or hex with a 0x prefix).
func readInt(path string) (int64, error) {
	s, err := readString(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("parse %s: %w", path, err)
	}
	return v, nil
}

// optString reads an attribute that may legitimately be absent: a missing
// file gives "", any other failure is noted.
func optString(w *warnings, path string) string {
	s, err := readString(path)
	if err != nil {
		if !os.IsNotExist(err) {
			w.add("%v", err) // readString's errors name the path
		}
		return ""
	}
	return s
}

// optInt is optString for integers; absent or unparsable gives 0 (the latter noted).
func optInt(w *warnings, path string) int64 {
	v, err := readInt(path)
	if err != nil {
		if !os.IsNotExist(err) {
			w.add("%v", err)
		}
		return 0
	}
	return v
}

// linkBase is the last element of a symlink's target ("driver" links name the driver).
func linkBase(path string) string {
	t, err := os.Readlink(path)
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// keyValues parses "key: value" or "key=value" lines (cpuinfo, meminfo, os-release, udev).
func keyValues(data []byte, sep string) map[string]string {
	m := make(map[string]string)
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), sep)
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if _, seen := m[k]; !seen {
			m[k] = strings.TrimSpace(v)
		}
	}
	return m
}
