package logship

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
)

// sendOnce sends the oldest batch. It returns ErrNotReady when there is
// nothing it may send with, and (false, nil) when the queue is empty.
func (s *Shipper) sendOnce(ctx context.Context) (sent bool, err error) {
	s.sendMu.Lock()
	defer s.sendMu.Unlock()
	s.mu.Lock()
	send, token := s.send, s.token
	if len(s.q) == 0 {
		s.mu.Unlock()
		return false, nil
	}
	if send == nil || token == "" || token == s.refused {
		s.mu.Unlock()
		return false, ErrNotReady
	}
	if s.boot == "" {
		id, err := s.o.BootID()
		if err != nil {
			s.log.Warn("no kernel boot id: using a random one for this process", "err", err)
		}
		s.boot = id
	}
	b := v1alpha1.LogBatch{APIVersion: v1alpha1.Version, Kind: v1alpha1.KindLogBatch, Boot: s.boot, Dropped: s.dropped}
	b.Records = append([]v1alpha1.LogRecord(nil), s.q[:s.batchLenLocked()]...)
	s.mu.Unlock()

	err = send(ctx, token, b)
	var ae *client.APIError
	for tries := 0; err != nil && tries < 3 && errors.As(err, &ae) && ae.Code == http.StatusUnauthorized; tries++ {
		// Refused, but the token may have been replaced while the batch
		// was on its way (the controller issuing the credential spends
		// the enrollment token): send again at once with the new one.
		s.mu.Lock()
		newer := s.token
		s.mu.Unlock()
		if newer == token || newer == "" {
			break
		}
		token = newer
		err = send(ctx, token, b)
	}
	switch {
	case err == nil:
		s.remove(b.Records[len(b.Records)-1].Seq, 0)
		s.endSpool()
		s.mu.Lock()
		if s.limit > 0 {
			if s.limit *= 2; s.limit >= s.o.Batch {
				s.limit = 0
			}
		}
		s.mu.Unlock()
		return true, nil
	case errors.As(err, &ae) && ae.Code == http.StatusRequestEntityTooLarge && len(b.Records) > 1:
		// Too large for the controller: send half as many records at
		// once until one is accepted, rather than drop them.
		s.mu.Lock()
		s.limit = len(b.Records) / 2
		s.mu.Unlock()
		s.log.Warn("the controller refused a batch of log records as too large; sending fewer at once",
			"records", len(b.Records), "next", len(b.Records)/2)
		return true, nil
	case errors.As(err, &ae) && (ae.Code == http.StatusUnauthorized || ae.Code == http.StatusForbidden):
		s.mu.Lock()
		s.refused = token
		// A credential request in flight may be what spent the token:
		// wait for its outcome (Tap) before saying it was refused.
		s.quiet = nil
		if ae.Code == http.StatusUnauthorized && s.credCalls > 0 && s.token == token {
			s.quiet = err
		}
		quiet := s.quiet != nil
		s.mu.Unlock()
		if !quiet {
			s.warnRefused(err)
		}
		return false, ErrNotReady
	case errors.As(err, &ae) && ae.Code >= 400 && ae.Code < 500 && ae.Code != http.StatusTooManyRequests && ae.Code != http.StatusRequestTimeout:
		// The controller will refuse this batch whatever we do: drop it
		// rather than block every later record behind it.
		s.remove(b.Records[len(b.Records)-1].Seq, uint64(len(b.Records)))
		s.log.Error("the controller refused a batch of log records; dropped it", "records", len(b.Records), "err", err)
		return true, nil
	}
	return false, err
}

// batchLenLocked is how many of the queue's oldest records the next send
// carries: at most Batch (and limit, after a 413), and no more than fit in
// BatchBytes encoded — but at least one.
func (s *Shipper) batchLenLocked() int {
	n := min(len(s.q), s.o.Batch)
	if s.limit > 0 {
		n = min(n, s.limit)
	}
	size := 0
	for i, r := range s.q[:n] {
		size += encodedSize(r) + 1 // the comma
		if size > s.o.BatchBytes && i > 0 {
			return i
		}
	}
	return n
}

// encodedSize is the length of r in JSON.
func encodedSize(r v1alpha1.LogRecord) int {
	b, err := json.Marshal(r)
	if err != nil {
		return 0
	}
	return len(b)
}

func (s *Shipper) warnRefused(err error) {
	s.log.Warn("the controller refused this node's log token; keeping the logs until the node registers again", "err", err)
}

// remove takes the records up to seq off the queue (they may have been
// dropped meanwhile), counting lost ones as dropped.
func (s *Shipper) remove(seq, lost uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := 0
	for i < len(s.q) && s.q[i].Seq <= seq {
		i++
	}
	s.q = s.q[i:]
	s.dropped += lost
}
