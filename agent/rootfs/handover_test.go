package rootfs

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestHandoverCarriesTheLeaseAtomically(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "corral", "handover.json")
	h := Handover{Iface: "eth0", MAC: "52:54:00:12:34:56", Addr: "10.0.0.5/24", Server: "10.0.0.1",
		LeasedAt: time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC), LeaseSeconds: 3600, T1Seconds: 1800, T2Seconds: 3150,
		ACK: []byte{2, 1, 6, 0, 0xff}}
	if err := WriteHandover(path, h); err != nil {
		t.Fatal(err)
	}
	got, err := ReadHandover(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(h, got); diff != "" {
		t.Errorf("(-written +read):\n%s", diff)
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Errorf("files left beside the handover: %v", ents)
	}
	if err := os.WriteFile(path, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadHandover(path); err == nil {
		t.Error("a truncated handover was accepted")
	}
}
