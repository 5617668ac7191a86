package rootfs

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"corral.io/corral/internal/atomicfile"
)

// HandoverFile is where stage 1 leaves the Handover for stage 2. /run is a
// tmpfs moved into the new root, so the file survives switch_root.
const HandoverFile = "/run/corral/handover.json"

// Handover is what stage 1 tells stage 2. The kernel keeps the boot NIC's
// address and routes across switch_root and exec; this says what they are
// and where the lease came from, so stage 2 can renew the lease before it
// ends.
type Handover struct {
	Iface     string    `json:"iface"`
	MAC       string    `json:"mac"`
	Addr      string    `json:"addr"`
	Gateway   string    `json:"gateway,omitempty"`
	DNS       []string  `json:"dns,omitempty"`
	Domain    string    `json:"domain,omitempty"`
	MTU       int       `json:"mtu,omitempty"`
	Server    string    `json:"server"`
	LeasedAt  time.Time `json:"leasedAt"`
	RootfsURL string    `json:"rootfsURL"`
	Loop      string    `json:"loop"`
	// The lease as the server gave it: lease time, T1 and T2 (RFC 2131
	// §4.4.5), in seconds after LeasedAt, for people reading the file.
	LeaseSeconds int `json:"leaseSeconds,omitempty"`
	T1Seconds    int `json:"t1Seconds,omitempty"`
	T2Seconds    int `json:"t2Seconds,omitempty"`
	// ACK is the server's DHCPACK (base64 in JSON): stage 2 renews the
	// lease with it (netup.Renew).
	ACK []byte `json:"ack,omitempty"`
}

// WriteHandover writes h to path atomically (internal/atomicfile: a
// temporary file, fsynced, renamed into place).
func WriteHandover(path string, h Handover) error {
	b, err := json.MarshalIndent(h, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return atomicfile.Write(path, append(b, '\n'), 0o644)
}

// ReadHandover reads what WriteHandover wrote.
func ReadHandover(path string) (Handover, error) {
	var h Handover
	b, err := os.ReadFile(path)
	if err != nil {
		return h, err
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("parse %s: %w", path, err)
	}
	return h, nil
}
