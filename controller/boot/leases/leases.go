// Package leases is the DHCP server's address book: which address belongs to
// which machine, until when. Bound leases are durable — Commit returns only
// after the lease is on disk (a bbolt database, fsynced), so an acknowledged
// lease survives kill -9 and power loss — while offers are held in memory only,
// as RFC 2131 §4.3.1 allows (an offer binds nothing until the REQUEST).
//
// Leases are keyed by the client's hardware address, not by option 61: the PXE
// firmware, iPXE and the booted OS of one machine send different client
// identifiers, and a provisioning network wants them to share one address
// (RFC 2131 §4.2 allows chaddr as the identifier).
//
// See docs/design/leases.md for why bbolt and how writes are batched.
package leases

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Errors the DHCP handler turns into NAKs or drops.
var (
	// ErrPoolExhausted means no address is free.
	ErrPoolExhausted = errors.New("address pool exhausted")
	// ErrUnavailable means the address is not this client's to take: it is
	// leased or reserved to another machine, declined, or outside the pool.
	ErrUnavailable = errors.New("address not available to this client")
)

// offerHold is how long an offered address is kept for its client before
// another client may be offered it.
const offerHold = 30 * time.Second

// declineHold is how long a declined address (RFC 2131 §4.3.3: found in use
// by ARP) is kept out of the pool.
const declineHold = 10 * time.Minute

var bucketLeases = []byte("leases.v1")

// Lease is one address bound to one machine.
type Lease struct {
	IP       netip.Addr       `json:"-"`
	MAC      net.HardwareAddr `json:"mac"`
	Hostname string           `json:"hostname,omitempty"`
	Expires  time.Time        `json:"expires"`
}

// Reservation is a fixed address for a MAC.
type Reservation struct {
	MAC      net.HardwareAddr
	IP       netip.Addr
	Hostname string
}

// Pool describes the addresses the store may hand out.
type Pool struct {
	// Start and End bound the dynamic range, inclusive.
	Start, End netip.Addr
	// Reservations may lie inside or outside the range.
	Reservations []Reservation
}

type entry struct {
	lease Lease
	bound bool      // false: offered only (memory)
	hold  time.Time // offered: hold expiry
}

// Store holds leases in memory, backed by a bbolt file for bound leases.
type Store struct {
	db    *bolt.DB
	start uint32
	end   uint32
	now   func() time.Time

	mu        sync.Mutex
	byIP      map[uint32]*entry
	byMAC     map[string]*entry
	reserved  map[string]Reservation // by MAC
	resIP     map[uint32]string      // reserved IP → MAC
	declined  map[uint32]time.Time
	cursor    uint32
	committed map[uint32]string // IP → MAC of a durable write in flight
}

// Option adjusts a Store.
type Option func(*Store)

// WithClock replaces time.Now, for tests.
func WithClock(now func() time.Time) Option { return func(s *Store) { s.now = now } }

