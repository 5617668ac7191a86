// Package client calls the controller's API, for the node agent (register,
// credential, config, heartbeat) and for operators (the corral CLI).
//
// TLS trust comes from one of two places: a CA certificate in PEM (the
// operator's client configuration), or the SHA-256 fingerprint of the CA
// certificate (what a booting node finds on its kernel command line): the
// controller sends its CA in the handshake, the client accepts it only if its
// fingerprint matches, and then verifies the server certificate against it.
//
// This package imports only the standard library.
package client

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"corral.io/corral/api/v1alpha1"
)

// Trust says how to verify the controller.
type Trust struct {
	// CAPEM is the controller's CA certificate.
	CAPEM []byte
	// CAFingerprint is the hex SHA-256 of the CA certificate (DER), with or
	// without colons.
	CAFingerprint string
}

// Client talks to one controller.
type Client struct {
	base  *url.URL
	http  *http.Client
	token string
}

// New returns a client for the controller at baseURL (https://host:port).
// token is sent as bearer: the admin token, the enrollment token or the node
// credential, depending on the calls made (see WithToken).
func New(baseURL string, trust Trust, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("controller URL %q: want https://host:port", baseURL)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	switch {
	case len(trust.CAPEM) > 0:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(trust.CAPEM) {
			return nil, errors.New("CA certificate: no PEM certificate found")
		}
		tc.RootCAs = pool
	case trust.CAFingerprint != "":
		want, err := parseFingerprint(trust.CAFingerprint)
		if err != nil {
			return nil, err
		}
		// Pinning replaces the system roots: the chain is verified below
		// against the pinned CA only.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error { return verifyPinned(cs, want) }
	default:
		return nil, errors.New("no trust configured: give the controller's CA certificate or its fingerprint")
	}
	tr := &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	for _, o := range opts {
		o(tr)
	}
	return &Client{
		base:  u,
		token: token,
		http:  &http.Client{Timeout: 30 * time.Second, Transport: tr},
	}, nil
}

// Option adjusts the client's transport.
type Option func(*http.Transport)

// WithDialContext replaces how connections are made (e.g. from inside a
// network namespace, in tests).
func WithDialContext(dial func(ctx context.Context, network, addr string) (net.Conn, error)) Option {
	return func(t *http.Transport) { t.DialContext = dial }
}

// WithToken returns a copy of c that sends token instead.
func (c *Client) WithToken(token string) *Client {
	cp := *c
	cp.token = token
	return &cp
}

// Fingerprint is the hex SHA-256 of a certificate's DER bytes, the form
// used on the kernel command line (corral.ca=).
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func parseFingerprint(s string) ([]byte, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(s), ":", ""))
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("CA fingerprint %q: want 64 hex digits (SHA-256)", s)
	}
	return b, nil
}

func verifyPinned(cs tls.ConnectionState, want []byte) error {
	if len(cs.PeerCertificates) == 0 {
		return errors.New("controller sent no certificate")
	}
	var ca *x509.Certificate
	for _, c := range cs.PeerCertificates {
		if sum := sha256.Sum256(c.Raw); bytes.Equal(sum[:], want) {
			ca = c
		}
	}
	if ca == nil {
		return errors.New("controller's CA does not match the pinned fingerprint (" + v1alpha1.KernelArgCA + "=): refusing to talk to it")
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	if _, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter}); err != nil {
		return fmt.Errorf("controller certificate is not signed by the pinned CA: %w", err)
	}
	return nil
}

// APIError is a 4xx or 5xx answer.
type APIError struct {
	Code    int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("controller: %d %s: %s", e.Code, http.StatusText(e.Code), e.Message)
}

// IsStatus reports whether err is an APIError with code.
func IsStatus(err error, code int) bool {
	var ae *APIError
	return errors.As(err, &ae) && ae.Code == code
}

