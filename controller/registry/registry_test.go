package registry

import (
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bolt "go.etcd.io/bbolt"

	"corral.io/corral/api/v1alpha1"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func open(t *testing.T) (*Store, *clock, string) {
	t.Helper()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "registry.db")
	s, err := Open(path, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, c, path
}

func inventory(id string) *v1alpha1.Inventory {
	return &v1alpha1.Inventory{
		Identity: v1alpha1.Identity{NodeID: id},
		CPU:      v1alpha1.CPU{Threads: 4, Model: "QEMU Virtual CPU"},
		Memory:   v1alpha1.Memory{TotalBytes: 1 << 30},
		Disks:    []v1alpha1.Disk{{Name: "vda", SizeBytes: 8 << 30, Serial: "D1"}},
		NICs:     []v1alpha1.NIC{{Name: "eth0", MAC: "52:54:00:00:00:01", PermanentMAC: "52:54:00:00:00:01"}},
	}
}

func types(evs []Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, string(e.Type)+":"+e.From+">"+e.To)
	}
	return out
}

func TestLifecycle(t *testing.T) {
	s, _, _ := open(t)
	n, created, err := s.Register(inventory("n1"))
	if err != nil || !created || n.State != Discovered {
		t.Fatalf("first registration: %+v created=%v err=%v", n, created, err)
	}
	for _, to := range []State{Pending, Approved, Provisioning, Ready, Lost, Ready, Decommissioned} {
		if _, err := s.Transition("n1", to, "test"); err != nil {
			t.Fatalf("→ %s: %v", to, err)
		}
	}
	evs, _ := s.Events("n1")
	want := []string{"registered:>discovered", "state:discovered>pending", "state:pending>approved", "state:approved>provisioning",
		"state:provisioning>ready", "state:ready>lost", "state:lost>ready", "state:ready>decommissioned"}
	if diff := cmp.Diff(want, types(evs)); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, _, err := s.Register(inventory("n1")); !errors.Is(err, ErrRefused) {
		t.Errorf("a decommissioned node registering again: err = %v, want ErrRefused", err)
	}
	if err := s.Forget("n1"); err != nil {
		t.Fatal(err)
	}
	if _, created, _ := s.Register(inventory("n1")); !created {
		t.Errorf("after forget the machine must enrol afresh")
	}
}

func TestTransitionsNotInTheTableAreRefused(t *testing.T) {
	s, _, _ := open(t)
	_, _, _ = s.Register(inventory("n1"))
	for _, to := range []State{Provisioning, Ready, Lost} {
		if _, err := s.Transition("n1", to, "skip"); !errors.Is(err, ErrTransition) {
			t.Errorf("discovered → %s: err = %v, want ErrTransition", to, err)
		}
	}
	if _, err := s.Transition("nope", Approved, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown node: err = %v, want ErrNotFound", err)
	}
}

func TestReRegistrationKeepsTheNodeAndRecordsHardwareChanges(t *testing.T) {
	s, _, _ := open(t)
	_, _, _ = s.Register(inventory("n1"))
	_, _ = s.Transition("n1", Approved, "auto")
	_, _ = s.Update("n1", func(n *Node) (*Event, error) { n.Hostname = "worker-1"; return nil, nil })

	inv := inventory("n1")
	inv.Disks[0] = v1alpha1.Disk{Name: "vda", SizeBytes: 16 << 30, Serial: "D2"}
	inv.GPUs = []v1alpha1.GPU{{Name: "A100", UUID: "GPU-1", PCIAddress: "0000:07:00.0"}}
	n, created, err := s.Register(inv)
	if err != nil || created {
		t.Fatalf("re-registration: created=%v err=%v", created, err)
	}
	if n.Hostname != "worker-1" || n.State != Approved {
		t.Errorf("re-registration lost the hostname or state: %+v", n)
	}
	evs, _ := s.Events("n1")
	last := evs[len(evs)-1]
	want := []string{"disk added: vda 16.0 GiB serial D2", "disk removed: vda 8.0 GiB serial D1", "gpu added: A100 at 0000:07:00.0"}
	if diff := cmp.Diff(want, last.Changes); last.Type != "inventory" || diff != "" {
		t.Errorf("inventory event %s (-want +got):\n%s", last.Type, diff)
	}
	if _, _, err := s.Register(inv); err != nil {
		t.Fatal(err)
	}
	if again, _ := s.Events("n1"); len(again) != len(evs) {
		t.Errorf("an unchanged inventory must not add an event")
	}
}

func TestEverythingSurvivesReopen(t *testing.T) {
	s, c, path := open(t)
	_, _, _ = s.Register(inventory("n1"))
	_, _ = s.Transition("n1", Pending, "manual policy")
	s.Close()
	s2, err := Open(path, WithClock(c.now))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	n, err := s2.ByMAC("52:54:00:00:00:01")
	if err != nil || n.ID != "n1" || n.State != Pending {
		t.Errorf("after reopen ByMAC = %+v, %v", n, err)
	}
	if evs, _ := s2.Events("n1"); len(evs) != 2 {
		t.Errorf("after reopen %d events, want 2", len(evs))
	}
}

func TestMissedHeartbeatsMarkLostAndAHeartbeatRestores(t *testing.T) {
	s, c, _ := open(t)
	for _, id := range []string{"n1", "n2"} {
		_, _, _ = s.Register(inventory(id))
		for _, to := range []State{Approved, Provisioning, Ready} {
			_, _ = s.Transition(id, to, "")
		}
	}
	c.add(30 * time.Second)
	_, _ = s.Seen("n2")
	c.add(45 * time.Second)
	lost, err := s.MarkLost(time.Minute)
	if err != nil || !cmp.Equal(lost, []string{"n1"}) {
		t.Fatalf("MarkLost = %v, %v; want [n1]", lost, err)
	}
	n, _ := s.Seen("n1")
	if n.State != Ready {
		t.Errorf("a heartbeat from a lost node: state %s, want ready", n.State)
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	s, _, path := open(t)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, u64(99)) }); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(path); err == nil {
		t.Errorf("a schema from a newer Corral must be refused")
	}
}
