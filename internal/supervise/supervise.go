// Package supervise runs one long-lived child process (k3s server on the
// controller, k3s agent on a node) for as long as its context lives.
//
// A Supervisor starts the command in its own process group, logs every line
// the child writes to stdout or stderr as one slog record (with the child's
// name), restarts it with exponential backoff and jitter whenever it exits —
// cleanly or not — and resets the backoff once a run has stayed up for
// ResetAfter. An optional readiness probe is polled while the child runs; its
// result is reported by Ready and WaitReady. When the context ends the whole
// process group gets SIGTERM, then SIGKILL after Grace.
//
// There is deliberately no start-up timeout: a child that is slow to become
// ready (k3s agent waiting for its API server, k3s#4468) is left alone and
// probed until it is ready.
package supervise

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"corral.io/corral/internal/backoff"
)

// Defaults for the zero fields of Options.
const (
	DefaultInitial       = time.Second
	DefaultMax           = time.Minute
	DefaultResetAfter    = 2 * time.Minute
	DefaultGrace         = 30 * time.Second
	DefaultProbeInterval = 2 * time.Second
	// MaxLine is the longest line logged whole; longer ones are cut and
	// marked truncated=true.
	MaxLine = 64 << 10
)

// Options describe the child and how to supervise it.
type Options struct {
	// Name identifies the child in every log record ("child" key), e.g.
	// "k3s-server".
	Name string
	// Path is the executable; Args the arguments after it.
	Path string
	Args []string
	// Env is the child's environment; nil inherits ours.
	Env []string
	// Dir is the working directory; empty inherits ours.
	Dir string
	// Logger receives the child's lines and the supervisor's own records;
	// nil discards them.
	Logger *slog.Logger
	// Ready, when set, is polled every ProbeInterval while the child runs;
	// nil means ready as soon as the child has started. It should return
	// promptly (give it its own short timeout, e.g. one HTTP request).
	Ready         func(ctx context.Context) error
	ProbeInterval time.Duration
	// Initial and Max bound the wait before a restart: Initial·2^(n-1) after
	// the n-th consecutive short run, capped at Max, with ±20 % jitter.
	Initial, Max time.Duration
	// ResetAfter is how long a run must last for the next restart to start
	// again from Initial.
	ResetAfter time.Duration
	// Grace is how long the child has between SIGTERM and SIGKILL.
	Grace time.Duration
	// Exited, when set, is how the supervisor learns that the child exited,
	// instead of waiting for it itself: for PID 1, whose reaper takes every
	// child (agent/pid1.Reaper.Exited).
	Exited func(pid int) <-chan unix.WaitStatus
	// Rand returns uniform numbers in [0, 1) for the jitter; nil uses
	// math/rand/v2.
	Rand func() float64
	// Observe, when set, is called on every change (tests, metrics).
	Observe func(Event)
}

// EventType says what happened to the child.
type EventType string

// Events in a child's life.
const (
	Started  EventType = "started"
	Exited   EventType = "exited"
	Ready    EventType = "ready"
	NotReady EventType = "not-ready"
	Waiting  EventType = "waiting" // before a restart; Delay says how long
	Stopped  EventType = "stopped" // after the context ended
	Killed   EventType = "killed"  // SIGKILL after Grace
)

// Event is one change, passed to Options.Observe.
type Event struct {
	Type  EventType
	PID   int
	Run   int           // 1 for the first start
	Err   error         // Exited: nil for exit status 0
	Delay time.Duration // Waiting: the wait before the next start
	Up    time.Duration // Exited: how long the run lasted
}

// Supervisor runs one child; create it with New and call Run once.
type Supervisor struct {
	o   Options
	log *slog.Logger

	// readyMu orders readiness changes: the run loop and the probe both
	// make them.
	readyMu sync.Mutex
	mu      sync.Mutex
	ready   bool
	readyCh chan struct{} // closed while ready; replaced when not
}

// New returns a Supervisor with defaults filled in.
func New(o Options) *Supervisor {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Name == "" {
		o.Name = o.Path
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Initial, DefaultInitial)
	def(&o.Max, DefaultMax)
	def(&o.ResetAfter, DefaultResetAfter)
	def(&o.Grace, DefaultGrace)
	def(&o.ProbeInterval, DefaultProbeInterval)
	o.Max = max(o.Max, o.Initial)
	if o.Rand == nil {
		o.Rand = rand.Float64
	}
	return &Supervisor{o: o, log: o.Logger.With("child", o.Name), readyCh: make(chan struct{})}
}

// Ready reports whether the child runs and its probe last succeeded.
func (s *Supervisor) Ready() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ready
}

