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
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"corral.io/corral/agent/enroll"
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
		o.Sleep = sleep
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

// sendOnce sends the oldest batch. It returns ErrNotReady when there is
// nothing it may send with, and (false, nil) when the queue is empty.
func (s *Shipper) sendOnce(ctx context.Context) (sent bool, err error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	send, token := s.send, s.token
	if len(s.q) == 0 {
		s.mu.Unlock()
		return false, nil
	}
	if send == nil || token == "" || token == s.refused {
		s.mu.Unlock()
		return false, ErrNotReady
	}
	if s.boot == "" {
		id, err := s.o.BootID()
		if err != nil {
			s.log.Warn("no kernel boot id: using a random one for this process", "err", err)
		}
		s.boot = id
	}
	b := v1alpha1.LogBatch{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogBatch, Boot: s.boot, Dropped: s.dropped}
	b.Records = append([]v1alpha1.LogRecord(nil), s.q[:s.batchLenLocked()]...)
	s.mu.Unlock()

	err = send(ctx, token, b)
	var ae *client.APIError
	for tries := 0; err != nil && tries < 3 && errors.As(err, &ae) && ae.Code == http.StatusUnauthorized; tries++ {
		// Refused, but the token may have been replaced while the batch
		// was on its way (the controller issuing the credential spends
		// the enrollment token): send again at once with the new one.
		s.mu.Lock()
		newer := s.token
		s.mu.Unlock()
		if newer == token || newer == "" {
			break
		}
		token = newer
		err = send(ctx, token, b)
	}
	switch {
	case err == nil:
		s.remove(b.Records[len(b.Records)-1].Seq, 0)
		s.endSpool()
		s.mu.Lock()
		if s.limit > 0 {
			if s.limit *= 2; s.limit >= s.o.Batch {
				s.limit = 0
			}
		}
		s.mu.Unlock()
		return true, nil
	case errors.As(err, &ae) && ae.Code == http.StatusRequestEntityTooLarge && len(b.Records) > 1:
		// Too large for the controller: send half as many records at
		// once until one is accepted, rather than drop them.
		s.mu.Lock()
		s.limit = len(b.Records) / 2
		s.mu.Unlock()
		s.log.Warn("the controller refused a batch of log records as too large; sending fewer at once",
			"records", len(b.Records), "next", len(b.Records)/2)
		return true, nil
	case errors.As(err, &ae) && (ae.Code == http.StatusUnauthorized || ae.Code == http.StatusForbidden):
		s.mu.Lock()
		s.refused = token
		// A credential request in flight may be what spent the token:
		// wait for its outcome (Tap) before saying it was refused.
		s.quiet = nil
		if ae.Code == http.StatusUnauthorized && s.credCalls > 0 && s.token == token {
			s.quiet = err
		}
		quiet := s.quiet != nil
		s.mu.Unlock()
		if !quiet {
			s.warnRefused(err)
		}
		return false, ErrNotReady
	case errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 && ae.Code != http.StatusTooManyRequests && ae.Code != http.StatusRequestTimeout:
		// The controller will refuse this batch whatever we do: drop it
		// rather than block every later record behind it.
		s.remove(b.Records[len(b.Records)-1].Seq, uint64(len(b.Records)))
		s.log.Error("the controller refused a batch of log records; dropped it", "records", len(b.Records), "err", err)
		return true, nil
	}
	return false, err
}

// batchLenLocked is how many of the queue's oldest records the next send
// carries: at most Batch (and limit, after a 413), and no more than fit in
// BatchBytes encoded — but at least one.
func (s *Shipper) batchLenLocked() int {
	n := min(len(s.q), s.o.Batch)
	if s.limit > 0 {
		n = min(n, s.limit)
	}
	size := 0
	for i, r := range s.q[:n] {
		size += encodedSize(r) + 1 // the comma
		if size > s.o.BatchBytes && i > 0 {
			return i
		}
	}
	return n
}

// encodedSize is the length of r in JSON.
func encodedSize(r v1alpha1.LogRecord) int {
	b, err := json.Marshal(r)
	if err != nil {
		return 0
	}
	return len(b)
}

func (s *Shipper) warnRefused(err error) {
	s.log.Warn("the controller refused this node's log token; keeping the logs until the node registers again", "err", err)
}

