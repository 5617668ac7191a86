package bootlog

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"corral.io/corral/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 22, 7, 0, 0, 0, time.UTC)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func open(t *testing.T, path string, o Options) *Store {
	t.Helper()
	s, err := Open(path, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func batch(boot string, from, to uint64) v1alpha1.LogBatch {
	b := v1alpha1.LogBatch{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogBatch, Boot: boot}
	for s := from; s <= to; s++ {
		b.Records = append(b.Records, v1alpha1.LogRecord{Seq: s, Time: t0, Level: "INFO", Msg: fmt.Sprintf("line %d", s), Attrs: map[string]string{"n": fmt.Sprint(s)}})
	}
	return b
}

func msgs(l v1alpha1.LogList) []string {
	var out []string
	for _, e := range l.Items {
		out = append(out, e.Boot+":"+e.Msg)
	}
	return out
}

func TestAppendIsIdempotentAndDurable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bootlogs.db")
	s := open(t, path, Options{})
	if r, err := s.Append("n1", Sender{}, batch("b1", 1, 3)); err != nil || r != (Result{Stored: 3, HighSeq: 3}) {
		t.Fatalf("first append: %+v, %v", r, err)
	}
	// The agent did not get the answer and sends 1-3 again, then 2-4.
	if r, err := s.Append("n1", Sender{}, batch("b1", 1, 3)); err != nil || r != (Result{Stored: 0, HighSeq: 3}) {
		t.Fatalf("retried append: %+v, %v", r, err)
	}
	if r, err := s.Append("n1", Sender{}, batch("b1", 2, 4)); err != nil || r != (Result{Stored: 1, HighSeq: 4}) {
		t.Fatalf("overlapping append: %+v, %v", r, err)
	}
	s.Close()
	s = open(t, path, Options{})
	l, err := s.Read("n1", Query{})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"b1:line 1", "b1:line 2", "b1:line 3", "b1:line 4"}, msgs(l)); diff != "" {
		t.Errorf("after reopening (-want +got):\n%s", diff)
	}
	if l.Boots[0].Verified {
		t.Errorf("boot verified without a credential")
	}
	if _, err := s.Append("n1", Sender{Credential: true}, batch("b1", 5, 5)); err != nil {
		t.Fatal(err)
	}
	if l, _ := s.Read("n1", Query{}); !l.Boots[0].Verified {
		t.Errorf("boot not verified after a batch with the credential")
	}
	if l.Next != 4 || l.Items[3].Attrs["n"] != "4" {
		t.Errorf("next %d, last entry %+v", l.Next, l.Items[3])
	}
}

func TestReadSelectsBootsAndFollowsACursor(t *testing.T) {
	c := &clock{t0}
	s := open(t, filepath.Join(t.TempDir(), "b.db"), Options{Now: c.now})
	for _, b := range []v1alpha1.LogBatch{batch("old", 1, 2), batch("mid", 1, 2), batch("new", 1, 2)} {
		c.t = c.t.Add(time.Minute)
		if _, err := s.Append("n1", Sender{}, b); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		q    Query
		want []string
	}{
		{Query{Boot: "current"}, []string{"new:line 1", "new:line 2"}},
		{Query{Boot: "previous"}, []string{"mid:line 1", "mid:line 2"}},
		{Query{Boot: "old"}, []string{"old:line 1", "old:line 2"}},
		{Query{Boot: "all", After: 4}, []string{"new:line 1", "new:line 2"}},
		{Query{Since: t0.Add(2 * time.Minute)}, []string{"mid:line 1", "mid:line 2", "new:line 1", "new:line 2"}},
		{Query{Limit: 1, After: 1}, []string{"old:line 2"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%+v", tt.q), func(t *testing.T) {
			l, err := s.Read("n1", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, msgs(l)); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if len(l.Boots) != 3 || l.Boots[2].ID != "new" || l.Boots[2].Records != 2 {
				t.Errorf("boots: %+v", l.Boots)
			}
		})
	}
	if _, err := s.Read("n1", Query{Boot: "nope"}); !errors.Is(err, ErrUnknownBoot) {
		t.Errorf("unknown boot: %v, want ErrUnknownBoot", err)
	}
	if l, err := s.Read("other", Query{Boot: "current"}); err != nil || len(l.Items) != 0 {
		t.Errorf("node without logs: %+v, %v", l, err)
	}
}

