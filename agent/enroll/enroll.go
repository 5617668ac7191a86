package enroll

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

// Defaults for what the controller does not say.
const (
	// DefaultPoll is how often to ask for the credential while pending when
	// the controller gives no RetryAfterSeconds.
	DefaultPoll = 5 * time.Second
	// MaxPoll bounds the controller's RetryAfterSeconds.
	MaxPoll = 5 * time.Minute
	// DefaultHeartbeat is the heartbeat interval when the config gives none.
	DefaultHeartbeat = 30 * time.Second
	// WaitLogInterval is how often the wait for approval is logged again.
	WaitLogInterval = time.Minute
)

// Deps is what Run needs: the controller, the machine, and the clock.
type Deps struct {
	// API is the controller (FromClient for the real one).
	API API
	// Inventory gathers the machine; called once per registration.
	Inventory func() *v1alpha1.Inventory
	// Apply applies an approved node's configuration (see Hostname).
	// nil applies nothing.
	Apply func(v1alpha1.NodeConfig) error
	// Credential is a node credential held from an earlier approval, if
	// any; it is presented at the first registration.
	Credential string
	// Backoff paces retries; zero fields take backoff.Default's.
	Backoff backoff.Backoff
	// Clock is RealClock when nil.
	Clock Clock
	// Rand returns uniform numbers in [0, 1) for the jitter; math/rand/v2
	// when nil.
	Rand func() float64
	// Logger receives progress; nil discards it.
	Logger *slog.Logger
	// Once returns after the configuration is fetched and applied, without
	// heartbeating.
	Once bool
}

// RefusedError is returned when the controller refuses the node (403): it
// was rejected or decommissioned, and retrying cannot change that.
type RefusedError struct {
	// Node is the node id; Step the call that was refused.
	Node, Step string
	// Err is the controller's answer.
	Err error
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("the controller refused node %s (%s): %v; the node was rejected or decommissioned — "+
		"to enroll it again an operator runs `corral nodes forget %s` and reboots it", e.Node, e.Step, e.Err, e.Node)
}

func (e *RefusedError) Unwrap() error { return e.Err }

// errReregister says the token or credential is gone: register again.
var errReregister = errors.New("register again")

// Run enrolls the node and heartbeats until ctx is done, when it returns
// ctx's error. It returns early only when the controller refuses the node
// (a *RefusedError) or rejects the request as malformed, or, with Once,
// after the configuration is applied (the Apply error, if any).
func Run(ctx context.Context, d Deps) error {
	if d.API == nil || d.Inventory == nil {
		return errors.New("enroll: API and Inventory are required")
	}
	l := &loop{d: d, cred: d.Credential, log: d.Logger, clock: d.Clock, rand: d.Rand}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if l.clock == nil {
		l.clock = RealClock{}
	}
	if l.rand == nil {
		l.rand = rand.Float64
	}
	l.d.Backoff = d.Backoff.WithDefaults()
	return l.run(ctx)
}

type loop struct {
	d     Deps
	log   *slog.Logger
	clock Clock
	rand  func() float64
	node  string
	cred  string
	// rounds counts registrations since the last accepted heartbeat, so
	// that a controller answering 401 again and again is not hammered.
	rounds int
}

func (l *loop) run(ctx context.Context) error {
	for {
		if l.rounds > 0 {
			wait := l.d.Backoff.Delay(l.rounds, l.rand())
			l.log.Info("registering again", "node", l.node, "state", "registering", "attempt", l.rounds+1, "wait", wait)
			if err := l.clock.Sleep(ctx, wait); err != nil {
				return err
			}
		}
		l.rounds++
		err := l.enroll(ctx)
		if errors.Is(err, errReregister) {
			continue
		}
		return err
	}
}

