package supervise

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"
)

// The test binary doubles as the supervised child: with SUPERVISE_CHILD set
// it behaves as that mode says and never runs the tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("SUPERVISE_CHILD"); mode != "" {
		child(mode)
		return
	}
	os.Exit(m.Run())
}

func child(mode string) {
	dir := os.Getenv("SUPERVISE_DIR")
	fmt.Println("hello from stdout")
	fmt.Fprintln(os.Stderr, `time="2026-11-22T06:50:23Z" level=error msg="hello from stderr"`)
	switch mode {
	case "crash":
		os.Exit(3)
	case "clean":
		os.Exit(0)
	case "long":
		fmt.Println(strings.Repeat("x", MaxLine+100))
		fmt.Println("after the long line")
		os.Exit(0)
	case "term": // stops on SIGTERM
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM)
		marker(dir, "ready")
		<-sig
		fmt.Println("got SIGTERM, leaving")
		os.Exit(0)
	case "hang": // ignores SIGTERM, with a grandchild in its group
		signal.Ignore(syscall.SIGTERM)
		gc := exec.Command("/bin/sleep", "3600")
		if err := gc.Start(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		_ = os.WriteFile(filepath.Join(dir, "grandchild"), []byte(strconv.Itoa(gc.Process.Pid)), 0o600)
		marker(dir, "ready")
		// Block for real: a bare select {} leaves no goroutine that can
		// wake, so without -race the runtime reports a deadlock and exits 2.
		for {
			time.Sleep(time.Hour)
		}
	case "flaky": // ready while the file "up" exists
		for {
			time.Sleep(10 * time.Millisecond)
		}
	}
	os.Exit(2)
}

func marker(dir, name string) { _ = os.WriteFile(filepath.Join(dir, name), nil, 0o600) }

// recorder keeps the supervisor's events and log records.
type recorder struct {
	mu     sync.Mutex
	events []Event
	logs   bytes.Buffer
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1000)} }

func (r *recorder) observe(e Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
	r.notify <- struct{}{}
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.logs.Write(p)
}

func (r *recorder) snapshot() ([]Event, string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...), r.logs.String()
}

// waitFor waits until cond holds over the events seen so far.
func (r *recorder) waitFor(t *testing.T, what string, cond func([]Event) bool) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		ev, _ := r.snapshot()
		if cond(ev) {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; events: %+v", what, ev)
		}
	}
}

func count(ev []Event, typ EventType) int {
	n := 0
	for _, e := range ev {
		if e.Type == typ {
			n++
		}
	}
	return n
}