// Open opens (creating if needed) the lease database at path and loads its
// leases. A second controller on the same file is refused after one second.
func Open(path string, pool Pool, opts ...Option) (*Store, error) {
	if !pool.Start.Is4() || !pool.End.Is4() || pool.End.Less(pool.Start) || u32(pool.Start) == 0 {
		return nil, fmt.Errorf("lease pool %s-%s: need two IPv4 addresses, start first", pool.Start, pool.End)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second, NoFreelistSync: true})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open lease database %s: locked by another process (is another controller running with this stateDir?)", path)
		}
		return nil, fmt.Errorf("open lease database %s: %w", path, err)
	}
	// Leases arrive concurrently under load; a short delay lets one fsync
	// cover many of them without making any single ACK noticeably late.
	db.MaxBatchDelay = 2 * time.Millisecond
	s := &Store{
		db:        db,
		start:     u32(pool.Start),
		end:       u32(pool.End),
		now:       time.Now,
		byIP:      map[uint32]*entry{},
		byMAC:     map[string]*entry{},
		reserved:  map[string]Reservation{},
		resIP:     map[uint32]string{},
		declined:  map[uint32]time.Time{},
		committed: map[uint32]string{},
	}
	for _, o := range opts {
		o(s)
	}
	s.cursor = s.start
	for _, r := range pool.Reservations {
		s.reserved[r.MAC.String()] = r
		s.resIP[u32(r.IP)] = r.MAC.String()
	}
	if err := s.load(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) load() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketLeases)
		if err != nil {
			return fmt.Errorf("create lease bucket: %w", err)
		}
		return b.ForEach(func(k, v []byte) error {
			if len(k) != 4 {
				return fmt.Errorf("lease database: key %x is not an IPv4 address", k)
			}
			var l Lease
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lease database: record for %s: %w", ip(binary.BigEndian.Uint32(k)), err)
			}
			l.IP = ip(binary.BigEndian.Uint32(k))
			e := &entry{lease: l, bound: true}
			s.byIP[u32(l.IP)] = e
			if old, ok := s.byMAC[l.MAC.String()]; !ok || old.lease.Expires.Before(l.Expires) {
				s.byMAC[l.MAC.String()] = e
			}
			return nil
		})
	})
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Offer picks an address for mac: its reservation, else its current or
// previous lease, else the address it asked for if free, else a free one.
// The offer is held in memory for 30 s.
func (s *Store) Offer(mac net.HardwareAddr, requested netip.Addr) (netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	key := mac.String()
	if r, ok := s.reserved[key]; ok {
		return r.IP, nil
	}
	if e, ok := s.byMAC[key]; ok && s.takeable(u32(e.lease.IP), key, now) {
		s.hold(e.lease.IP, mac, now)
		return e.lease.IP, nil
	}
	if requested.Is4() {
		if n := u32(requested); s.inRange(n) && s.takeable(n, key, now) {
			s.hold(requested, mac, now)
			return requested, nil
		}
	}
	size := s.end - s.start + 1
	for i := uint32(0); i < size; i++ {
		n := s.cursor
		s.cursor++
		if s.cursor > s.end || s.cursor < s.start {
			s.cursor = s.start
		}
		if s.takeable(n, key, now) {
			a := ip(n)
			s.hold(a, mac, now)
			return a, nil
		}
	}
	return netip.Addr{}, ErrPoolExhausted
}

// takeable reports whether address n may go to the client key now.
// The caller holds s.mu.
func (s *Store) takeable(n uint32, key string, now time.Time) bool {
	if owner, ok := s.resIP[n]; ok && owner != key {
		return false
	}
	if until, ok := s.declined[n]; ok {
		if now.Before(until) {
			return false
		}
		delete(s.declined, n)
	}
	if owner, ok := s.committed[n]; ok && owner != key {
		return false
	}
	e, ok := s.byIP[n]
	if !ok || e.lease.MAC.String() == key {
		return true
	}
	if e.bound {
		return !now.Before(e.lease.Expires)
	}
	return !now.Before(e.hold)
}

// hold records an offer. The caller holds s.mu.
func (s *Store) hold(a netip.Addr, mac net.HardwareAddr, now time.Time) {
	n := u32(a)
	if e, ok := s.byIP[n]; ok && e.bound && e.lease.MAC.String() == mac.String() {
		return // its own bound lease: nothing to hold
	}
	s.forget(n)
	e := &entry{lease: Lease{IP: a, MAC: mac}, hold: now.Add(offerHold)}
	s.byIP[n] = e
	s.byMAC[mac.String()] = e
}

// forget drops the in-memory entry at n. The caller holds s.mu.
func (s *Store) forget(n uint32) {
	if e, ok := s.byIP[n]; ok {
		if m := e.lease.MAC.String(); s.byMAC[m] == e {
			delete(s.byMAC, m)
		}
		delete(s.byIP, n)
	}
}

func (s *Store) inRange(n uint32) bool { return n >= s.start && n <= s.end }

