package pid1

import (
	"bufio"
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// Mount is one line of /proc/self/mountinfo (proc(5)). ParseMountinfo is
// the agent's one mountinfo parser: agent/inventory's disk.go has a
// private copy (parseMountinfo, reading the device, point and type) that
// should call this one instead.
type Mount struct {
	ID, Parent int
	// Dev is the filesystem's device number, "major:minor".
	Dev string
	// Root is the path inside the filesystem that is mounted.
	Root string
	// Point is where it is mounted, unescaped.
	Point   string
	Options string
	FSType  string
	Source  string
}

// ParseMountinfo parses /proc/<pid>/mountinfo. A malformed line is an error
// naming its number; paths have their \NNN octal escapes undone.
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//	(1)(2) (3)  (4)   (5)    (6)       (7)    (8)(9)   (10)        (11)
func ParseMountinfo(data []byte) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Fields(line)
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+1 >= len(f) { // sep >= 6, so fields 1-7 are there
			return nil, fmt.Errorf("mountinfo line %d: want at least 10 fields with a \"-\" separator: %q", n, line)
		}
		id, err1 := strconv.Atoi(f[0])
		parent, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("mountinfo line %d: mount ids %q %q are not numbers", n, f[0], f[1])
		}
		m := Mount{ID: id, Parent: parent, Dev: f[2], Root: unescape(f[3]), Point: unescape(f[4]), Options: f[5], FSType: f[sep+1]}
		if sep+2 < len(f) {
			m.Source = unescape(f[sep+2])
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return out, nil
}

// unescape undoes the kernel's \NNN octal escaping of space, tab, newline
// and backslash in mountinfo paths (fs/proc_namespace.c mangle).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Mounted reports whether something is mounted on point.
func Mounted(table []Mount, point string) (Mount, bool) {
	// The last mount on a point is the one visible (it hides the earlier ones).
	for i := len(table) - 1; i >= 0; i-- {
		if table[i].Point == point {
			return table[i], true
		}
	}
	return Mount{}, false
}
