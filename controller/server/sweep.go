package server

import (
	"context"
	"log/slog"
	"time"

	"corral.io/corral/controller/registry"
)

// Sweeper marks ready nodes lost when their heartbeats stop. It is a service
// of its own, run next to the API (not inside it), so that the API only
// answers requests.
type Sweeper struct {
	Registry *registry.Store
	// LostAfter without a heartbeat marks a ready node lost; the sweep runs
	// every third of it.
	LostAfter time.Duration
	Logger    *slog.Logger
}

// Sweeper returns the lost-node sweeper for the API's registry and
// heartbeat settings (Options.LostAfter, defaulted by New).
func (a *API) Sweeper() *Sweeper {
	return &Sweeper{Registry: a.o.Registry, LostAfter: a.o.LostAfter, Logger: a.log}
}

// Run sweeps until ctx ends.
func (s *Sweeper) Run(ctx context.Context) error {
	t := time.NewTicker(s.LostAfter / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			lost, err := s.Registry.MarkLost(s.LostAfter)
			if err != nil {
				s.Logger.Error("mark lost nodes", "err", err)
			}
			for _, id := range lost {
				s.Logger.Warn("node lost: no heartbeat", "node", id, "after", s.LostAfter.String())
			}
		}
	}
}
