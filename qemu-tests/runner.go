package qemutests

import (
	"fmt"
	"io"
	"os"
	"sync"
	"testing"
	"time"
)

// Runner lets a program, not only a test, drive the lab (make lab runs
// cmd/corral-lab): the lab and internal/testnet are written against
// testing.TB, and Runner provides the part of it they use — logging,
// failing, cleanups, temporary directories. Fatalf and Skipf unwind to Run,
// which then runs every cleanup, so a failure or Ctrl-C leaves nothing
// behind, exactly as in a test.
//
// Runner embeds a nil testing.TB only to satisfy the interface's unexported
// method; the lab calls none of the methods Runner leaves out.
type Runner struct {
	testing.TB
	name string
	out  io.Writer

	mu       sync.Mutex
	cleanups []func()
	failed   bool
}

// NewRunner returns a Runner whose log lines go to out.
func NewRunner(name string, out io.Writer) *Runner {
	return &Runner{name: name, out: out}
}

// stop unwinds a Fatalf or Skipf to Run.
type stop struct{}

// Run calls fn, then every cleanup in reverse order of registration, even
// when fn failed; it returns an error when anything failed.
func (r *Runner) Run(fn func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if _, ok := p.(stop); !ok {
				r.Logf("panic: %v", p)
				r.fail()
			}
		}
		r.runCleanups()
		if r.Failed() {
			err = fmt.Errorf("%s failed (see above)", r.name)
		}
	}()
	fn()
	return nil
}

func (r *Runner) runCleanups() {
	for {
		r.mu.Lock()
		n := len(r.cleanups)
		if n == 0 {
			r.mu.Unlock()
			return
		}
		f := r.cleanups[n-1]
		r.cleanups = r.cleanups[:n-1]
		r.mu.Unlock()
		func() {
			defer func() {
				if p := recover(); p != nil {
					if _, ok := p.(stop); !ok {
						r.Logf("cleanup panicked: %v", p)
					}
					r.fail()
				}
			}()
			f()
		}()
	}
}

func (r *Runner) fail() {
	r.mu.Lock()
	r.failed = true
	r.mu.Unlock()
}

// Helper does nothing: Runner logs no file and line.
func (r *Runner) Helper() {}

// Name names the run, like a test's name (artifacts go under it).
func (r *Runner) Name() string { return r.name }

// Logf writes a timestamped line.
func (r *Runner) Logf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	fmt.Fprintf(r.out, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Log writes a timestamped line.
func (r *Runner) Log(args ...any) { r.Logf("%s", fmt.Sprint(args...)) }

// Errorf logs and marks the run failed.
func (r *Runner) Errorf(format string, args ...any) { r.Logf(format, args...); r.fail() }

// Error logs and marks the run failed.
func (r *Runner) Error(args ...any) { r.Log(args...); r.fail() }

// Fail marks the run failed.
func (r *Runner) Fail() { r.fail() }

// FailNow marks the run failed and unwinds to Run.
func (r *Runner) FailNow() { r.fail(); panic(stop{}) }

// Fatalf logs, marks the run failed and unwinds to Run.
func (r *Runner) Fatalf(format string, args ...any) { r.Logf(format, args...); r.FailNow() }

// Fatal logs, marks the run failed and unwinds to Run.
func (r *Runner) Fatal(args ...any) { r.Log(args...); r.FailNow() }

// Failed reports whether anything failed.
func (r *Runner) Failed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed
}

// Skipf means a prerequisite is missing: for a program that is a failure
// whose message says what to install or build.
func (r *Runner) Skipf(format string, args ...any) {
	r.Logf("cannot run: "+format, args...)
	r.FailNow()
}

// Skip is Skipf without a format.
func (r *Runner) Skip(args ...any) { r.Skipf("%s", fmt.Sprint(args...)) }

// SkipNow stops the run as failed.
func (r *Runner) SkipNow() { r.FailNow() }

// Skipped is always false: a program does not skip, it fails.
func (r *Runner) Skipped() bool { return false }

// Cleanup registers f to run when Run returns, last registered first.
func (r *Runner) Cleanup(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cleanups = append(r.cleanups, f)
}

// TempDir returns a new directory removed at the end of the run.
func (r *Runner) TempDir() string {
	dir, err := os.MkdirTemp("", "corral-lab-")
	if err != nil {
		r.Fatalf("create a temporary directory: %v", err)
	}
	r.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
