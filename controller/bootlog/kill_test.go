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

// appendForever appends batches of 50 records and prints "acked N" after
// each append returned, N being the batch's last seq.
func appendForever(path string) {
	s, err := Open(path, Options{Rate: Rate{PerSecond: 1e9, Burst: 1e9, BytesPerSecond: 1e12, BytesBurst: 1e12}})
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
	s := open(t, path, Options{})
	l, err := s.Read("n1", Query{Limit: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if uint64(len(l.Items)) < acked {
		t.Fatalf("%d records after kill -9, but %d were acknowledged", len(l.Items), acked)
	}
	for i, e := range l.Items {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d", i, e.Seq)
		}
	}
	t.Logf("acknowledged %d, found %d after kill -9", acked, len(l.Items))
}
