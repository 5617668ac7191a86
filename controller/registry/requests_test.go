package registry

import (
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"corral.io/corral/api/v1alpha1"
)

func TestRequestsAreCappedAndExpire(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	s, err := Open(filepath.Join(t.TempDir(), "r.db"), WithClock(func() time.Time { return now }))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	lim := RequestLimits{PerNode: 2, Total: 3, TTL: time.Hour}
	add := func(node string, i int) error {
		inv := &v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}
		_, err := s.AddRequest(Request{Node: node, Source: "10.0.0.9", EnrollmentHash: fmt.Sprintf("%064x", i), Inventory: inv}, lim)
		return err
	}
	if err := add("a", 1); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Get("a"); err != nil || n.State != Pending {
		t.Fatalf("a request for a new id creates the node pending: %+v %v", n, err)
	}
	if err := add("a", 2); err != nil {
		t.Fatal(err)
	}
	if err := add("a", 3); !errors.Is(err, ErrTooManyRequests) {
		t.Errorf("third request for one node: %v, want ErrTooManyRequests", err)
	}
	if err := add("b", 4); err != nil {
		t.Fatal(err)
	}
	if err := add("c", 5); !errors.Is(err, ErrTooManyRequests) {
		t.Errorf("fourth request in all: %v, want ErrTooManyRequests", err)
	}
	if _, err := s.Get("c"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused request for a new id left a node: %v", err)
	}
	now = now.Add(2 * time.Hour) // all expired
	if rs, _ := s.Requests(""); len(rs) != 0 {
		t.Errorf("expired requests listed: %v", rs)
	}
	if err := add("c", 6); err != nil {
		t.Errorf("after expiry: %v", err)
	}
	if _, ok, _ := s.RequestByHash(fmt.Sprintf("%064x", 1)); ok {
		t.Errorf("an expired request's token is still found")
	}
	if _, _, err := s.ApproveRequest("a", "", "test"); !errors.Is(err, ErrNoRequest) {
		t.Errorf("approving an expired request: %v, want ErrNoRequest", err)
	}
}
