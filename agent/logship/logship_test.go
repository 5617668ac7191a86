package logship

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
)

// fixed gives fixed boot ids and a stalled clock, so that seq must be
// bumped to stay increasing.
func fixed(o Options) Options {
	o.BootID = func() (string, error) { return "boot-1", nil }
	o.Seq = func() uint64 { return 100 }
	return o
}

func queued(s *Shipper) []v1alpha1.LogRecord {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]v1alpha1.LogRecord(nil), s.q...)
}

func TestHandlerTeesToTheConsoleAndQueuesInOrder(t *testing.T) {
	var console bytes.Buffer
	s := New(fixed(Options{}))
	log := slog.New(s.Handler(slog.NewTextHandler(&console, nil))).With("svc", "init")
	log.Info("network up", "iface", "eth0", "ip", "10.0.0.5")
	log.WithGroup("dhcp").Warn("no offer", "attempt", 2, slog.Group("lease", "ttl", time.Minute))
	log.Debug("not enabled on the console, not shipped")
	log.Error("disk", "err", errors.New("boom"), "", "empty key dropped")

	if got := console.String(); !strings.Contains(got, "msg=\"network up\" svc=init iface=eth0 ip=10.0.0.5") || strings.Contains(got, "not enabled") {
		t.Errorf("console:\n%s", got)
	}
	var got []string
	for _, r := range queued(s) {
		got = append(got, fmt.Sprintf("%d %s %s %v", r.Seq, r.Level, r.Msg, r.Attrs))
	}
	want := []string{
		"100 INFO network up map[iface:eth0 ip:10.0.0.5 svc:init]",
		"101 WARN no offer map[dhcp.attempt:2 dhcp.lease.ttl:1m0s svc:init]",
		"102 ERROR disk map[err:boom svc:init]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("queued (-want +got):\n%s", diff)
	}
}

func TestShipAtLeastKeepsTheConsoleWhole(t *testing.T) {
	var console bytes.Buffer
	s := New(fixed(Options{}))
	log := slog.New(s.Handler(slog.NewTextHandler(&console, nil))).With("svc", "k3s")
	chatty := ShipAtLeast(log.With("child", "k3s-agent"), slog.LevelWarn)
	log.Info("k3s agent configured")
	chatty.Info("Starting kubelet")
	chatty.Warn("Failed to get node")
	chatty.WithGroup("g").Error("crash", "code", 1)
	for _, want := range []string{"k3s agent configured", "Starting kubelet", "Failed to get node", "crash"} {
		if !strings.Contains(console.String(), want) {
			t.Errorf("console lacks %q:\n%s", want, console.String())
		}
	}
	var got []string
	for _, r := range queued(s) {
		got = append(got, fmt.Sprintf("%s %s %v", r.Level, r.Msg, r.Attrs))
	}
	want := []string{
		"INFO k3s agent configured map[svc:k3s]",
		"WARN Failed to get node map[child:k3s-agent svc:k3s]",
		"ERROR crash map[child:k3s-agent g.code:1 svc:k3s]",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("shipped (-want +got):\n%s", diff)
	}
	// A logger that does not go through a shipper is left alone.
	other := slog.New(slog.DiscardHandler)
	if ShipAtLeast(other, slog.LevelWarn) != other {
		t.Error("another logger was replaced")
	}
}

func TestRecordsAreTruncatedToTheAPILimits(t *testing.T) {
	s := New(fixed(Options{}))
	log := slog.New(s.Handler(slog.DiscardHandler))
	args := []any{strings.Repeat("k", 300), strings.Repeat("é", 1000)}
	for i := range 40 {
		args = append(args, fmt.Sprint("a", i), i)
	}
	log.Info(strings.Repeat("é", 3000), args...)
	r := queued(s)[0]
	b := v1alpha1.LogBatch{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogBatch, Boot: "b", Records: []v1alpha1.LogRecord{r}}
	if len(r.Msg) > v1alpha1.MaxLogMessage || !strings.HasSuffix(r.Msg, "é") || len(r.Attrs) != v1alpha1.MaxLogAttrs {
		t.Errorf("msg %d bytes, %d attrs", len(r.Msg), len(r.Attrs))
	}
	for k, v := range b.Records[0].Attrs {
		if len(k) > v1alpha1.MaxLogAttrKey || len(v) > v1alpha1.MaxLogAttrValue {
			t.Errorf("attr %d:%d bytes", len(k), len(v))
		}
	}
}

