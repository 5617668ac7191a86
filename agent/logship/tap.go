package logship

import (
	"context"

	"corral.io/corral/agent/enroll"
	"corral.io/corral/api/v1alpha1"
)

// Tap wraps the enrollment loop's API so that the shipper gets the tokens
// the loop obtains: the enrollment token from register, then the node
// credential.
func (s *Shipper) Tap(api enroll.API) enroll.API { return tap{api, s} }

type tap struct {
	enroll.API
	s *Shipper
}

func (t tap) Register(ctx context.Context, inv v1alpha1.Inventory, credential string) (v1alpha1.RegisterResponse, error) {
	r, err := t.API.Register(ctx, inv, credential)
	if err == nil && r.EnrollmentToken != "" {
		t.s.SetToken(r.EnrollmentToken)
	}
	return r, err
}

func (t tap) Credential(ctx context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	s := t.s
	s.mu.Lock()
	s.credCalls++
	s.mu.Unlock()
	c, p, err := t.API.Credential(ctx, token)
	got := err == nil && c != nil && c.Credential != ""
	if got {
		s.SetToken(c.Credential)
	}
	s.mu.Lock()
	s.credCalls--
	// A refusal kept quiet while this request was in flight, and no new
	// token came of it: the token really is refused.
	var report error
	if s.credCalls == 0 {
		if s.refused == s.token {
			report = s.quiet
		}
		s.quiet = nil
	}
	s.mu.Unlock()
	if report != nil {
		s.warnRefused(report)
	}
	return c, p, err
}

func (t tap) Config(ctx context.Context, credential string) (v1alpha1.NodeConfig, error) {
	t.s.SetToken(credential)
	return t.API.Config(ctx, credential)
}
