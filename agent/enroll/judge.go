package enroll

import (
	"context"
	"errors"
	"net/http"

	"corral.io/corral/api/client"
)

// verdict is what the loop does after a call to the controller.
type verdict int

const (
	// proceed: the call succeeded.
	proceed verdict = iota
	// retry: the controller was unreachable or failed (network error, 5xx,
	// 408, 429); try again after a backoff.
	retry
	// reregister: 401, the enrollment token or node credential is no longer
	// valid (e.g. the controller forgot this boot's token); start over.
	reregister
	// refused: 403, the node was rejected or decommissioned; stop.
	refused
	// invalid: any other 4xx, the request itself is wrong; retrying cannot
	// help, so stop and show the controller's message.
	invalid
	// cancelled: the context ended; stop quietly.
	cancelled
)

func (v verdict) String() string {
	return [...]string{"proceed", "retry", "reregister", "refused", "invalid", "cancelled"}[v]
}

// judge decides what an error from a controller call means. ctxErr is the
// loop's own context error, so that a cancelled call is not mistaken for a
// network failure.
func judge(err, ctxErr error) verdict {
	if err == nil {
		return proceed
	}
	if ctxErr != nil {
		return cancelled
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		if errors.Is(err, context.Canceled) {
			return cancelled
		}
		return retry // network, TLS handshake, timeouts, undecodable answers
	}
	switch c := ae.Code; {
	case c == http.StatusUnauthorized:
		return reregister
	case c == http.StatusForbidden:
		return refused
	case c == http.StatusRequestTimeout, c == http.StatusTooManyRequests, c >= 500:
		return retry
	default:
		return invalid
	}
}