// enroll is one pass: register, await approval, configure, heartbeat.
func (l *loop) enroll(ctx context.Context) error {
	inv := l.d.Inventory()
	if inv.Identity.NodeID == "" {
		// Nothing to register as: retrying cannot help, and the controller
		// would only refuse it.
		return errors.New("this machine has no stable identity (no valid DMI system UUID, no board or chassis serial, no physical NIC with a permanent MAC; see docs/inventory.md): it cannot enrol")
	}
	if l.node == "" {
		l.node = inv.Identity.NodeID
	}
	reg, err := l.register(ctx, *inv)
	if err != nil {
		return err
	}
	if err := l.awaitCredential(ctx, reg); err != nil {
		return err
	}
	cfg, err := l.config(ctx)
	if err != nil {
		return err
	}
	ready, msg := true, fmt.Sprintf("configuration applied (profile %s)", cfg.Profile)
	if err := l.apply(cfg); err != nil {
		if l.d.Once {
			return err
		}
		ready, msg = false, err.Error()
		l.log.Error("configuration not applied; reporting the node not ready", "node", l.node, "state", "not-ready", "err", err)
	}
	if l.d.Once {
		l.log.Info("configuration applied; exiting (--once)", "node", l.node, "state", "configured")
		return nil
	}
	return l.heartbeat(ctx, cfg, ready, msg)
}

// call runs fn until it succeeds, backing off while the verdict is retry.
// Any other verdict ends it: proceed → nil; reregister → errReregister;
// refused → *RefusedError; invalid or cancelled → the error.
func (l *loop) call(ctx context.Context, step, state string, fn func() error) error {
	for attempt := 1; ; attempt++ {
		err := fn()
		switch v := judge(err, ctx.Err()); v {
		case proceed:
			return nil
		case retry:
			wait := l.d.Backoff.Delay(attempt, l.rand())
			l.log.Warn(step+" failed; retrying", "node", l.node, "state", state, "attempt", attempt, "wait", wait, "err", err)
			if err := l.clock.Sleep(ctx, wait); err != nil {
				return err
			}
		default:
			return l.stop(ctx, step, v, err)
		}
	}
}

// stop turns a final verdict into Run's result, logging it.
func (l *loop) stop(ctx context.Context, step string, v verdict, err error) error {
	if v == reregister && step == "register" {
		v = invalid // registering needs no token: registering again changes nothing
	}
	switch v {
	case reregister:
		l.log.Warn(step+": the controller no longer accepts this node's token; registering again",
			"node", l.node, "state", "registering", "err", err)
		return errReregister
	case refused:
		rerr := &RefusedError{Node: l.node, Step: step, Err: err}
		l.log.Error("enrollment stopped: "+rerr.Error(), "node", l.node, "state", "refused")
		return rerr
	case cancelled:
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	default:
		l.log.Error(step+" rejected by the controller; not retrying", "node", l.node, "state", "failed", "err", err)
		return fmt.Errorf("%s: %w", step, err)
	}
}

func (l *loop) register(ctx context.Context, inv v1alpha1.Inventory) (v1alpha1.RegisterResponse, error) {
	var reg v1alpha1.RegisterResponse
	l.log.Info("registering with the controller", "node", l.node, "state", "registering", "attempt", l.rounds)
	err := l.call(ctx, "register", "registering", func() (err error) {
		reg, err = l.d.API.Register(ctx, inv, l.cred)
		return err
	})
	if err != nil {
		return reg, err
	}
	if reg.NodeID != "" {
		l.node = reg.NodeID
	}
	l.log.Info("registered", "node", l.node, "state", reg.State)
	return reg, nil
}

