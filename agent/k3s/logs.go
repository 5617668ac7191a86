package k3s

import (
	"context"
	"log/slog"

	"corral.io/corral/agent/logship"
)

// ShippedChildLevel is the least level of a k3s agent output line shipped
// to the controller. k3s logs thousands of INFO lines; the controller keeps
// a bounded number of records per node (10,000), so shipping them all would
// push the boot history — initramfs, stage 2, enrolment — out of it. Every
// line still goes to the console.
const ShippedChildLevel = slog.LevelWarn

// childLogger returns the logger of the k3s agent supervisor: the
// supervisor's own records (started, ready, exited, restarting) as l logs
// them, the child's output lines (records with the supervisor's "stream"
// attribute) shipped only from ShippedChildLevel (logship.ShipAtLeast).
func childLogger(l *slog.Logger) *slog.Logger {
	lines := logship.ShipAtLeast(l, ShippedChildLevel)
	if lines == l {
		return l // not through a shipper: nothing to choose
	}
	return slog.New(&childLines{all: l.Handler(), lines: lines.Handler()})
}

// childLines sends the child's output lines to lines, the rest to all.
type childLines struct {
	all, lines slog.Handler
}

func (h *childLines) Enabled(ctx context.Context, l slog.Level) bool {
	return h.all.Enabled(ctx, l) || h.lines.Enabled(ctx, l)
}

func (h *childLines) Handle(ctx context.Context, r slog.Record) error {
	line := false
	r.Attrs(func(a slog.Attr) bool {
		line = a.Key == "stream" // supervise's pump: stream=stdout|stderr
		return !line
	})
	if line {
		if !h.lines.Enabled(ctx, r.Level) {
			return nil
		}
		return h.lines.Handle(ctx, r)
	}
	if !h.all.Enabled(ctx, r.Level) {
		return nil
	}
	return h.all.Handle(ctx, r)
}

func (h *childLines) WithAttrs(as []slog.Attr) slog.Handler {
	return &childLines{all: h.all.WithAttrs(as), lines: h.lines.WithAttrs(as)}
}

func (h *childLines) WithGroup(name string) slog.Handler {
	return &childLines{all: h.all.WithGroup(name), lines: h.lines.WithGroup(name)}
}
