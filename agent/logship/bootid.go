package logship

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"corral.io/corral/api/v1alpha1"
)

// KernelBootID reads the kernel's id of this boot. When it cannot, it
// returns a random id (and the error).
func KernelBootID() (string, error) {
	b, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if id := strings.TrimSpace(string(b)); err == nil && v1alpha1.ValidBootID(id) {
		return id, nil
	}
	if err == nil {
		err = fmt.Errorf("/proc/sys/kernel/random/boot_id: unexpected content %.40q", b)
	}
	r := make([]byte, 16)
	_, _ = rand.Read(r)
	return hex.EncodeToString(r), err
}

// BootTime is CLOCK_BOOTTIME in nanoseconds: it grows through one boot,
// across processes, and counts time suspended.
func BootTime() uint64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return uint64(time.Now().UnixNano())
	}
	return uint64(ts.Nano())
}
