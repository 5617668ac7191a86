// Package bootlog keeps what node agents log while they boot, so that an
// operator reads a node's boot (`corral nodes logs NODE`) without watching
// its console.
//
// It is its own bbolt file (<stateDir>/bootlogs.db), apart from the
// registry, so that a chatty boot never slows registrations and heartbeats.
// Every append is one fsynced transaction (bbolt Batch lets concurrent
// appends share the fsync): an append that returned nil survives kill -9.
//
// What a node can cost is bounded three ways: per node only the newest
// records are kept (Limits.Records and Limits.Bytes, oldest dropped and
// counted); nodes not yet approved get smaller bounds (Options.Pending); and
// a per-node token bucket (Options.Rate) refuses appends beyond a sustained
// rate, so a noisy or hostile agent can neither fill the disk nor keep it
// busy.
//
// Records are deduplicated by (boot, seq): an append stores only the records
// whose seq is above the highest stored for that boot, so a batch the agent
// sends again after a lost answer is not stored twice.
package bootlog

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"corral.io/corral/api/v1alpha1"
)

// Limits bound what is kept of one node.
type Limits struct {
	// Records and Bytes bound the kept records (their stored size); the
	// oldest are dropped first.
	Records int
	Bytes   int64
}

// Rate is a token bucket: Burst records at once, PerSecond sustained; the
// same for bytes.
type Rate struct {
	PerSecond, Burst           float64
	BytesPerSecond, BytesBurst float64
}

// Defaults.
var (
	// DefaultLimits: a whole boot of a verbose agent is a few thousand
	// records.
	DefaultLimits = Limits{Records: 10000, Bytes: 4 << 20}
	// DefaultPendingLimits bound a node nobody approved yet: anyone who can
	// reach the API can register one.
	DefaultPendingLimits = Limits{Records: 1000, Bytes: 256 << 10}
	// DefaultRate lets an agent send its whole queue (early boot, before
	// it could register) at once, then about 50 records a second.
	DefaultRate = Rate{PerSecond: 50, Burst: 5000, BytesPerSecond: 32 << 10, BytesBurst: 2 << 20}
)

// maxBoots bounds the boots remembered per node (for deduplication and the
// boot list); the oldest boot without kept records is forgotten first.
const maxBoots = 64

// Errors.
var (
	// ErrUnknownBoot: the boot asked for has no records.
	ErrUnknownBoot = errors.New("no such boot")
)

// RateLimitedError says an append was refused for the node's rate limit.
type RateLimitedError struct {
	// RetryAfter is when the append would fit.
	RetryAfter time.Duration
}

func (e *RateLimitedError) Error() string {
	return fmt.Sprintf("too many log records from this node: send again in %s", e.RetryAfter.Round(time.Second))
}

// Options configure a Store; zero fields take the defaults.
type Options struct {
	Limits  Limits
	Pending Limits
	Rate    Rate
	// Now replaces time.Now (tests).
	Now func() time.Time
}

// Store is the boot log database.
type Store struct {
	db  *bolt.DB
	o   Options
	mu  sync.Mutex
	bkt map[string]*bucket
	// changed[node] is closed and replaced when the node's log grows.
	changed map[string]chan struct{}
}

const schemaVersion = 1

var (
	bucketMeta  = []byte("meta")
	bucketNodes = []byte("nodes")
	keySchema   = []byte("schema")
	keyState    = []byte("state")
	bucketRecs  = []byte("recs")
)

// Open opens or creates the database at path.
func Open(path string, o Options) (*Store, error) {
	if o.Limits == (Limits{}) {
		o.Limits = DefaultLimits
	}
	if o.Pending == (Limits{}) {
		o.Pending = DefaultPendingLimits
	}
	if o.Rate == (Rate{}) {
		o.Rate = DefaultRate
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open boot logs %s: locked by another process (is another controller running with this stateDir?)", path)
		}
		return nil, fmt.Errorf("open boot logs %s: %w", path, err)
	}
	db.MaxBatchDelay = 5 * time.Millisecond
	err = db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		if b := meta.Get(keySchema); len(b) == 8 && binary.BigEndian.Uint64(b) > schemaVersion {
			return fmt.Errorf("schema version %d is newer than this controller understands (%d): upgrade Corral", binary.BigEndian.Uint64(b), schemaVersion)
		}
		if _, err := tx.CreateBucketIfNotExists(bucketNodes); err != nil {
			return err
		}
		return meta.Put(keySchema, u64(schemaVersion))
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boot logs %s: %w", path, err)
	}
	return &Store{db: db, o: o, bkt: map[string]*bucket{}, changed: map[string]chan struct{}{}}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// nodeState is the per-node summary, stored next to its records.
type nodeState struct {
	Records int    `json:"records"`
	Bytes   int64  `json:"bytes"`
	Dropped uint64 `json:"dropped,omitempty"`
	Boots   []boot `json:"boots"`
}

type boot struct {
	ID           string    `json:"id"`
	First        time.Time `json:"first"`
	Last         time.Time `json:"last"`
	Records      int       `json:"records"`
	HighSeq      uint64    `json:"highSeq"`
	AgentDropped uint64    `json:"agentDropped,omitempty"`
	Verified     bool      `json:"verified,omitempty"`
}

