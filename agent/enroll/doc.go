// Package enroll is the node agent's enrollment loop: it registers the
// machine with the controller, waits for an operator (or the policy) to
// approve it, fetches and applies its configuration, then heartbeats until
// it is stopped.
//
// It is a pipeline (STYLE.md rule 8): gather (the inventory, given by the
// caller) → decide (what an answer or an error means: go on, retry, register
// again, or stop — judge and Backoff, pure functions) → apply (a hook the
// caller gives) → observe (heartbeats). Every call to the controller and
// every wait goes through the API and Clock interfaces, so tests drive the
// loop with fakes and take no real time.
//
// What the loop does with each answer:
//
//	answer                        register        credential        config / heartbeat
//	network error, 5xx, 408, 429  back off, retry back off, retry   back off, retry (heartbeat: next beat)
//	401 (token/credential gone)   stop            register again    register again
//	403 (rejected/decommissioned) stop            stop              stop
//	other 4xx                     stop            stop              stop
//
// Backoff is exponential with full jitter: attempt n waits a uniformly random
// time in [0, min(Max, Initial·2ⁿ)) (Initial 1 s and Max 30 s by default).
// Waiting for approval polls at the controller's RetryAfterSeconds.
// Heartbeats go every HeartbeatSeconds ±10 %, so that a rack that powered on
// together does not report in lockstep (make bench-registry -ramp 0 shows
// the difference).
package enroll