// start runs a supervisor over the test binary in mode until the test ends
// and checks that Run returned nil and that no child is left.
func start(t *testing.T, mode string, o Options) (*Supervisor, *recorder, func() time.Duration) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rec := newRecorder()
	o.Name = "test-" + mode
	o.Path = exe
	// GORACE: a -race binary sleeps 1 s at exit by default.
	o.Env = append(os.Environ(), "SUPERVISE_CHILD="+mode, "SUPERVISE_DIR="+dir, "GORACE=atexit_sleep_ms=0")
	o.Logger = slog.New(slog.NewTextHandler(rec, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.Observe = rec.observe
	s := New(o)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var took time.Duration
	stop := func() time.Duration {
		once.Do(func() {
			began := time.Now()
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
			took = time.Since(began)
			ev, logs := rec.snapshot()
			for _, e := range ev {
				if e.PID != 0 && alive(e.PID) {
					t.Errorf("child %d outlived Run", e.PID)
					_ = unix.Kill(-e.PID, unix.SIGKILL)
				}
			}
			if t.Failed() || os.Getenv("SUPERVISE_VERBOSE") != "" {
				t.Logf("supervisor log:\n%s", logs)
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	t.Setenv("SUPERVISE_TEST_DIR", dir) // for the test to find the child's files
	return s, rec, stop
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if err := unix.Kill(pid, 0); err != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func waitFile(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s never appeared", path)
}

func TestCrashingChildIsRestartedWithGrowingBackoff(t *testing.T) {
	_, rec, stop := start(t, "crash", Options{
		Initial: 10 * time.Millisecond, Max: 80 * time.Millisecond,
		Rand: func() float64 { return 0.5 }, // no jitter: factor 1.0
	})
	rec.waitFor(t, "six restarts", func(ev []Event) bool { return count(ev, Waiting) >= 6 })
	stop()
	ev, logs := rec.snapshot()
	var delays []time.Duration
	for _, e := range ev {
		switch e.Type {
		case Waiting:
			delays = append(delays, e.Delay)
		case Exited:
			if e.Err == nil || e.Err.Error() != "exit status 3" {
				t.Errorf("run %d: exit %v, want exit status 3", e.Run, e.Err)
			}
		}
	}
	ms := time.Millisecond
	want := []time.Duration{10 * ms, 20 * ms, 40 * ms, 80 * ms, 80 * ms, 80 * ms}
	if diff := cmp.Diff(want, delays[:6]); diff != "" {
		t.Errorf("restart delays (-want +got):\n%s", diff)
	}
	for _, line := range []string{
		`level=INFO msg="hello from stdout" child=test-crash stream=stdout`,
		`level=ERROR msg="time=\"2026-11-22T06:50:23Z\" level=error msg=\"hello from stderr\"" child=test-crash stream=stderr`,
		`level=WARN msg="child exited; restarting" child=test-crash run=1`,
	} {
		if !strings.Contains(logs, line) {
			t.Errorf("log lacks %q", line)
		}
	}
}

func TestBackoffResetsAfterALongEnoughRun(t *testing.T) {
	// Every run of the crash child lasts a few milliseconds; with
	// ResetAfter 1ns each counts as long, so every wait is the first one.
	_, rec, stop := start(t, "crash", Options{
		Initial: 10 * time.Millisecond, ResetAfter: time.Nanosecond, Rand: func() float64 { return 0.5 },
	})
	rec.waitFor(t, "four restarts", func(ev []Event) bool { return count(ev, Waiting) >= 4 })
	stop()
	ev, _ := rec.snapshot()
	for _, e := range ev {
		if e.Type == Waiting && e.Delay != 10*time.Millisecond {
			t.Errorf("run %d: waited %s, want 10ms after a run longer than ResetAfter", e.Run, e.Delay)
		}
	}
}

func TestChildIgnoringSIGTERMIsKilledWithItsGroupAfterGrace(t *testing.T) {
	const grace = 300 * time.Millisecond
	_, rec, stop := start(t, "hang", Options{Grace: grace})
	dir := os.Getenv("SUPERVISE_TEST_DIR")
	waitFile(t, filepath.Join(dir, "ready"))
	b, err := os.ReadFile(filepath.Join(dir, "grandchild"))
	if err != nil {
		t.Fatal(err)
	}
	gc, _ := strconv.Atoi(string(b))
	if !alive(gc) {
		t.Fatalf("grandchild %d not running before the stop", gc)
	}
	took := stop()
	if took < grace {
		t.Errorf("stopped after %s, before the %s grace period", took, grace)
	}
	if took > grace+10*time.Second {
		t.Errorf("stopped after %s: SIGKILL did not follow the grace period", took)
	}
	ev, _ := rec.snapshot()
	if count(ev, Killed) != 1 || count(ev, Stopped) != 0 {
		t.Errorf("events %+v: want one killed, none stopped", ev)
	}
	// SIGKILL to the group is delivered at once but acted on when the
	// grandchild is next scheduled: give it a moment to die.
	for deadline := time.Now().Add(5 * time.Second); alive(gc) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if alive(gc) {
		t.Errorf("grandchild %d outlived its child's process group", gc)
		_ = unix.Kill(gc, unix.SIGKILL)
	}
}

func TestChildStoppingOnSIGTERMIsNotKilled(t *testing.T) {
	_, rec, stop := start(t, "term", Options{Grace: time.Minute})
	waitFile(t, filepath.Join(os.Getenv("SUPERVISE_TEST_DIR"), "ready"))
	if took := stop(); took > 20*time.Second {
		t.Errorf("stop took %s for a child that leaves on SIGTERM", took)
	}
	ev, logs := rec.snapshot()
	if count(ev, Stopped) != 1 || count(ev, Killed) != 0 || count(ev, Waiting) != 0 {
		t.Errorf("events %+v: want one stopped, no kill, no restart", ev)
	}
	if !strings.Contains(logs, `msg="got SIGTERM, leaving"`) {
		t.Errorf("the child's last line is not in the log:\n%s", logs)
	}
}

func TestCleanExitIsRestartedToo(t *testing.T) {
	_, rec, stop := start(t, "clean", Options{Initial: 5 * time.Millisecond})
	rec.waitFor(t, "three starts", func(ev []Event) bool { return count(ev, Started) >= 3 })
	stop()
	ev, logs := rec.snapshot()
	for _, e := range ev {
		// The last run may be the one the stop ended.
		if e.Type == Exited && e.Run < 3 && e.Err != nil {
			t.Errorf("run %d: %v, want a clean exit", e.Run, e.Err)
		}
	}
	if !strings.Contains(logs, `err="exit status 0"`) {
		t.Errorf("clean exits are not logged as such:\n%s", logs)
	}
}

func TestReadinessFollowsTheProbe(t *testing.T) {
	up := filepath.Join(t.TempDir(), "up")
	probe := func(context.Context) error {
		if _, err := os.Stat(up); err != nil {
			return errors.New("not up")
		}
		return nil
	}
	s, rec, stop := start(t, "flaky", Options{Ready: probe, ProbeInterval: 5 * time.Millisecond})
	rec.waitFor(t, "the start", func(ev []Event) bool { return count(ev, Started) == 1 })
	if s.Ready() {
		t.Fatal("ready before the probe succeeded")
	}
	marker(filepath.Dir(up), "up")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.WaitReady(ctx); err != nil {
		t.Fatalf("WaitReady: %v", err)
	}
	os.Remove(up)
	rec.waitFor(t, "not ready", func(ev []Event) bool { return count(ev, NotReady) == 1 })
	if s.Ready() {
		t.Error("still ready after the probe failed")
	}
	stop()
	if s.Ready() {
		t.Error("ready after the child stopped")
	}
}

func TestOverlongLineIsCutAndTheNextOneLogged(t *testing.T) {
	_, rec, stop := start(t, "long", Options{Initial: time.Hour})
	rec.waitFor(t, "the exit", func(ev []Event) bool { return count(ev, Exited) == 1 })
	stop()
	_, logs := rec.snapshot()
	if !strings.Contains(logs, "truncated=true") || !strings.Contains(logs, `msg="after the long line"`) {
		t.Errorf("want a truncated record and the line after it; log is %d bytes", len(logs))
	}
}

func TestMissingExecutableIsAnErrorAtOnce(t *testing.T) {
	for _, path := range []string{filepath.Join(t.TempDir(), "k3s"), t.TempDir()} {
		err := New(Options{Path: path}).Run(context.Background())
		if err == nil {
			t.Errorf("%s: Run returned nil", path)
		}
	}
}

func TestDelay(t *testing.T) {
	s := New(Options{Initial: time.Second, Max: 10 * time.Second})
	for _, tc := range []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{1, 0.5, time.Second},
		{2, 0.5, 2 * time.Second},
		{4, 0.5, 8 * time.Second},
		{5, 0.5, 10 * time.Second},
		{50, 0.5, 10 * time.Second},
		{1, 0, 800 * time.Millisecond},
		{1, 0.75, 1100 * time.Millisecond},
		{1, -1, time.Second}, // out of range: no jitter
	} {
		if got := s.Delay(tc.n, tc.r).Round(time.Microsecond); got != tc.want {
			t.Errorf("Delay(%d, %v) = %s, want %s", tc.n, tc.r, got, tc.want)
		}
	}
}

func TestLevelOf(t *testing.T) {
	for line, want := range map[string]slog.Level{
		`time="2026-11-22T06:50:23Z" level=info msg="Starting k3s"`: slog.LevelInfo,
		`time="2026-11-22T06:50:23Z" level=warning msg="x"`:         slog.LevelWarn,
		`time="2026-11-22T06:50:23Z" level=error msg="x"`:           slog.LevelError,
		`time="2026-11-22T06:50:23Z" level=fatal msg="x"`:           slog.LevelError,
		`time="2026-11-22T06:50:23Z" level=debug msg="x"`:           slog.LevelDebug,
		`E1122 06:50:23.123456    1234 reflector.go:158] failed`:    slog.LevelError,
		`W1122 06:50:23.123456    1234 warnings.go:70] deprecated`:  slog.LevelWarn,
		`I1122 06:50:23.123456    1234 server.go:1] serving`:        slog.LevelInfo,
		`Error: unknown flag: --bogus`:                              slog.LevelInfo,
		``:                                                          slog.LevelInfo,
		`W`:                                                         slog.LevelInfo,
	} {
		if got := LevelOf(line); got != want {
			t.Errorf("LevelOf(%q) = %s, want %s", line, got, want)
		}
	}
}

func TestExitedHookReplacesWait(t *testing.T) {
	// As under PID 1, where a reaper takes every child: the supervisor
	// learns the exit from the hook.
	var hooked sync.WaitGroup
	exited := func(pid int) <-chan unix.WaitStatus {
		ch := make(chan unix.WaitStatus, 1)
		hooked.Add(1)
		go func() {
			defer hooked.Done()
			var ws unix.WaitStatus
			for {
				_, err := unix.Wait4(pid, &ws, 0, nil)
				if !errors.Is(err, unix.EINTR) {
					break
				}
			}
			ch <- ws
		}()
		return ch
	}
	_, rec, stop := start(t, "crash", Options{Exited: exited, Initial: 5 * time.Millisecond})
	rec.waitFor(t, "two exits", func(ev []Event) bool { return count(ev, Exited) >= 2 })
	stop()
	hooked.Wait()
	ev, _ := rec.snapshot()
	for _, e := range ev {
		if e.Type == Exited && e.Run == 1 && (e.Err == nil || e.Err.Error() != "exit status 3") {
			t.Errorf("run 1 exit %v, want exit status 3 from the hook", e.Err)
		}
	}
}

func TestChildReapedByAnotherReaperCountsAsExited(t *testing.T) {
	// PID 1 without the Exited hook: its reaper may take the child first.
	stopReaping := make(chan struct{})
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		for {
			select {
			case <-stopReaping:
				return
			case <-time.After(time.Millisecond):
			}
			var ws unix.WaitStatus
			for {
				if pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil); err != nil || pid <= 0 {
					break
				}
			}
		}
	}()
	defer func() { close(stopReaping); <-reaped }()
	_, rec, stop := start(t, "crash", Options{Initial: 5 * time.Millisecond})
	rec.waitFor(t, "three exits", func(ev []Event) bool { return count(ev, Exited) >= 3 })
	stop()
	ev, _ := rec.snapshot()
	for _, e := range ev {
		if e.Type == Exited && e.Err == nil {
			t.Errorf("run %d: no exit error; want exit status 3 or the reaped notice", e.Run)
		}
	}
}

// BenchmarkPump measures logging a child's lines (k3s writes hundreds at
// start): one op is one 160-byte logrus line through a text handler.
func BenchmarkPump(b *testing.B) {
	line := `time="2026-11-22T07:00:00Z" level=info msg="Running kubelet --address=0.0.0.0 --anonymous-auth=false --authentication-token-webhook=true"` + "\n"
	data := bytes.Repeat([]byte(line), b.N)
	s := New(Options{Name: "bench", Path: "/bin/true", Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	b.SetBytes(int64(len(line)))
	b.ResetTimer()
	s.pump(bytes.NewReader(data), "stdout", 1)
}
