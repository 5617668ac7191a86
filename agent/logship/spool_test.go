package logship

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestTheQueueSurvivesSwitchRoot plays stage 1 (logs, never registers,
// execs) and stage 2 (a new process of the same boot, later clock).
func TestTheQueueSurvivesSwitchRoot(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run", "corral", "logship.jsonl")
	clock := uint64(1000)
	o := Options{BootID: func() (string, error) { return "boot-1", nil }, Seq: func() uint64 { clock++; return clock }}

	stage1 := New(o)
	log1 := slog.New(stage1.Handler(slog.DiscardHandler))
	log1.Info("starting as init") // before /run is mounted
	if err := stage1.Spool(path); err != nil {
		t.Fatal(err)
	}
	log1.Info("network up", "iface", "eth0")
	log1.Info("switching root")
	// exec: stage 1's memory is gone, and a torn line was left behind.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprint(f, `{"seq":99999,"level":"INFO","ms`)
	f.Close()

	stage2 := New(o)
	log2 := slog.New(stage2.Handler(slog.DiscardHandler))
	log2.Info("stage 2")
	if err := stage2.Spool(path); err != nil {
		t.Fatal(err)
	}
	f2 := &fakeSender{}
	stage2.SetSender(f2.send)
	stage2.SetToken("n1.t")
	if err := stage2.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var got []string
	var last uint64
	for _, r := range f2.batches[0].Records {
		got = append(got, r.Msg)
		if r.Seq <= last {
			t.Errorf("seq %d after %d", r.Seq, last)
		}
		last = r.Seq
	}
	if diff := cmp.Diff([]string{"starting as init", "network up", "switching root", "stage 2"}, got); diff != "" {
		t.Errorf("sent (-want +got):\n%s", diff)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("spool left behind after the controller took the records: %v", err)
	}
}
