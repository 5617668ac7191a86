package pid1

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// startReaper runs a Reaper until the test ends.
func startReaper(t *testing.T) *Reaper {
	t.Helper()
	r := &Reaper{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return r
}

func forkExec(t *testing.T, stdout *os.File, argv ...string) int {
	t.Helper()
	files := []uintptr{0, 1, 2}
	if stdout != nil {
		files[1] = stdout.Fd()
	}
	pid, err := syscall.ForkExec(argv[0], argv, &syscall.ProcAttr{Env: os.Environ(), Files: files})
	if err != nil {
		t.Fatalf("start %v: %v", argv, err)
	}
	return pid
}

func waitExit(t *testing.T, r *Reaper, pid int) unix.WaitStatus {
	t.Helper()
	select {
	case ws := <-r.Exited(pid):
		return ws
	case <-time.After(20 * time.Second):
		t.Fatalf("process %d was not reaped within 20 s", pid)
		return 0
	}
}

func TestReaperReapsChildrenAndReportsStatus(t *testing.T) {
	r := startReaper(t)
	pid := forkExec(t, nil, "/bin/sh", "-c", "exit 3")
	if ws := waitExit(t, r, pid); !ws.Exited() || ws.ExitStatus() != 3 {
		t.Errorf("status %s, want exit 3", describeStatus(ws))
	}
	// Asking after the reaper took it still gives the status.
	pid = forkExec(t, nil, "/bin/true")
	deadline := time.Now().Add(20 * time.Second)
	for zombieOrAlive(pid) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond) // polling the process table, not synchronising with the reaper
	}
	if ws := waitExit(t, r, pid); ws.ExitStatus() != 0 {
		t.Errorf("late Exited: status %s, want exit 0", describeStatus(ws))
	}
}

func TestReaperReapsOrphans(t *testing.T) {
	if err := becomeSubreaper(); err != nil {
		t.Skip(err)
	}
	r := startReaper(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	// sh starts a background child, prints its pid and exits at once: the
	// child is orphaned and re-parented to this process.
	sh := forkExec(t, pw, "/bin/sh", "-c", "sleep 0.2 </dev/null >/dev/null 2>&1 & echo $!")
	pw.Close()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	waitExit(t, r, sh)
	if ws := waitExit(t, r, orphan); ws.ExitStatus() != 0 {
		t.Errorf("orphan: status %s, want exit 0", describeStatus(ws))
	}
	if zombieOrAlive(orphan) {
		t.Errorf("orphan %d is still in the process table", orphan)
	}
}

// zombieOrAlive reports whether pid is still in the process table.
func zombieOrAlive(pid int) bool {
	_, err := os.Stat("/proc/" + strconv.Itoa(pid))
	return err == nil
}

// becomeSubreaper makes the test process inherit the orphans of its
// descendants (prctl PR_SET_CHILD_SUBREAPER), as PID 1 does.
func becomeSubreaper() error {
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("become child subreaper: %w", err)
	}
	return nil
}
