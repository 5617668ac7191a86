package server

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/registry"
)

// MaxLogWait bounds the wait= of a follow read: it must end before the
// server's write timeout.
const MaxLogWait = 25 * time.Second

// maxLogLimit bounds limit= of a read.
const maxLogLimit = 5000

// checkLogBatch checks a decoded LogBatch against the limits of
// api/v1alpha1; the message says what is wrong.
func checkLogBatch(b *v1alpha1.LogBatch) error {
	if b.APIVersion != v1alpha1.Version || b.Kind != v1alpha1.KindLogBatch {
		return fmt.Errorf("want apiVersion %q and kind %q, got %q and %q", v1alpha1.Version, v1alpha1.KindLogBatch, b.APIVersion, b.Kind)
	}
	if !v1alpha1.ValidBootID(b.Boot) {
		return fmt.Errorf("boot %q is not a boot id (1-%d of A-Z a-z 0-9 _ -)", b.Boot, v1alpha1.MaxBootID)
	}
	if len(b.Records) > v1alpha1.MaxLogRecords {
		return fmt.Errorf("%d records in one batch: send at most %d", len(b.Records), v1alpha1.MaxLogRecords)
	}
	var last uint64
	for i, r := range b.Records {
		switch {
		case r.Seq <= last:
			return fmt.Errorf("records[%d]: seq %d does not follow %d: seq starts at 1 and increases", i, r.Seq, last)
		case r.Level == "" || len(r.Level) > v1alpha1.MaxLogLevel:
			return fmt.Errorf("records[%d]: level must be 1-%d bytes", i, v1alpha1.MaxLogLevel)
		case len(r.Msg) > v1alpha1.MaxLogMessage:
			return fmt.Errorf("records[%d]: msg is %d bytes: truncate it to %d", i, len(r.Msg), v1alpha1.MaxLogMessage)
		case len(r.Attrs) > v1alpha1.MaxLogAttrs:
			return fmt.Errorf("records[%d]: %d attrs: send at most %d", i, len(r.Attrs), v1alpha1.MaxLogAttrs)
		}
		for k, v := range r.Attrs {
			if k == "" || len(k) > v1alpha1.MaxLogAttrKey || len(v) > v1alpha1.MaxLogAttrValue {
				return fmt.Errorf("records[%d]: attr %.40q: keys must be 1-%d bytes, values at most %d", i, k, v1alpha1.MaxLogAttrKey, v1alpha1.MaxLogAttrValue)
			}
		}
		last = r.Seq
	}
	return nil
}

// postLogs stores a batch of the agent's log records. The agent
// authenticates with what it has: the enrollment token of this boot (a node
// waiting for approval) or its node credential.
func (a *API) postLogs(w http.ResponseWriter, r *http.Request) (any, error) {
	if a.o.BootLogs == nil {
		return nil, fail(http.StatusServiceUnavailable, "this controller keeps no boot logs")
	}
	id, secret, ok := enroll.SplitNodeToken(bearer(r))
	if !ok {
		return nil, fail(http.StatusUnauthorized, "missing or malformed token: send the enrollment token from register, or the node credential")
	}
	n, rq, waiting, err := a.o.Registry.NodeAndRequest(id, enroll.Hash(secret))
	// The token of a waiting registration request of a node that holds no
	// credential (never of an identity conflict: a copy of a node's identity
	// must not write into its log).
	byRequest := err == nil && n.CredentialHash == "" && !enroll.Matches(n.EnrollmentHash, secret) &&
		waiting && rq.Node == id && !rq.Conflict
	if err != nil || !(byRequest || enroll.Matches(n.EnrollmentHash, secret) || enroll.Matches(n.CredentialHash, secret)) {
		return nil, fail(http.StatusUnauthorized, "token not valid (a newer registration replaced it?): register again")
	}
	if n.State == registry.Decommissioned {
		return nil, fail(http.StatusForbidden, "node %s is decommissioned or was rejected: its logs are refused", id)
	}
	by := bootlog.Sender{
		Credential: enroll.Matches(n.CredentialHash, secret),
		// Never approved (no credential was ever issued): an enrollment
		// token is all anyone needs, so the smaller bounds apply.
		Unapproved: byRequest || (n.State == registry.Discovered || n.State == registry.Pending) && n.CredentialHash == "",
	}
	var b v1alpha1.LogBatch
	if err := decode(r, &b); err != nil {
		return nil, err
	}
	if err := checkLogBatch(&b); err != nil {
		return nil, fail(http.StatusBadRequest, "%v", err)
	}
	res, err := a.o.BootLogs.Append(id, by, b)
	var rl *bootlog.RateLimitedError
	if errors.As(err, &rl) {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(rl.RetryAfter.Seconds()))))
		return nil, fail(http.StatusTooManyRequests, "%v", rl)
	}
	if err != nil {
		return nil, err
	}
	return v1alpha1.LogAck{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogAck, Stored: res.Stored, Seq: res.HighSeq}, nil
}