// stored is one record on disk.
type stored struct {
	Boot     string            `json:"b"`
	Seq      uint64            `json:"s"`
	Time     time.Time         `json:"t"`
	Level    string            `json:"l"`
	Msg      string            `json:"m"`
	Attrs    map[string]string `json:"a,omitempty"`
	Received time.Time         `json:"r"`
}

// Result is what an append did.
type Result struct {
	// Stored counts the new records; HighSeq is the highest seq stored
	// for the boot.
	Stored  int
	HighSeq uint64
}

// Sender says how the batch was authenticated.
type Sender struct {
	// Unapproved: the node was never approved; the smaller Pending
	// bounds apply.
	Unapproved bool
	// Credential: the batch came with the node credential, not an
	// enrollment token; its boot is then marked verified.
	Credential bool
}

// Append stores the records of batch (already validated: seq from 1,
// increasing) for node, durably, or refuses it with a *RateLimitedError.
func (s *Store) Append(node string, by Sender, batch v1alpha1.LogBatch) (Result, error) {
	now := s.o.Now()
	if err := s.take(node, batch, now); err != nil {
		return Result{}, err
	}
	lim := s.o.Limits
	if by.Unapproved {
		lim = s.o.Pending
	}
	var res Result
	err := s.db.Batch(func(tx *bolt.Tx) error {
		res = Result{} // Batch may run this twice
		nb, err := tx.Bucket(bucketNodes).CreateBucketIfNotExists([]byte(node))
		if err != nil {
			return err
		}
		recs, err := nb.CreateBucketIfNotExists(bucketRecs)
		if err != nil {
			return err
		}
		var st nodeState
		if b := nb.Get(keyState); b != nil {
			if err := json.Unmarshal(b, &st); err != nil {
				return fmt.Errorf("node %s: state: %w", node, err)
			}
		}
		bi := st.boot(batch.Boot, now)
		bt := &st.Boots[bi]
		bt.AgentDropped = max(bt.AgentDropped, batch.Dropped)
		bt.Verified = bt.Verified || by.Credential
		for _, r := range batch.Records {
			if r.Seq <= bt.HighSeq {
				continue // stored already: a retried batch
			}
			v, err := json.Marshal(stored{Boot: batch.Boot, Seq: r.Seq, Time: r.Time, Level: r.Level, Msg: r.Msg, Attrs: r.Attrs, Received: now})
			if err != nil {
				return err
			}
			c, err := recs.NextSequence()
			if err != nil {
				return err
			}
			if err := recs.Put(u64(c), v); err != nil {
				return err
			}
			bt.HighSeq = r.Seq
			bt.Records++
			bt.Last = now
			st.Records++
			st.Bytes += int64(len(v))
			res.Stored++
		}
		res.HighSeq = bt.HighSeq
		if err := st.trim(recs, lim); err != nil {
			return fmt.Errorf("node %s: %w", node, err)
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return nb.Put(keyState, b)
	})
	if err != nil {
		return Result{}, fmt.Errorf("store boot log of %s: %w", node, err)
	}
	if res.Stored > 0 {
		s.notify(node)
	}
	return res, nil
}

// boot returns the index of the boot id, adding it (and forgetting the
// oldest empty boots beyond maxBoots).
func (st *nodeState) boot(id string, now time.Time) int {
	for i, b := range st.Boots {
		if b.ID == id {
			return i
		}
	}
	st.Boots = append(st.Boots, boot{ID: id, First: now, Last: now})
	for i := 0; len(st.Boots) > maxBoots && i < len(st.Boots)-1; {
		if st.Boots[i].Records == 0 {
			st.Boots = append(st.Boots[:i], st.Boots[i+1:]...)
			continue
		}
		i++
	}
	return len(st.Boots) - 1
}

// trim drops the oldest records until the node is within lim.
func (st *nodeState) trim(recs *bolt.Bucket, lim Limits) error {
	c := recs.Cursor()
	for k, v := c.First(); k != nil && (st.Records > lim.Records || st.Bytes > lim.Bytes); k, v = c.First() {
		var r stored
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("record %d: %w", binary.BigEndian.Uint64(k), err)
		}
		if err := c.Delete(); err != nil {
			return err
		}
		st.Records--
		st.Bytes -= int64(len(v))
		st.Dropped++
		for i := range st.Boots {
			if st.Boots[i].ID == r.Boot {
				st.Boots[i].Records--
			}
		}
	}
	return nil
}

// Query selects entries.
type Query struct {
	// Boot is "", "all", "current" (the latest boot), "previous" (the
	// one before) or a boot id.
	Boot string
	// After is a cursor: only later entries.
	After uint64
	// Since keeps entries received at or after it (zero: all).
	Since time.Time
	// Limit bounds the entries returned (0: 1000).
	Limit int
}