func TestAFullQueueDropsTheOldestAndNeverBlocks(t *testing.T) {
	s := New(fixed(Options{Capacity: 100}))
	log := slog.New(s.Handler(slog.DiscardHandler))
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100_000 {
			log.Info("line", "i", i) // nobody sends: the queue fills
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("logging blocked on a full queue")
	}
	q := queued(s)
	n, dropped := s.Stats()
	if n != 100 || dropped != 99_900 || q[0].Attrs["i"] != "99900" || q[99].Attrs["i"] != "99999" {
		t.Errorf("queued %d (first %v), dropped %d", n, q[0].Attrs, dropped)
	}
}

// fakeSender records batches and fails as told.
type fakeSender struct {
	mu      sync.Mutex
	fail    []error // consumed one per call
	batches []v1alpha1.LogBatch
	tokens  []string
}

func (f *fakeSender) send(_ context.Context, token string, b v1alpha1.LogBatch) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.tokens = append(f.tokens, token)
	if len(f.fail) > 0 {
		err := f.fail[0]
		f.fail = f.fail[1:]
		return err
	}
	f.batches = append(f.batches, b)
	return nil
}

func TestFailedSendsAreRetriedNotLost(t *testing.T) {
	var sleeps []time.Duration
	s := New(fixed(Options{Batch: 2, Sleep: func(_ context.Context, d time.Duration) error { sleeps = append(sleeps, d); return nil }}))
	log := slog.New(s.Handler(slog.DiscardHandler))
	for i := range 5 {
		log.Info(fmt.Sprint("line ", i))
	}
	f := &fakeSender{fail: []error{errors.New("connection refused"), &client.APIError{Code: 503, Message: "busy"}}}
	// No sender, no token: Flush keeps everything.
	if err := s.Flush(t.Context()); err == nil || !strings.Contains(err.Error(), "5 log records not sent") {
		t.Fatalf("flush before registration: %v", err)
	}
	s.SetSender(f.send)
	s.SetToken("n1.token")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	// Run retries twice, then sends three batches; Flush waits its turn.
	for {
		if n, _ := s.Stats(); n == 0 {
			break
		}
		if err := s.Flush(t.Context()); err != nil {
			t.Logf("flush while failing: %v", err)
		}
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("run: %v", err)
	}
	var got []string
	for _, b := range f.batches {
		if b.Boot != "boot-1" {
			t.Errorf("boot %q", b.Boot)
		}
		for _, r := range b.Records {
			got = append(got, fmt.Sprint(r.Seq, " ", r.Msg))
		}
	}
	if diff := cmp.Diff([]string{"100 line 0", "101 line 1", "102 line 2", "103 line 3", "104 line 4"}, got); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
}

func TestARefusedTokenWaitsForANewOne(t *testing.T) {
	s := New(fixed(Options{}))
	slog.New(s.Handler(slog.DiscardHandler)).Info("early boot")
	f := &fakeSender{fail: []error{&client.APIError{Code: 401, Message: "token not valid"}}}
	s.SetSender(f.send)
	s.SetToken("n1.old")
	if err := s.Flush(t.Context()); err == nil {
		t.Fatal("flush with a refused token succeeded")
	}
	if err := s.Flush(t.Context()); err == nil || len(f.tokens) != 1 {
		t.Fatalf("the refused token was used again: %v, tokens %v", err, f.tokens)
	}
	s.SetToken("n1.new")
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"n1.old", "n1.new"}, f.tokens); diff != "" || len(f.batches) != 1 {
		t.Errorf("tokens (-want +got):\n%s", diff)
	}
}

func TestABatchTheControllerCannotTakeIsDroppedAndCounted(t *testing.T) {
	s := New(fixed(Options{Batch: 1}))
	log := slog.New(s.Handler(slog.DiscardHandler))
	log.Info("bad")
	log.Info("good")
	f := &fakeSender{fail: []error{&client.APIError{Code: 400, Message: "malformed"}}}
	s.SetSender(f.send)
	s.SetToken("n1.t")
	if err := s.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if len(f.batches) != 1 || f.batches[0].Records[0].Msg != "good" || f.batches[0].Dropped != 1 {
		t.Errorf("batches %+v", f.batches)
	}
}

func TestSeqIncreasesWithTheBootClock(t *testing.T) {
	a, b := BootTime(), BootTime()
	if a == 0 || b < a {
		t.Errorf("BootTime %d then %d", a, b)
	}
	id, err := KernelBootID()
	if !v1alpha1.ValidBootID(id) {
		t.Errorf("boot id %q (%v)", id, err)
	}
}
