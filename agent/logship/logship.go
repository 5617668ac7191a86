// Package logship sends what the agent logs to the controller, so that an
// operator reads a node's boot (`corral nodes logs NODE`) even when nobody
// watches its console.
//
// Handler tees every record to the console handler and to a bounded queue in
// memory; logging never waits for the network, and when the queue is full
// the oldest record is dropped and counted (the count travels with the next
// batch). Run sends the queue in batches once the shipper has somewhere to
// send (SetSender) and a token to send with (SetToken: the enrollment token
// from register, then the node credential; Tap feeds them from the
// enrollment loop). Until then it only buffers, so the lines of early boot —
// modules, network, DHCP — reach the controller once the node registered.
// Issuing the credential spends the enrollment token, so a batch on its way
// with it meanwhile is answered 401: the shipper then sends it again with the
// credential (or waits for the credential request through Tap to end) rather
// than report the token refused.
// A batch is removed from the queue only after the controller acknowledged
// it (it is then on the controller's disk); a failed send is retried with
// backoff, and the records wait in the queue meanwhile.
//
// Records carry a boot id and a sequence number. The boot id is the
// kernel's (/proc/sys/kernel/random/boot_id), the same for every process of
// one boot (the initramfs agent and the one started after switch_root); the
// sequence number is the CLOCK_BOOTTIME reading in nanoseconds when the
// record was logged, bumped to stay strictly increasing, so it also
// increases across those processes. The controller stores a record only
// once per (boot, seq). Stage 1 cannot send (it registers only after
// switch_root), so Spool keeps its records in /run for stage 2 to send.
//
// The shipper's own troubles (controller unreachable, token refused) are
// written to the console only, never queued, so they cannot feed on
// themselves.
package logship

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

// Defaults.
const (
	// DefaultCapacity is how many records wait for the controller at most.
	DefaultCapacity = 4096
	// DefaultBatch is the most records sent at once.
	DefaultBatch = 200
	// DefaultBatchBytes bounds the JSON encoding of a batch's records:
	// half the controller's 1 MiB request limit, so that a batch of long
	// lines (k3s output, escaped) is not refused as too large.
	DefaultBatchBytes = 512 << 10
	// FlushTimeout is how long a shutting-down agent tries to send what is
	// left.
	FlushTimeout = 3 * time.Second
)

// Sender posts one batch with token; nil error means the controller stored
// it. ClientSender is the real one.
type Sender func(ctx context.Context, token string, b v1alpha1.LogBatch) error

// ClientSender sends with c (its own token unused).
func ClientSender(c *client.Client) Sender {
	return func(ctx context.Context, token string, b v1alpha1.LogBatch) error {
		_, err := c.WithToken(token).SendLogs(ctx, b)
		return err
	}
}

// Options configure a Shipper; zero fields take the defaults.
type Options struct {
	// Console receives the shipper's own messages (and nothing is
	// queued from it). nil discards them.
	Console slog.Handler
	// Level is the least level shipped (default INFO), whatever the
	// console shows.
	Level slog.Leveler
	// Capacity bounds the queue; Batch the records of one send.
	Capacity, Batch int
	// BatchBytes bounds the encoded size of one send's records
	// (DefaultBatchBytes); one record is sent even if larger.
	BatchBytes int
	// Backoff paces retries after a failed send.
	Backoff backoff.Backoff
	// BootID returns this boot's id; KernelBootID when nil.
	BootID func() (string, error)
	// Seq returns a number that grows during the boot; BootTime when nil.
	Seq func() uint64
	// Sleep waits d or until ctx is done (tests); a timer when nil.
	Sleep func(ctx context.Context, d time.Duration) error
}

// Shipper queues records and sends them.
type Shipper struct {
	o   Options
	log *slog.Logger

	mu      sync.Mutex
	q       []v1alpha1.LogRecord
	lastSeq uint64
	dropped uint64
	token   string
	refused string // the token the controller refused
	// credCalls counts credential requests in flight through Tap: while
	// one is, the controller may have just replaced the enrollment token
	// with the credential, so a refusal of it is not reported (yet).
	credCalls int
	// quiet is the refusal of refused recorded during a credential
	// request and not reported yet.
	quiet error
	send  Sender
	boot  string
	// limit, when not 0, is the most records of one send after the
	// controller answered 413 (halved at each 413, doubled back after
	// each success).
	limit int

	// spool, while set, receives every queued record (see Spool).
	spool     *os.File
	spoolPath string
	spooled   int

	wake   chan struct{}
	sendMu sync.Mutex // one send at a time: Run or Flush
}