// remove takes the records up to seq off the queue (they may have been
// dropped meanwhile), counting lost ones as dropped.
func (s *Shipper) remove(seq, lost uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.q) && s.q[i].Seq <= seq {
		i++
	}
	s.q = s.q[i:]
	s.dropped += lost
}

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

// Handler returns a handler that writes to next (the console) what next
// accepts, and queues every record of Options.Level or above.
func (s *Shipper) Handler(next slog.Handler) slog.Handler {
	return &handler{s: s, next: next}
}

type handler struct {
	s    *Shipper
	next slog.Handler
	// min, when set, raises the least level shipped (ShipAtLeast).
	min    slog.Leveler
	attrs  []slog.Attr // flattened, with their group prefix
	prefix string      // "group." of WithGroup
}

// ShipAtLeast returns a logger that writes to the console what l writes
// but ships only records of level or above (and of Options.Level): for a
// chatty source whose every line would crowd the rest of the boot out of
// the controller's bounded log. l must log through a Shipper's Handler
// (with any attributes and groups); any other logger is returned as is.
func ShipAtLeast(l *slog.Logger, level slog.Leveler) *slog.Logger {
	h, ok := l.Handler().(*handler)
	if !ok {
		return l
	}
	c := *h
	c.min = level
	return slog.New(&c)
}

// shipLevel is the least level this handler ships.
func (h *handler) shipLevel() slog.Level {
	l := h.s.o.Level.Level()
	if h.min != nil {
		l = max(l, h.min.Level())
	}
	return l
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.shipLevel() || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level < h.shipLevel() {
		return err
	}
	rec := v1alpha1.LogRecord{Time: r.Time.UTC(), Level: truncate(r.Level.String(), v1alpha1.MaxLogLevel), Msg: truncate(r.Message, v1alpha1.MaxLogMessage)}
	if r.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	attrs := make(map[string]string, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		flatten(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(attrs, h.prefix, a)
		return true
	})
	if len(attrs) > 0 {
		rec.Attrs = attrs
	}
	h.s.enqueue(rec)
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// flatten adds a (and its members, for a group) to m as prefix+key:
// string, within the limits of a LogRecord.
func flatten(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			flatten(m, p, g)
		}
		return
	}
	if a.Key == "" || len(m) >= v1alpha1.MaxLogAttrs {
		return
	}
	var s string
	if v.Kind() == slog.KindTime {
		s = v.Time().UTC().Format(time.RFC3339Nano)
	} else {
		s = v.String()
	}
	m[truncate(prefix+a.Key, v1alpha1.MaxLogAttrKey)] = truncate(s, v1alpha1.MaxLogAttrValue)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

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

// Tap wraps the enrollment loop's API so that the shipper gets the tokens
// the loop obtains: the enrollment token from register, then the node
// credential.
func (s *Shipper) Tap(api enroll.API) enroll.API { return tap{api, s} }

type tap struct {
	enroll.API
	s *Shipper
}

func (t tap) Register(ctx context.Context, inv v1alpha1.Inventory, credential string) (v1alpha1.RegisterResponse, error) {
	r, err := t.API.Register(ctx, inv, credential)
	if err == nil && r.EnrollmentToken != "" {
		t.s.SetToken(r.EnrollmentToken)
	}
	return r, err
}

func (t tap) Credential(ctx context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	s := t.s
	s.mu.Lock()
	s.credCalls++
	s.mu.Unlock()
	c, p, err := t.API.Credential(ctx, token)
	got := err == nil && c != nil && c.Credential != ""
	if got {
		s.SetToken(c.Credential)
	}
	s.mu.Lock()
	s.credCalls--
	// A refusal kept quiet while this request was in flight, and no new
	// token came of it: the token really is refused.
	var report error
	if s.credCalls == 0 {
		if s.refused == s.token {
			report = s.quiet
		}
		s.quiet = nil
	}
	s.mu.Unlock()
	if report != nil {
		s.warnRefused(report)
	}
	return c, p, err
}

func (t tap) Config(ctx context.Context, credential string) (v1alpha1.NodeConfig, error) {
	t.s.SetToken(credential)
	return t.API.Config(ctx, credential)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