// WaitReady returns nil once the child is ready, or ctx's error.
func (s *Supervisor) WaitReady(ctx context.Context) error {
	for {
		s.mu.Lock()
		ch, ready := s.readyCh, s.ready
		s.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// Delay is the wait before restart after the n-th consecutive short run
// (n ≥ 1), given r uniform in [0, 1): min(Max, Initial·2^(n-1)) scaled by a
// factor between 0.8 and 1.2.
func (s *Supervisor) Delay(n int, r float64) time.Duration {
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0.5
	}
	d := backoff.Backoff{Initial: s.o.Initial, Max: s.o.Max}.Ceiling(n)
	return time.Duration(float64(d) * (0.8 + 0.4*r))
}

// Run starts the child and keeps it running until ctx is done; then it
// stops it (SIGTERM, SIGKILL after Grace) and returns nil. It returns an
// error at once only when the executable does not exist or is not
// executable: restarting cannot help then.
func (s *Supervisor) Run(ctx context.Context) error {
	if err := checkExecutable(s.o.Path); err != nil {
		return err
	}
	failures := 0
	for run := 1; ; run++ {
		if ctx.Err() != nil {
			return nil
		}
		up, err := s.runOnce(ctx, run)
		if ctx.Err() != nil {
			return nil
		}
		if up >= s.o.ResetAfter {
			failures = 0
		}
		failures++
		delay := s.Delay(failures, s.o.Rand())
		s.log.Warn("child exited; restarting", "run", run, "up", up.Round(time.Millisecond).String(), "err", errString(err), "wait", delay.Round(time.Millisecond).String(), "attempt", failures)
		s.observe(Event{Type: Waiting, Run: run, Delay: delay})
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("supervise %s: %w", path, err)
	}
	if fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("supervise %s: not an executable file (mode %s)", path, fi.Mode())
	}
	return nil
}

func (s *Supervisor) observe(e Event) {
	if s.o.Observe != nil {
		s.o.Observe(e)
	}
}

func (s *Supervisor) setReady(ready bool, run, pid int, why error) {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	s.mu.Lock()
	changed := s.ready != ready
	s.mu.Unlock()
	if !changed {
		return
	}
	// Say so before anyone waiting on Ready or WaitReady can see it, so
	// whoever saw the change also finds it in the log.
	if ready {
		s.log.Info("child ready", "run", run, "pid", pid)
		s.observe(Event{Type: Ready, Run: run, PID: pid})
	} else {
		s.log.Info("child not ready", "run", run, "pid", pid, "err", errString(why))
		s.observe(Event{Type: NotReady, Run: run, PID: pid, Err: why})
	}
	s.mu.Lock()
	s.ready = ready
	if ready {
		close(s.readyCh)
	} else {
		s.readyCh = make(chan struct{})
	}
	s.mu.Unlock()
}

// runOnce starts the child, waits for it to exit or for ctx to end, and
// returns how long it ran and why it ended (a start failure counts as a
// run of length 0).
func (s *Supervisor) runOnce(ctx context.Context, run int) (time.Duration, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, fmt.Errorf("pipe: %w", err)
	}
	cmd := exec.Command(s.o.Path, s.o.Args...)
	cmd.Env, cmd.Dir = s.o.Env, s.o.Dir
	cmd.Stdin = nil
	cmd.Stdout, cmd.Stderr = outW, errW
	// Own process group, so the whole tree can be signalled; SIGKILL if
	// the supervisor dies, so a restarted supervisor never finds an old
	// child still holding its ports.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		s.log.Error("child did not start", "run", run, "err", err)
		s.observe(Event{Type: Exited, Run: run, Err: err})
		return 0, fmt.Errorf("start %s: %w", s.o.Path, err)
	}
	pid := cmd.Process.Pid
	s.log.Info("child started", "run", run, "pid", pid, "path", s.o.Path, "args", strings.Join(s.o.Args, " "))
	s.observe(Event{Type: Started, Run: run, PID: pid})

	var lines sync.WaitGroup
	lines.Add(2)
	go func() { defer lines.Done(); s.pump(outR, "stdout", pid) }()
	go func() { defer lines.Done(); s.pump(errR, "stderr", pid) }()

	exited := s.wait(cmd)
	probeCtx, stopProbe := context.WithCancel(ctx)
	probeDone := make(chan struct{})
	go func() { defer close(probeDone); s.probe(probeCtx, run, pid) }()

	var exitErr error
	select {
	case exitErr = <-exited:
	case <-ctx.Done():
		exitErr = s.stop(pid, run, exited)
	}
	up := time.Since(start)
	stopProbe()
	<-probeDone
	s.setReady(false, run, pid, errors.New("child exited"))
	// Whatever the child left in its group goes with it.
	_ = unix.Kill(-pid, unix.SIGKILL)
	// The pipes reach EOF once every holder is gone; a grandchild that
	// left the group (setsid) may keep them open: stop reading then.
	done := make(chan struct{})
	go func() { lines.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		outR.Close()
		errR.Close()
		<-done
	}
	outR.Close()
	errR.Close()
	s.observe(Event{Type: Exited, Run: run, PID: pid, Err: exitErr, Up: up})
	return up, exitErr
}