func TestBoundsDropTheOldestAndCountThem(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "b.db"), Options{
		Limits:  Limits{Records: 10, Bytes: 1 << 20},
		Pending: Limits{Records: 1000, Bytes: 600},
	})
	for i := uint64(0); i < 5; i++ {
		if _, err := s.Append("n1", Sender{}, batch("b1", i*4+1, i*4+4)); err != nil {
			t.Fatal(err)
		}
	}
	l, err := s.Read("n1", Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 10 || l.Items[0].Msg != "line 11" || l.Dropped != 10 || l.Boots[0].Records != 10 {
		t.Errorf("records bound: %d items from %q, dropped %d, boots %+v", len(l.Items), l.Items[0].Msg, l.Dropped, l.Boots)
	}
	// Pending: the byte bound.
	if _, err := s.Append("p1", Sender{Unapproved: true}, batch("b1", 1, 40)); err != nil {
		t.Fatal(err)
	}
	l, err = s.Read("p1", Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) == 0 || len(l.Items) >= 40 || l.Items[len(l.Items)-1].Msg != "line 40" || l.Dropped != uint64(40-len(l.Items)) {
		t.Errorf("bytes bound: kept %d, last %q, dropped %d", len(l.Items), l.Items[len(l.Items)-1].Msg, l.Dropped)
	}
}

func TestRateLimitRefusesAFloodThenRecovers(t *testing.T) {
	c := &clock{t0}
	s := open(t, filepath.Join(t.TempDir(), "b.db"), Options{Now: c.now,
		Rate: Rate{PerSecond: 10, Burst: 20, BytesPerSecond: 1 << 20, BytesBurst: 1 << 20}})
	if _, err := s.Append("n1", Sender{}, batch("b1", 1, 20)); err != nil {
		t.Fatalf("burst: %v", err)
	}
	_, err := s.Append("n1", Sender{}, batch("b1", 21, 25))
	var rl *RateLimitedError
	if !errors.As(err, &rl) || rl.RetryAfter != time.Second {
		t.Fatalf("flood: %v, want a RateLimitedError of 1s", err)
	}
	if _, err := s.Append("n2", Sender{}, batch("b1", 1, 5)); err != nil {
		t.Errorf("another node is not limited by n1: %v", err)
	}
	c.t = c.t.Add(time.Second)
	if _, err := s.Append("n1", Sender{}, batch("b1", 21, 25)); err != nil {
		t.Errorf("after a second: %v", err)
	}
	l, _ := s.Read("n1", Query{})
	if len(l.Items) != 25 {
		t.Errorf("%d records stored, want 25 (the refused batch wrote nothing)", len(l.Items))
	}
}

func TestChangedWakesAFollowerAndForgetDeletes(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "b.db"), Options{})
	ch := s.Changed("n1")
	select {
	case <-ch:
		t.Fatal("woken before anything was appended")
	default:
	}
	if _, err := s.Append("n1", Sender{}, batch("b1", 1, 1)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by an append")
	}
	if err := s.Forget("n1"); err != nil {
		t.Fatal(err)
	}
	if l, err := s.Read("n1", Query{}); err != nil || len(l.Items) != 0 || len(l.Boots) != 0 {
		t.Errorf("after forget: %+v, %v", l, err)
	}
	if err := s.Forget("n1"); err != nil {
		t.Errorf("forgetting twice: %v", err)
	}
	// A forgotten node that boots again starts a fresh log.
	if r, err := s.Append("n1", Sender{}, batch("b1", 1, 1)); err != nil || r.Stored != 1 {
		t.Errorf("after forget, append: %+v, %v", r, err)
	}
}

func TestSecondOpenIsRefusedWithAClearError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.db")
	open(t, path, Options{})
	_, err := Open(path, Options{})
	if err == nil || !strings.Contains(err.Error(), "another controller") {
		t.Errorf("second open: %v", err)
	}
}

// BenchmarkAppend measures durable appends of 200-record batches, from as
// many goroutines as GOMAXPROCS (nodes shipping at once share fsyncs).
func BenchmarkAppend(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), "b.db"), Options{Rate: Rate{PerSecond: 1e9, Burst: 1e9, BytesPerSecond: 1e12, BytesBurst: 1e12}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var node atomic.Int64
	b.RunParallel(func(pb *testing.PB) {
		id := fmt.Sprint("n", node.Add(1))
		for seq := uint64(1); pb.Next(); seq += 200 {
			if _, err := s.Append(id, Sender{}, batch("b1", seq, seq+199)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N*200)/b.Elapsed().Seconds(), "records/s")
}