// awaitCredential polls for the node credential until an operator (or the
// policy) approves the node.
func (l *loop) awaitCredential(ctx context.Context, reg v1alpha1.RegisterResponse) error {
	pending := reg
	var lastLog time.Time
	for polls := 1; ; polls++ {
		var cred *v1alpha1.Credential
		var p *v1alpha1.RegisterResponse
		err := l.call(ctx, "ask for the node credential", "pending", func() (err error) {
			cred, p, err = l.d.API.Credential(ctx, reg.EnrollmentToken)
			return err
		})
		if err != nil {
			return err
		}
		if cred != nil {
			if cred.Credential == "" {
				return errors.New("ask for the node credential: the controller sent an empty credential")
			}
			l.cred = cred.Credential
			l.log.Info("approved: received the node credential", "node", l.node, "state", "approved", "attempt", polls)
			return nil
		}
		if p != nil {
			pending = *p
		}
		wait := pollInterval(pending.RetryAfterSeconds)
		if now := l.clock.Now(); lastLog.IsZero() || now.Sub(lastLog) >= WaitLogInterval {
			lastLog = now
			msg := fmt.Sprintf("waiting for an operator to approve node %s: corral nodes approve %s", l.node, l.node)
			args := []any{"node", l.node, "state", pending.State, "attempt", polls, "wait", wait}
			if pending.Message != "" && pending.Message != msg {
				args = append(args, "controller", pending.Message)
			}
			l.log.Info(msg, args...)
		}
		if err := l.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}

func (l *loop) config(ctx context.Context) (v1alpha1.NodeConfig, error) {
	var cfg v1alpha1.NodeConfig
	err := l.call(ctx, "fetch the node configuration", "approved", func() (err error) {
		cfg, err = l.d.API.Config(ctx, l.cred)
		return err
	})
	if errors.Is(err, errReregister) {
		l.cred = ""
	}
	if err == nil {
		l.log.Info("configuration received", "node", l.node, "state", "configuring",
			"hostname", cfg.Hostname, "profile", cfg.Profile)
	}
	return cfg, err
}

func (l *loop) apply(cfg v1alpha1.NodeConfig) error {
	if l.d.Apply == nil {
		return nil
	}
	if err := l.d.Apply(cfg); err != nil {
		return fmt.Errorf("apply the configuration of node %s: %w", l.node, err)
	}
	return nil
}

// heartbeat reports the node every HeartbeatSeconds (±10 %) until ctx is
// done. A heartbeat that fails on the network is logged and the next one is
// sent on schedule: the interval is itself the retry.
func (l *loop) heartbeat(ctx context.Context, cfg v1alpha1.NodeConfig, ready bool, msg string) error {
	every := heartbeatInterval(cfg.HeartbeatSeconds)
	state := "ready"
	if !ready {
		state = "not-ready"
	}
	l.log.Info("heartbeating", "node", l.node, "state", state, "wait", every)
	failures := 0
	for {
		err := l.d.API.Heartbeat(ctx, l.cred, ready, msg)
		switch v := judge(err, ctx.Err()); v {
		case proceed:
			if failures > 0 {
				l.log.Info("heartbeat accepted again", "node", l.node, "state", state, "attempt", failures+1)
			}
			failures, l.rounds = 0, 0
		case retry:
			failures++
			l.log.Warn("heartbeat failed; sending the next one on schedule", "node", l.node, "state", state,
				"attempt", failures, "wait", every, "err", err)
		default:
			if v == reregister {
				l.cred = ""
			}
			return l.stop(ctx, "heartbeat", v, err)
		}
		if err := l.clock.Sleep(ctx, spread(every, l.rand())); err != nil {
			return err
		}
	}
}

// spread jitters a heartbeat interval by ±10 % (r uniform in [0, 1)), so
// that nodes which powered on together do not report in lockstep.
func spread(every time.Duration, r float64) time.Duration {
	if r < 0 || r >= 1 || math.IsNaN(r) {
		r = 0.5
	}
	return time.Duration(float64(every) * (0.9 + 0.2*r))
}

func pollInterval(retryAfterSeconds int) time.Duration {
	if retryAfterSeconds <= 0 {
		return DefaultPoll
	}
	return min(time.Duration(retryAfterSeconds)*time.Second, MaxPoll)
}

func heartbeatInterval(seconds int) time.Duration {
	if seconds <= 0 {
		return DefaultHeartbeat
	}
	return min(time.Duration(seconds)*time.Second, time.Hour)
}