// wait returns a channel that receives the child's exit (nil for status 0).
func (s *Supervisor) wait(cmd *exec.Cmd) <-chan error {
	ch := make(chan error, 1)
	if s.o.Exited != nil {
		ws := s.o.Exited(cmd.Process.Pid)
		go func() {
			st := <-ws
			_ = cmd.Process.Release()
			ch <- statusError(st)
		}()
		return ch
	}
	go func() {
		err := cmd.Wait()
		if errors.Is(err, syscall.ECHILD) {
			// Another reaper (PID 1's) took the child: it has exited,
			// with a status we cannot know. Set Exited to learn it.
			err = errors.New("exited (its status was reaped by another process)")
		}
		ch <- err
	}()
	return ch
}

func statusError(ws unix.WaitStatus) error {
	switch {
	case ws.Exited() && ws.ExitStatus() == 0:
		return nil
	case ws.Exited():
		return fmt.Errorf("exit status %d", ws.ExitStatus())
	case ws.Signaled():
		return fmt.Errorf("signal: %s", ws.Signal())
	}
	return fmt.Errorf("wait status %#x", uint32(ws))
}

// stop sends SIGTERM to the group, then SIGKILL after Grace.
func (s *Supervisor) stop(pid, run int, exited <-chan error) error {
	s.log.Info("stopping child", "run", run, "pid", pid, "grace", s.o.Grace.String())
	_ = unix.Kill(-pid, unix.SIGTERM)
	t := time.NewTimer(s.o.Grace)
	defer t.Stop()
	select {
	case err := <-exited:
		s.log.Info("child stopped", "run", run, "pid", pid, "status", errString(err))
		s.observe(Event{Type: Stopped, Run: run, PID: pid, Err: err})
		return err
	case <-t.C:
	}
	s.log.Warn("child did not stop within the grace period: killing its process group", "run", run, "pid", pid, "grace", s.o.Grace.String())
	_ = unix.Kill(-pid, unix.SIGKILL)
	err := <-exited
	s.observe(Event{Type: Killed, Run: run, PID: pid, Err: err})
	return err
}

// probe polls Ready while the child runs.
func (s *Supervisor) probe(ctx context.Context, run, pid int) {
	if s.o.Ready == nil {
		s.setReady(true, run, pid, nil)
		return
	}
	t := time.NewTicker(s.o.ProbeInterval)
	defer t.Stop()
	for {
		err := s.o.Ready(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil && s.Ready() {
			s.setReady(false, run, pid, err)
		} else if err == nil {
			s.setReady(true, run, pid, nil)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// pump logs every line of r.
func (s *Supervisor) pump(r io.Reader, stream string, pid int) {
	br := bufio.NewReaderSize(r, MaxLine)
	for {
		line, err := br.ReadSlice('\n')
		truncated := errors.Is(err, bufio.ErrBufferFull)
		if text := strings.TrimRight(string(line), "\r\n"); text != "" {
			attrs := []any{"stream", stream, "pid", pid}
			if truncated {
				attrs = append(attrs, "truncated", true)
			}
			s.log.Log(context.Background(), LevelOf(text), text, attrs...)
		}
		if truncated {
			// Skip the rest of the overlong line.
			for errors.Is(err, bufio.ErrBufferFull) {
				_, err = br.ReadSlice('\n')
			}
		}
		if err != nil {
			return
		}
	}
}

// LevelOf guesses a line's level from the two formats k3s writes: logrus
// (`time="…" level=warning msg="…"`) and klog (`E1122 06:50:23.1 …`, the
// first letter is the severity). Anything else is Info.
func LevelOf(line string) slog.Level {
	if i := strings.Index(line, "level="); i >= 0 {
		v := line[i+len("level="):]
		v = strings.TrimPrefix(v, `"`)
		switch {
		case strings.HasPrefix(v, "debug"), strings.HasPrefix(v, "trace"):
			return slog.LevelDebug
		case strings.HasPrefix(v, "warn"):
			return slog.LevelWarn
		case strings.HasPrefix(v, "error"), strings.HasPrefix(v, "fatal"), strings.HasPrefix(v, "panic"):
			return slog.LevelError
		}
		return slog.LevelInfo
	}
	if len(line) > 5 && line[1] >= '0' && line[1] <= '1' && line[2] >= '0' && line[2] <= '9' && line[3] >= '0' && line[3] <= '3' {
		switch line[0] {
		case 'W':
			return slog.LevelWarn
		case 'E', 'F':
			return slog.LevelError
		}
	}
	return slog.LevelInfo
}
