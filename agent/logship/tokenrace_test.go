package logship_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"

	agentenroll "corral.io/corral/agent/enroll"
	"corral.io/corral/agent/logship"
	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/bootlog"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server/servertest"
	"corral.io/corral/internal/testutil"
)

// gatedAPI holds the answer of a credential request until release is
// closed, after telling issued that the controller answered.
type gatedAPI struct {
	agentenroll.API
	issued  chan struct{}
	release chan struct{}
}

func (g gatedAPI) Credential(ctx context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	c, p, err := g.API.Credential(ctx, token)
	close(g.issued)
	<-g.release
	return c, p, err
}

// TestTheCredentialReplacesTheEnrollmentTokenMidSend reproduces every boot
// of an auto-approved node: a batch is on its way with the enrollment token
// when the controller issues the credential, which spends that token, so the
// controller answers the batch 401. The shipper sends it again with the
// credential, without warning that its token was refused, whether the 401
// arrives after the enrollment loop has the credential or before.
func TestTheCredentialReplacesTheEnrollmentTokenMidSend(t *testing.T) {
	for _, tc := range []struct {
		name string
		// answerFirst: the credential answer reaches the enrollment
		// loop before the 401 reaches the shipper.
		answerFirst bool
	}{
		{"credential known before the 401", true},
		{"401 before the credential is known", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctl := servertest.Start(t, servertest.Options{Policy: enroll.Policy{Mode: enroll.Auto}})
			c, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, "")
			if err != nil {
				t.Fatal(err)
			}
			var console testutil.LockedBuffer
			ship := logship.New(logship.Options{Console: slog.NewTextHandler(&console, nil), BootID: func() (string, error) { return "boot-a", nil }})
			log := slog.New(ship.Handler(slog.DiscardHandler))
			gate := gatedAPI{API: agentenroll.FromClient(c), issued: make(chan struct{}), release: make(chan struct{})}
			api := ship.Tap(gate)

			const node = "n0123456789abcdef01234567"
			reg, err := api.Register(t.Context(), v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}, "")
			if err != nil {
				t.Fatal(err)
			}
			log.Info("registered", "state", reg.State)

			// The enrollment loop asks for the credential while the
			// batch is on its way with the enrollment token.
			credDone := make(chan error, 1)
			var sent []string
			real := logship.ClientSender(c)
			ship.SetSender(func(ctx context.Context, token string, b v1alpha1.LogBatch) error {
				sent = append(sent, token)
				if len(sent) == 1 {
					go func() {
						cred, _, err := api.Credential(context.Background(), reg.EnrollmentToken)
						if err == nil && cred == nil {
							err = context.Canceled
						}
						credDone <- err
					}()
					<-gate.issued // the controller spent the enrollment token
					if tc.answerFirst {
						close(gate.release)
						if err := <-credDone; err != nil {
							t.Errorf("credential: %v", err)
						}
					}
				}
				return real(ctx, token, b)
			})
			err = ship.Flush(t.Context())
			if !tc.answerFirst {
				// The 401 came first: the records wait for the
				// credential the enrollment loop is receiving.
				if err == nil {
					t.Fatal("flush succeeded with a spent token")
				}
				close(gate.release)
				if err := <-credDone; err != nil {
					t.Fatalf("credential: %v", err)
				}
				err = ship.Flush(t.Context())
			}
			if err != nil {
				t.Fatalf("flush: %v", err)
			}
			if len(sent) != 2 || sent[0] != reg.EnrollmentToken || sent[1] == sent[0] {
				t.Errorf("sent with %d tokens (%q), want the enrollment token then the credential", len(sent), sent)
			}
			if strings.Contains(console.String(), "refused") {
				t.Errorf("the shipper warned about a token that was only replaced:\n%s", console.String())
			}
			l, err := ctl.BootLogs.Read(node, bootlog.Query{})
			if err != nil || len(l.Items) != 1 || l.Items[0].Msg != "registered" {
				t.Errorf("controller's log: %+v, %v", l.Items, err)
			}
		})
	}
}

// TestARefusedTokenIsStillReported: a token the controller really refuses
// (here: the operator approved another registration request of the node,
// which discards this one, and no credential request explains it) is reported once and not used again.
func TestARefusedTokenIsStillReported(t *testing.T) {
	ctl := servertest.Start(t, servertest.Options{})
	c, err := client.New(ctl.URL, client.Trust{CAPEM: ctl.CAPEM}, "")
	if err != nil {
		t.Fatal(err)
	}
	var console testutil.LockedBuffer
	ship := logship.New(logship.Options{Console: slog.NewTextHandler(&console, nil), BootID: func() (string, error) { return "boot-a", nil }})
	log := slog.New(ship.Handler(slog.DiscardHandler))
	api := ship.Tap(agentenroll.FromClient(c))
	ship.SetSender(logship.ClientSender(c))
	const node = "n0123456789abcdef01234567"
	inv := v1alpha1.Inventory{Identity: v1alpha1.Identity{NodeID: node}}
	reg, err := api.Register(t.Context(), inv, "")
	if err != nil {
		t.Fatal(err)
	}
	// Another registration (not through the tap) is its own request, and the
	// operator approves that one: the first request is discarded with its token.
	if _, err := c.Register(t.Context(), inv, ""); err != nil {
		t.Fatal(err)
	}
	reqs, err := ctl.Registry.Requests(node)
	if err != nil || len(reqs) != 2 {
		t.Fatalf("requests: %+v, %v; want the two registrations'", reqs, err)
	}
	newest := reqs[0]
	if reqs[1].Time.After(newest.Time) {
		newest = reqs[1]
	}
	if _, _, err := ctl.Registry.ApproveRequest(node, newest.ID, "test"); err != nil {
		t.Fatal(err)
	}
	log.Info("after the second registration")
	if err := ship.Flush(t.Context()); err == nil {
		t.Fatal("flush with a replaced token succeeded")
	}
	// A pending credential request (with the spent token) does not make
	// it quiet afterwards: it ends without a credential, and the refusal
	// is reported.
	if _, _, err := api.Credential(t.Context(), reg.EnrollmentToken); err == nil {
		t.Log("credential request with a replaced token answered")
	}
	if n := strings.Count(console.String(), "refused this node's log token"); n != 1 {
		t.Errorf("refusal reported %d times, want 1:\n%s", n, console.String())
	}
}
