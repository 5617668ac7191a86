package server

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/registry"
)

// MaxRegisterBody bounds a registration: the inventory of a large server
// is tens of kilobytes (a DGX A100: 22 KB), and an unauthenticated client must not make the
// registry store a megabyte per request (issue 12, F5).
const MaxRegisterBody = 64 << 10

// RegisterRate bounds unauthenticated registrations (those not presenting a
// valid node credential): per source address and in all. A node that
// presents its credential is never limited, so a flood does not keep
// enrolled machines from booting.
type RegisterRate struct {
	PerSource, Global           rate.Limit
	PerSourceBurst, GlobalBurst int
}

// DefaultRegisterRate: one boot registers once, and a rack of agents
// starting together fits the global burst.
var DefaultRegisterRate = RegisterRate{PerSource: 1, PerSourceBurst: 10, Global: 50, GlobalBurst: 500}

// maxSources bounds the per-source limiters kept; idle ones are dropped.
const maxSources = 4096

type registerLimits struct {
	r      RegisterRate
	global *rate.Limiter
	mu     sync.Mutex
	src    map[string]*sourceLimit
}

type sourceLimit struct {
	l    *rate.Limiter
	seen time.Time
}

func newRegisterLimits(r RegisterRate) *registerLimits {
	if r == (RegisterRate{}) {
		r = DefaultRegisterRate
	}
	return &registerLimits{r: r, global: rate.NewLimiter(r.Global, r.GlobalBurst), src: map[string]*sourceLimit{}}
}

// allow takes one unauthenticated registration from source, or says how
// long to wait.
func (l *registerLimits) allow(source string) error {
	now := time.Now()
	l.mu.Lock()
	s := l.src[source]
	if s == nil {
		if len(l.src) >= maxSources {
			for k, v := range l.src {
				if now.Sub(v.seen) > time.Minute {
					delete(l.src, k)
				}
			}
		}
		if len(l.src) >= maxSources {
			l.mu.Unlock()
			return fail(http.StatusTooManyRequests, "too many registering addresses at once: retry in a minute")
		}
		s = &sourceLimit{l: rate.NewLimiter(l.r.PerSource, l.r.PerSourceBurst)}
		l.src[source] = s
	}
	s.seen = now
	ok := s.l.AllowN(now, 1)
	l.mu.Unlock()
	if !ok {
		return fail(http.StatusTooManyRequests, "too many registrations from %s without a node credential: retry later (at most %v a second)", source, float64(l.r.PerSource))
	}
	if !l.global.AllowN(now, 1) {
		return fail(http.StatusTooManyRequests, "too many registrations without a node credential: retry later (at most %v a second in all)", float64(l.r.Global))
	}
	return nil
}

// decodeRegister reads and checks a RegisterRequest (a Fuzz target:
// FuzzDecodeRegister).
func decodeRegister(r *http.Request) (v1alpha1.RegisterRequest, error) {
	var req v1alpha1.RegisterRequest
	if err := decode(r, &req); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, fail(http.StatusRequestEntityTooLarge, "registration is larger than %d bytes: an inventory is tens of kilobytes", MaxRegisterBody)
		}
		return req, err
	}
	if req.APIVersion != v1alpha1.Version || req.Kind != v1alpha1.KindRegisterRequest {
		return req, fail(http.StatusBadRequest, "want apiVersion %q and kind %q, got %q and %q", v1alpha1.Version, v1alpha1.KindRegisterRequest, req.APIVersion, req.Kind)
	}
	if id := req.Inventory.Identity.NodeID; !nodeIDPattern.MatchString(id) {
		return req, fail(http.StatusBadRequest, "inventory.identity.nodeID %q is not a node id (1-128 of A-Z a-z 0-9 . _ : -)", clip(id, 140))
	}
	if len(req.Credential) > 512 {
		return req, fail(http.StatusBadRequest, "credential is %d bytes: not a node credential", len(req.Credential))
	}
	return req, nil
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// request is the registry record of one registration attempt.
func (a *API) request(id, source, hash string, conflict bool, inv *v1alpha1.Inventory) registry.Request {
	return registry.Request{Node: id, Source: source, Conflict: conflict, EnrollmentHash: hash,
		Summary: Summary(inv), Inventory: inv}
}

// sourceOf is the address of the registering client (no port).
func sourceOf(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Summary is a one-line digest of an inventory for operators choosing a
// request: vendor and product, serial, UUID, CPUs, memory, NIC MACs.
func Summary(inv *v1alpha1.Inventory) string {
	var p []string
	if s := strings.TrimSpace(inv.System.Vendor + " " + inv.System.Product); s != "" {
		p = append(p, s)
	}
	if inv.System.Serial != "" {
		p = append(p, "serial "+inv.System.Serial)
	}
	if inv.System.UUID != "" {
		p = append(p, "uuid "+inv.System.UUID)
	}
	if inv.CPU.Threads > 0 {
		p = append(p, fmt.Sprintf("%d threads", inv.CPU.Threads))
	}
	if inv.Memory.TotalBytes > 0 {
		p = append(p, fmt.Sprintf("%d MiB", inv.Memory.TotalBytes>>20))
	}
	var macs []string
	for _, n := range inv.NICs {
		if m := n.PermanentMAC; m != "" {
			macs = append(macs, m)
		} else if n.MAC != "" {
			macs = append(macs, n.MAC)
		}
	}
	if len(macs) > 4 {
		macs = append(macs[:4], fmt.Sprintf("+%d", len(macs)-4))
	}
	if len(macs) > 0 {
		p = append(p, "nics "+strings.Join(macs, ","))
	}
	if len(p) == 0 {
		return "empty inventory"
	}
	return clip(strings.Join(p, ", "), 300)
}

// viewRequests is the operator's view of a node's waiting requests.
func viewRequests(rs []registry.Request, withInventory bool) []v1alpha1.RegistrationRequest {
	var out []v1alpha1.RegistrationRequest
	for _, r := range rs {
		v := v1alpha1.RegistrationRequest{ID: r.ID, Source: r.Source, Time: r.Time, Expires: r.Expires, Conflict: r.Conflict, Summary: r.Summary}
		if withInventory {
			v.Inventory = r.Inventory
		}
		out = append(out, v)
	}
	return out
}

// conflictCondition is the IdentityConflict condition of a node with
// waiting requests, if any of them is a conflict.
func conflictCondition(rs []v1alpha1.RegistrationRequest) (v1alpha1.NodeCondition, bool) {
	n := 0
	var first time.Time
	for _, r := range rs {
		if r.Conflict {
			if n == 0 {
				first = r.Time
			}
			n++
		}
	}
	if n == 0 {
		return v1alpha1.NodeCondition{}, false
	}
	return v1alpha1.NodeCondition{Type: v1alpha1.ConditionIdentityConflict, Status: v1alpha1.ConditionTrue,
		LastTransitionTime: &first, Reason: "UnauthenticatedRegistration",
		Message: fmt.Sprintf("%d registration(s) of this node's id did not present its credential; the node is unchanged (corral nodes show lists them; approve one with --request, or reject it)", n)}, true
}

// withRequests adds a node's waiting requests and, for a conflict, the
// IdentityConflict condition.
func withRequests(v *v1alpha1.Node, rs []registry.Request, withInventory bool) {
	v.Requests = viewRequests(rs, withInventory)
	if c, ok := conflictCondition(v.Requests); ok {
		v.Conditions = append(v.Conditions, c)
	}
}
