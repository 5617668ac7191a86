package bootlog

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary play a controller that appends until it is
// killed (see TestAcknowledgedRecordsSurviveKill9).
func TestMain(m *testing.M) {
	if path := os.Getenv("BOOTLOG_TEST_APPENDER"); path != "" {
		appendForever(path)
		return
	}
	os.Exit(m.Run())
}

// unbounded keeps every record: the appender may run far past the test's
// 2000 records before it is killed (its stdout is a pipe of 64 KiB), and
// trimmed records would break the seq check.
var unbounded = Options{
	Limits:  Limits{Records: 1 << 40, Bytes: 1 << 60},
	Pending: Limits{Records: 1 << 40, Bytes: 1 << 60},
	Rate:    Rate{PerSecond: 1e9, Burst: 1e9, BytesPerSecond: 1e12, BytesBurst: 1e12},
}

// appendForever appends batches of 50 records and prints "acked N" after
// each append returned, N being the batch's last seq.
func appendForever(path string) {
	s, err := Open(path, unbounded)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for seq := uint64(1); ; seq += 50 {
		if _, err := s.Append("n1", Sender{}, batch("b1", seq, seq+49)); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println("acked", seq+49)
	}
}

func TestAcknowledgedRecordsSurviveKill9(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bootlogs.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "BOOTLOG_TEST_APPENDER="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	sc := bufio.NewScanner(out)
	var acked uint64
	deadline := time.Now().Add(30 * time.Second)
	for acked < 2000 && sc.Scan() {
		line := sc.Text()
		n, ok := strings.CutPrefix(line, "acked ")
		if !ok {
			t.Fatalf("appender: %s", line)
		}
		if acked, err = strconv.ParseUint(n, 10, 64); err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d records acknowledged in 30 s", acked)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	s := open(t, path, unbounded)
	var found uint64
	for after := uint64(0); ; {
		l, err := s.Read("n1", Query{After: after, Limit: 5000})
		if err != nil {
			t.Fatal(err)
		}
		if len(l.Items) == 0 {
			break
		}
		if l.Dropped != 0 {
			t.Fatalf("the store dropped %d records", l.Dropped)
		}
		for _, e := range l.Items {
			if found++; e.Seq != found {
				t.Fatalf("entry %d has seq %d", found, e.Seq)
			}
		}
		after = l.Next
	}
	if found < acked {
		t.Fatalf("%d records after kill -9, but %d were acknowledged", found, acked)
	}
	t.Logf("acknowledged %d, found %d after kill -9", acked, found)
}