// do sends body (JSON, when not nil) and decodes a 2xx answer into out.
// It returns the status code.
func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base.JoinPath(path).String(), rd)
	if err != nil {
		return 0, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		// A *url.Error, which already says `Post "https://…/path": …`.
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 400 {
		var e v1alpha1.Error
		if json.Unmarshal(data, &e) != nil || e.Message == "" {
			e.Message = strings.TrimSpace(string(data))
		}
		return resp.StatusCode, &APIError{Code: resp.StatusCode, Message: e.Message}
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode answer: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// Register announces the machine (agent, no token needed).
func (c *Client) Register(ctx context.Context, inv v1alpha1.Inventory, credential string) (v1alpha1.RegisterResponse, error) {
	var out v1alpha1.RegisterResponse
	_, err := c.do(ctx, http.MethodPost, v1alpha1.PathRegister, v1alpha1.RegisterRequest{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindRegisterRequest, Inventory: inv, Credential: credential,
	}, &out)
	return out, err
}

// Credential asks for the node credential with the enrollment token (the
// client's token). While the node awaits approval it returns nil and the
// pending RegisterResponse.
func (c *Client) Credential(ctx context.Context) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	var raw json.RawMessage
	code, err := c.do(ctx, http.MethodPost, v1alpha1.PathCredential, struct{}{}, &raw)
	if err != nil {
		return nil, nil, err
	}
	if code == http.StatusAccepted {
		var pending v1alpha1.RegisterResponse
		return nil, &pending, json.Unmarshal(raw, &pending)
	}
	var cred v1alpha1.Credential
	return &cred, nil, json.Unmarshal(raw, &cred)
}

// Config fetches the node's configuration (node credential as token).
func (c *Client) Config(ctx context.Context) (v1alpha1.NodeConfig, error) {
	var out v1alpha1.NodeConfig
	_, err := c.do(ctx, http.MethodGet, v1alpha1.PathConfig, nil, &out)
	return out, err
}

// Heartbeat reports the node's condition (node credential as token).
func (c *Client) Heartbeat(ctx context.Context, ready bool, message string) error {
	_, err := c.do(ctx, http.MethodPost, v1alpha1.PathHeartbeat, v1alpha1.Heartbeat{
		APIVersion: v1alpha1.Version, Kind: v1alpha1.KindHeartbeat, Ready: ready, Message: message,
	}, nil)
	return err
}

func nodePath(pattern, id string) string {
	return strings.Replace(pattern, "{id}", url.PathEscape(id), 1)
}

// Nodes lists every node (admin token).
func (c *Client) Nodes(ctx context.Context) ([]v1alpha1.Node, error) {
	var out v1alpha1.NodeList
	_, err := c.do(ctx, http.MethodGet, v1alpha1.PathNodes, nil, &out)
	return out.Items, err
}

// Node shows one node with its inventory (admin token).
func (c *Client) Node(ctx context.Context, id string) (v1alpha1.Node, error) {
	var out v1alpha1.Node
	_, err := c.do(ctx, http.MethodGet, nodePath(v1alpha1.PathNode, id), nil, &out)
	return out, err
}

// Events returns a node's history (admin token).
func (c *Client) Events(ctx context.Context, id string) ([]v1alpha1.Event, error) {
	var out v1alpha1.EventList
	_, err := c.do(ctx, http.MethodGet, nodePath(v1alpha1.PathNodeEvents, id), nil, &out)
	return out.Items, err
}

// Action approves, rejects, decommissions, assigns or labels a node (admin
// token); action is the last path element: approve, reject, decommission,
// assign or labels.
func (c *Client) Action(ctx context.Context, id, action string, req v1alpha1.ActionRequest) (v1alpha1.Node, error) {
	var out v1alpha1.Node
	p := strings.Replace(nodePath(v1alpha1.PathNodeAction, id), "{action}", url.PathEscape(action), 1)
	_, err := c.do(ctx, http.MethodPost, p, req, &out)
	return out, err
}

// Explain says which profile a node gets and why (admin token).
func (c *Client) Explain(ctx context.Context, id string) (v1alpha1.ProfileExplanation, error) {
	var out v1alpha1.ProfileExplanation
	_, err := c.do(ctx, http.MethodGet, nodePath(v1alpha1.PathNodeExplain, id), nil, &out)
	return out, err
}

// Forget deletes a node and its history (admin token).
func (c *Client) Forget(ctx context.Context, id string) error {
	_, err := c.do(ctx, http.MethodDelete, nodePath(v1alpha1.PathNode, id), nil, nil)
	return err
}