// Read returns the node's entries matching q, its boots and its next
// cursor. A node without records gives an empty list.
func (s *Store) Read(node string, q Query) (v1alpha1.LogList, error) {
	out := v1alpha1.LogList{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogList, NodeID: node,
		Boots: []v1alpha1.BootInfo{}, Items: []v1alpha1.LogEntry{}, Next: q.After}
	if q.Limit <= 0 {
		q.Limit = 1000
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		nb := tx.Bucket(bucketNodes).Bucket([]byte(node))
		if nb == nil {
			if q.Boot != "" && q.Boot != "all" && q.Boot != "current" {
				return fmt.Errorf("%w %q: node %s has no boot log", ErrUnknownBoot, q.Boot, node)
			}
			return nil
		}
		var st nodeState
		if err := json.Unmarshal(nb.Get(keyState), &st); err != nil {
			return fmt.Errorf("node %s: state: %w", node, err)
		}
		out.Dropped = st.Dropped
		var kept []boot
		for _, b := range st.Boots {
			if b.Records > 0 {
				kept = append(kept, b)
				out.Boots = append(out.Boots, v1alpha1.BootInfo{ID: b.ID, First: b.First, Last: b.Last, Records: b.Records, AgentDropped: b.AgentDropped, Verified: b.Verified})
			}
		}
		want := ""
		switch q.Boot {
		case "", "all":
		case "current":
			if len(kept) == 0 {
				return nil
			}
			want = kept[len(kept)-1].ID
		case "previous":
			if len(kept) < 2 {
				return fmt.Errorf("%w: node %s has %d boot(s) with records", ErrUnknownBoot, node, len(kept))
			}
			want = kept[len(kept)-2].ID
		default:
			want = q.Boot
			found := false
			for _, b := range kept {
				found = found || b.ID == want
			}
			if !found {
				return fmt.Errorf("%w %q for node %s", ErrUnknownBoot, want, node)
			}
		}
		c := nb.Bucket(bucketRecs).Cursor()
		for k, v := c.Seek(u64(q.After + 1)); k != nil; k, v = c.Next() {
			cur := binary.BigEndian.Uint64(k)
			var r stored
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("node %s: record %d: %w", node, cur, err)
			}
			if (want == "" || r.Boot == want) && !r.Received.Before(q.Since) {
				if len(out.Items) == q.Limit {
					break
				}
				out.Items = append(out.Items, v1alpha1.LogEntry{Cursor: cur, Boot: r.Boot, Received: r.Received,
					LogRecord: v1alpha1.LogRecord{Seq: r.Seq, Time: r.Time, Level: r.Level, Msg: r.Msg, Attrs: r.Attrs}})
			}
			out.Next = cur
		}
		return nil
	})
	return out, err
}

// Changed returns a channel closed when the node's log next grows. Take it
// before Read, then wait on it, to miss nothing.
func (s *Store) Changed(node string) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.changed[node]
	if !ok {
		ch = make(chan struct{})
		s.changed[node] = ch
	}
	return ch
}

func (s *Store) notify(node string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.changed[node]; ok {
		close(ch)
		delete(s.changed, node)
	}
}

// Forget deletes the node's records (the node was forgotten).
func (s *Store) Forget(node string) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketNodes).DeleteBucket([]byte(node))
		if errors.Is(err, bolterrors.ErrBucketNotFound) {
			return nil
		}
		return err
	})
	if err != nil {
		return fmt.Errorf("forget boot log of %s: %w", node, err)
	}
	s.mu.Lock()
	delete(s.bkt, node)
	s.mu.Unlock()
	s.notify(node)
	return nil
}

// bucket is a node's token bucket.
type bucket struct {
	recs, bytes float64
	at          time.Time
}

// take charges the batch to the node's rate, or refuses it.
func (s *Store) take(node string, batch v1alpha1.LogBatch, now time.Time) error {
	n := float64(len(batch.Records))
	size := 0.0
	for _, r := range batch.Records {
		size += float64(len(r.Msg) + len(r.Level) + 48)
		for k, v := range r.Attrs {
			size += float64(len(k) + len(v) + 6)
		}
	}
	rt := s.o.Rate
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.bkt[node]
	if !ok {
		b = &bucket{recs: rt.Burst, bytes: rt.BytesBurst, at: now}
		s.bkt[node] = b
	}
	if dt := now.Sub(b.at).Seconds(); dt > 0 {
		b.recs = min(rt.Burst, b.recs+dt*rt.PerSecond)
		b.bytes = min(rt.BytesBurst, b.bytes+dt*rt.BytesPerSecond)
		b.at = now
	}
	// A batch larger than the burst passes when the bucket is full.
	n, size = min(n, rt.Burst), min(size, rt.BytesBurst)
	if n > b.recs || size > b.bytes {
		wait := max((n-b.recs)/rt.PerSecond, (size-b.bytes)/rt.BytesPerSecond)
		return &RateLimitedError{RetryAfter: max(time.Second, time.Duration(wait*float64(time.Second)))}
	}
	b.recs -= n
	b.bytes -= size
	return nil
}

func u64(v uint64) []byte {
	b := make([]byte, 8)
	binary.BigEndian.PutUint64(b, v)
	return b
}
