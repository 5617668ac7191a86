package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"corral.io/corral/api/v1alpha1"
)

// SendLogs posts a batch of boot log records (the enrollment token or the
// node credential as token). It returns once the controller stored them.
func (c *Client) SendLogs(ctx context.Context, b v1alpha1.LogBatch) (v1alpha1.LogAck, error) {
	b.APIVersion, b.Kind = v1alpha1.Version, v1alpha1.KindLogBatch
	var out v1alpha1.LogAck
	_, err := c.do(ctx, http.MethodPost, v1alpha1.PathLogs, b, &out)
	return out, err
}

// LogQuery selects what NodeLogs returns.
type LogQuery struct {
	// Boot is current, previous, all (or "") or a boot id.
	Boot string
	// After is the Next of an earlier answer: only later records.
	After uint64
	// Since keeps records the controller received at or after it.
	Since time.Time
	// Wait, when no record is there yet, waits up to this long for one
	// (at most 25 s): follow mode.
	Wait time.Duration
	// Limit bounds the records of one answer (0: the controller's 1000).
	Limit int
}

// NodeLogs reads a node's boot log (admin token).
func (c *Client) NodeLogs(ctx context.Context, id string, q LogQuery) (v1alpha1.LogList, error) {
	v := url.Values{}
	if q.Boot != "" {
		v.Set("boot", q.Boot)
	}
	if q.After > 0 {
		v.Set("after", strconv.FormatUint(q.After, 10))
	}
	if !q.Since.IsZero() {
		v.Set("since", q.Since.UTC().Format(time.RFC3339))
	}
	if q.Wait > 0 {
		v.Set("wait", q.Wait.String())
	}
	if q.Limit > 0 {
		v.Set("limit", strconv.Itoa(q.Limit))
	}
	var out v1alpha1.LogList
	err := c.get(ctx, nodePath(v1alpha1.PathNodeLogs, id), v, &out)
	return out, err
}

// get is do for a GET with a query string.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	u := c.base.JoinPath(path)
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("GET %s: read answer: %w", path, err)
	}
	if resp.StatusCode >= 400 {
		var e v1alpha1.Error
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return &APIError{Code: resp.StatusCode, Message: e.Message}
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return nil
}