// New returns a Shipper that buffers until it has a sender and a token.
func New(o Options) *Shipper {
	if o.Capacity <= 0 {
		o.Capacity = DefaultCapacity
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	o.Batch = min(o.Batch, v1alpha1.MaxLogRecords)
	if o.BatchBytes <= 0 {
		o.BatchBytes = DefaultBatchBytes
	}
	if o.Level == nil {
		o.Level = slog.LevelInfo
	}
	if o.Console == nil {
		o.Console = slog.DiscardHandler
	}
	if o.BootID == nil {
		o.BootID = KernelBootID
	}
	if o.Seq == nil {
		o.Seq = BootTime
	}
	if o.Sleep == nil {
		o.Sleep = backoff.Sleep
	}
	return &Shipper{o: o, log: slog.New(o.Console).With("svc", "logship"), wake: make(chan struct{}, 1)}
}

// SetSender says where to send (once the controller's address is known).
func (s *Shipper) SetSender(send Sender) {
	s.mu.Lock()
	s.send = send
	s.mu.Unlock()
	s.poke()
}

// SetToken gives the token to send with: the enrollment token while the
// node is pending, the node credential once approved.
func (s *Shipper) SetToken(token string) {
	s.mu.Lock()
	changed := s.token != token
	s.token = token
	s.mu.Unlock()
	if changed {
		s.poke()
	}
}

// Stats returns how many records wait and how many were dropped so far.
func (s *Shipper) Stats() (queued int, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.q), s.dropped
}

func (s *Shipper) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// enqueue adds a record, dropping the oldest when full. It never blocks on
// anything but the queue's mutex.
func (s *Shipper) enqueue(r v1alpha1.LogRecord) {
	s.mu.Lock()
	r.Seq = max(s.o.Seq(), s.lastSeq+1)
	s.lastSeq = r.Seq
	s.q = append(s.q, r)
	s.spoolLocked(r)
	if len(s.q) > s.o.Capacity {
		n := len(s.q) - s.o.Capacity
		s.q = s.q[n:]
		s.dropped += uint64(n)
	}
	s.mu.Unlock()
	s.poke()
}

// ErrNotReady is Flush's error when the shipper has no sender or no usable
// token yet (the node never registered).
var ErrNotReady = errors.New("not registered with the controller yet")

// Run sends the queue until ctx is done. It waits, without spinning, while
// it has nothing to send or nothing to send with.
func (s *Shipper) Run(ctx context.Context) error {
	failures := 0
	for {
		sent, err := s.sendOnce(ctx)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err == nil && sent:
			if failures > 0 {
				s.log.Info("sending logs to the controller again", "attempt", failures+1)
			}
			failures = 0
			continue
		case err == nil, errors.Is(err, ErrNotReady):
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-s.wake:
			}
		default:
			failures++
			wait := s.o.Backoff.Delay(failures, 0.5+0.5*mrand.Float64())
			if failures == 1 || failures%10 == 0 {
				queued, dropped := s.Stats()
				s.log.Warn("cannot send logs to the controller; keeping them and retrying",
					"attempt", failures, "wait", wait.Round(time.Millisecond).String(), "queued", queued, "dropped", dropped, "err", err)
			}
			if err := s.o.Sleep(ctx, wait); err != nil {
				return err
			}
		}
	}
}

// Flush sends what is queued, until the queue is empty or ctx is done.
// It returns an error saying how many records were left behind.
func (s *Shipper) Flush(ctx context.Context) error {
	for {
		sent, err := s.sendOnce(ctx)
		if err == nil && !sent {
			return nil
		}
		if err != nil || ctx.Err() != nil {
			queued, _ := s.Stats()
			if err == nil {
				err = ctx.Err()
			}
			return fmt.Errorf("%d log records not sent to the controller: %w", queued, err)
		}
	}
}
