package pid1

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"

	"golang.org/x/sys/unix"
)

// Reaper waits for every child that exits, so none stays a zombie. PID 1
// inherits every orphan on the machine; outside PID 1 a process inherits
// only its own descendants' once it is a child subreaper
// (prctl PR_SET_CHILD_SUBREAPER), as the tests make themselves.
//
// The reaper takes every child, including those started with os/exec:
// exec.Cmd.Wait then fails with "no child processes". Code that starts
// processes while a Reaper runs must learn their exit from [Reaper.Exited]
// instead (start with cmd.Start, then wait on Exited(cmd.Process.Pid)).
type Reaper struct {
	// Logger receives one record per reaped process; nil discards them.
	Logger *slog.Logger

	mu        sync.Mutex
	waiters   map[int]chan unix.WaitStatus
	unclaimed map[int]unix.WaitStatus
	order     []int // unclaimed pids, oldest first
}

// maxUnclaimed bounds the exit statuses kept for pids nobody asked about.
const maxUnclaimed = 1024

// Run reaps on every SIGCHLD until ctx is done.
func (r *Reaper) Run(ctx context.Context) error {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, unix.SIGCHLD)
	defer signal.Stop(sig)
	r.reapAll() // children that exited before Run
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sig:
			// SIGCHLDs coalesce: one signal may stand for many exits.
			r.reapAll()
		}
	}
}

func (r *Reaper) reapAll() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil || pid <= 0 { // ECHILD: no children; 0: none exited
			return
		}
		r.deliver(pid, ws)
	}
}

func (r *Reaper) deliver(pid int, ws unix.WaitStatus) {
	if r.Logger != nil {
		r.Logger.Debug("reaped", "pid", pid, "status", describeStatus(ws))
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if ch, ok := r.waiters[pid]; ok {
		delete(r.waiters, pid)
		ch <- ws
		return
	}
	if r.unclaimed == nil {
		r.unclaimed = map[int]unix.WaitStatus{}
	}
	if _, dup := r.unclaimed[pid]; !dup {
		r.order = append(r.order, pid)
	}
	r.unclaimed[pid] = ws
	for len(r.order) > maxUnclaimed {
		delete(r.unclaimed, r.order[0])
		r.order = r.order[1:]
	}
}

// Exited returns a channel that receives pid's wait status once the reaper
// has reaped it (at once if it already has).
func (r *Reaper) Exited(pid int) <-chan unix.WaitStatus {
	ch := make(chan unix.WaitStatus, 1)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ws, ok := r.unclaimed[pid]; ok {
		delete(r.unclaimed, pid)
		for i, p := range r.order {
			if p == pid {
				r.order = append(r.order[:i], r.order[i+1:]...)
				break
			}
		}
		ch <- ws
		return ch
	}
	if r.waiters == nil {
		r.waiters = map[int]chan unix.WaitStatus{}
	}
	r.waiters[pid] = ch
	return ch
}

func describeStatus(ws unix.WaitStatus) string {
	switch {
	case ws.Exited():
		return fmt.Sprintf("exit %d", ws.ExitStatus())
	case ws.Signaled():
		return "killed by " + ws.Signal().String()
	default:
		return fmt.Sprintf("status %#x", uint32(ws))
	}
}