// Commit binds a to mac for d and returns once the lease is on disk. It fails
// with ErrUnavailable when a is not this client's to take (the caller NAKs).
func (s *Store) Commit(ctx context.Context, mac net.HardwareAddr, a netip.Addr, hostname string, d time.Duration) (Lease, error) {
	key := mac.String()
	n := u32(a)
	s.mu.Lock()
	now := s.now()
	if r, ok := s.reserved[key]; ok {
		if r.IP != a {
			s.mu.Unlock()
			return Lease{}, fmt.Errorf("%w: %s is reserved %s", ErrUnavailable, mac, r.IP)
		}
		if hostname == "" {
			hostname = r.Hostname
		}
	} else if !a.Is4() || !s.inRange(n) || !s.takeable(n, key, now) {
		s.mu.Unlock()
		return Lease{}, fmt.Errorf("%w: %s for %s", ErrUnavailable, a, mac)
	}
	// Claim the address before the write so no concurrent Commit can.
	s.committed[n] = key
	s.mu.Unlock()

	l := Lease{IP: a, MAC: mac, Hostname: hostname, Expires: now.Add(d).Truncate(time.Second)}
	// Encoded outside the batch: its transaction runs every caller's
	// function one after another, so work done there delays all of them.
	v, err := json.Marshal(l)
	if err == nil {
		k := key4(n)
		err = s.write(ctx, func(b *bolt.Bucket) error { return b.Put(k, v) })
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.committed, n)
	if err != nil {
		return Lease{}, fmt.Errorf("store lease %s for %s: %w", a, mac, err)
	}
	if old, ok := s.byMAC[key]; ok && old.lease.IP != a {
		// The client moved to another address: its old one is free again.
		s.forget(u32(old.lease.IP))
		if old.bound {
			s.dropAsync(u32(old.lease.IP))
		}
	}
	s.forget(n)
	e := &entry{lease: l, bound: true}
	s.byIP[n] = e
	s.byMAC[key] = e
	return l, nil
}

// dropAsync deletes a superseded lease record. Losing this write is harmless:
// the record only makes the old address look leased until it expires.
func (s *Store) dropAsync(n uint32) {
	go func() { _ = s.write(context.Background(), func(b *bolt.Bucket) error { return b.Delete(key4(n)) }) }()
}

// write runs fn in a batched, fsynced transaction. A context already done
// writes nothing; once started, the write runs to the end (a few ms) so its
// outcome is known.
func (s *Store) write(ctx context.Context, fn func(*bolt.Bucket) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Batch(func(tx *bolt.Tx) error { return fn(tx.Bucket(bucketLeases)) })
}

// Release ends mac's lease on a (RFC 2131 §4.3.4). Unknown pairs are ignored.
func (s *Store) Release(ctx context.Context, mac net.HardwareAddr, a netip.Addr) error {
	n := u32(a)
	s.mu.Lock()
	e, ok := s.byIP[n]
	if !ok || e.lease.MAC.String() != mac.String() {
		s.mu.Unlock()
		return nil
	}
	s.forget(n)
	bound := e.bound
	s.mu.Unlock()
	if !bound {
		return nil
	}
	if err := s.write(ctx, func(b *bolt.Bucket) error { return b.Delete(key4(n)) }); err != nil {
		return fmt.Errorf("release lease %s: %w", a, err)
	}
	return nil
}

// Decline takes a out of the pool for a while: its client found it in use
// (RFC 2131 §4.3.3). Only the client holding the address may decline it.
func (s *Store) Decline(mac net.HardwareAddr, a netip.Addr) {
	n := u32(a)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.byIP[n]; ok && e.lease.MAC.String() == mac.String() {
		s.forget(n)
		s.declined[n] = s.now().Add(declineHold)
	}
}

// Lookup returns mac's bound, unexpired lease.
func (s *Store) Lookup(mac net.HardwareAddr) (Lease, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byMAC[mac.String()]
	if !ok || !e.bound || !s.now().Before(e.lease.Expires) {
		return Lease{}, false
	}
	return e.lease, true
}

// Owner returns who holds a bound, unexpired lease on a.
func (s *Store) Owner(a netip.Addr) (net.HardwareAddr, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.byIP[u32(a)]
	if !ok || !e.bound || !s.now().Before(e.lease.Expires) {
		return nil, false
	}
	return e.lease.MAC, true
}

// InUse counts bound, unexpired leases.
func (s *Store) InUse() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	n := 0
	for _, e := range s.byIP {
		if e.bound && now.Before(e.lease.Expires) {
			n++
		}
	}
	return n
}

// Leases returns a copy of all bound leases, expired ones included.
func (s *Store) Leases() []Lease {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Lease, 0, len(s.byIP))
	for _, e := range s.byIP {
		if e.bound {
			out = append(out, e.lease)
		}
	}
	return out
}

// u32 returns the address as a number; 0 (never in a pool) for anything
// that is not IPv4.
func u32(a netip.Addr) uint32 {
	a = a.Unmap()
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func ip(n uint32) netip.Addr {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return netip.AddrFrom4(b)
}

func key4(n uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], n)
	return b[:]
}