// nodeLogs answers a node's boot log; with wait= it waits for records after
// the cursor (follow mode).
func (a *API) nodeLogs(w http.ResponseWriter, r *http.Request) (any, error) {
	if a.o.BootLogs == nil {
		return nil, fail(http.StatusServiceUnavailable, "this controller keeps no boot logs")
	}
	id := r.PathValue("id")
	if _, err := a.o.Registry.Get(id); err != nil {
		return nil, err
	}
	qv := r.URL.Query()
	q := bootlog.Query{Boot: qv.Get("boot")}
	if q.Boot != "" && q.Boot != "all" && q.Boot != "current" && q.Boot != "previous" && !v1alpha1.ValidBootID(q.Boot) {
		return nil, fail(http.StatusBadRequest, "boot=%.70q: use current, previous, all or a boot id", q.Boot)
	}
	var err error
	if s := qv.Get("after"); s != "" {
		if q.After, err = strconv.ParseUint(s, 10, 64); err != nil {
			return nil, fail(http.StatusBadRequest, "after=%.30q: want a cursor (the next of an earlier answer)", s)
		}
	}
	if s := qv.Get("since"); s != "" {
		if q.Since, err = time.Parse(time.RFC3339, s); err != nil {
			return nil, fail(http.StatusBadRequest, "since=%.40q: want an RFC 3339 time, e.g. 2026-11-22T07:00:00Z", s)
		}
	}
	if s := qv.Get("limit"); s != "" {
		if q.Limit, err = strconv.Atoi(s); err != nil || q.Limit < 1 || q.Limit > maxLogLimit {
			return nil, fail(http.StatusBadRequest, "limit=%.30q: want 1 to %d", s, maxLogLimit)
		}
	}
	var wait time.Duration
	if s := qv.Get("wait"); s != "" {
		if wait, err = time.ParseDuration(s); err != nil || wait < 0 || wait > MaxLogWait {
			return nil, fail(http.StatusBadRequest, "wait=%.30q: want a duration from 0s to %s", s, MaxLogWait)
		}
	}
	changed := a.o.BootLogs.Changed(id)
	l, err := a.o.BootLogs.Read(id, q)
	if err == nil && len(l.Items) == 0 && wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-changed:
			l, err = a.o.BootLogs.Read(id, q)
		case <-t.C:
		case <-r.Context().Done():
		}
	}
	if errors.Is(err, bootlog.ErrUnknownBoot) {
		return nil, fail(http.StatusNotFound, "%v: corral nodes logs %s --boot all shows every boot", err, id)
	}
	return l, err
}

// forgetWithLogs forgets a node and deletes its boot log.
func (a *API) forgetWithLogs(w http.ResponseWriter, r *http.Request) (any, error) {
	out, err := a.forget(w, r)
	if err != nil || a.o.BootLogs == nil {
		return out, err
	}
	if err := a.o.BootLogs.Forget(r.PathValue("id")); err != nil {
		return nil, fmt.Errorf("node forgotten, but its boot log was not deleted: %w", err)
	}
	return out, nil
}
