package logship

import (
	"context"
	"log/slog"
	"time"
	"unicode/utf8"

	"corral.io/corral/api/v1alpha1"
)

// Handler returns a handler that writes to next (the console) what next
// accepts, and queues every record of Options.Level or above.
func (s *Shipper) Handler(next slog.Handler) slog.Handler {
	return &handler{s: s, next: next}
}

type handler struct {
	s    *Shipper
	next slog.Handler
	// min, when set, raises the least level shipped (ShipAtLeast).
	min    slog.Leveler
	attrs  []slog.Attr // flattened, with their group prefix
	prefix string      // "group." of WithGroup
}

// ShipAtLeast returns a logger that writes to the console what l writes
// but ships only records of level or above (and of Options.Level): for a
// chatty source whose every line would crowd the rest of the boot out of
// the controller's bounded log. l must log through a Shipper's Handler
// (with any attributes and groups); any other logger is returned as is.
func ShipAtLeast(l *slog.Logger, level slog.Leveler) *slog.Logger {
	h, ok := l.Handler().(*handler)
	if !ok {
		return l
	}
	c := *h
	c.min = level
	return slog.New(&c)
}

// shipLevel is the least level this handler ships.
func (h *handler) shipLevel() slog.Level {
	l := h.s.o.Level.Level()
	if h.min != nil {
		l = max(l, h.min.Level())
	}
	return l
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.shipLevel() || h.next.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var err error
	if h.next.Enabled(ctx, r.Level) {
		err = h.next.Handle(ctx, r)
	}
	if r.Level < h.shipLevel() {
		return err
	}
	rec := v1alpha1.LogRecord{Time: r.Time.UTC(), Level: truncate(r.Level.String(), v1alpha1.MaxLogLevel), Msg: truncate(r.Message, v1alpha1.MaxLogMessage)}
	if r.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	attrs := make(map[string]string, len(h.attrs)+r.NumAttrs())
	for _, a := range h.attrs {
		flatten(attrs, "", a)
	}
	r.Attrs(func(a slog.Attr) bool {
		flatten(attrs, h.prefix, a)
		return true
	})
	if len(attrs) > 0 {
		rec.Attrs = attrs
	}
	h.s.enqueue(rec)
	return err
}

func (h *handler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.next = h.next.WithAttrs(as)
	c.attrs = append([]slog.Attr(nil), h.attrs...)
	for _, a := range as {
		c.attrs = append(c.attrs, slog.Attr{Key: h.prefix + a.Key, Value: a.Value})
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.next = h.next.WithGroup(name)
	c.prefix = h.prefix + name + "."
	return &c
}

// flatten adds a (and its members, for a group) to m as prefix+key:
// string, within the limits of a LogRecord.
func flatten(m map[string]string, prefix string, a slog.Attr) {
	v := a.Value.Resolve()
	if v.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p += a.Key + "."
		}
		for _, g := range v.Group() {
			flatten(m, p, g)
		}
		return
	}
	if a.Key == "" || len(m) >= v1alpha1.MaxLogAttrs {
		return
	}
	var s string
	if v.Kind() == slog.KindTime {
		s = v.Time().UTC().Format(time.RFC3339Nano)
	} else {
		s = v.String()
	}
	m[truncate(prefix+a.Key, v1alpha1.MaxLogAttrKey)] = truncate(s, v1alpha1.MaxLogAttrValue)
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
