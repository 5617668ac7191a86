package enroll

import (
	"context"
	"time"

	"corral.io/corral/api/client"
	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/backoff"
)

// API is the part of the controller's API the agent uses. *client.Client
// gives it through FromClient; tests give a fake.
type API interface {
	// Register announces the machine; credential is one held from an
	// earlier approval, or "".
	Register(ctx context.Context, inv v1alpha1.Inventory, credential string) (v1alpha1.RegisterResponse, error)
	// Credential asks for the node credential with the enrollment token:
	// the credential once approved, else the pending answer.
	Credential(ctx context.Context, enrollmentToken string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error)
	// Config fetches the node's configuration.
	Config(ctx context.Context, credential string) (v1alpha1.NodeConfig, error)
	// Heartbeat reports the node's condition.
	Heartbeat(ctx context.Context, credential string, ready bool, message string) error
}

// FromClient adapts a client (its own token unused) to API.
func FromClient(c *client.Client) API { return clientAPI{c} }

type clientAPI struct{ c *client.Client }

func (a clientAPI) Register(ctx context.Context, inv v1alpha1.Inventory, credential string) (v1alpha1.RegisterResponse, error) {
	return a.c.WithToken("").Register(ctx, inv, credential)
}

func (a clientAPI) Credential(ctx context.Context, token string) (*v1alpha1.Credential, *v1alpha1.RegisterResponse, error) {
	return a.c.WithToken(token).Credential(ctx)
}

func (a clientAPI) Config(ctx context.Context, credential string) (v1alpha1.NodeConfig, error) {
	return a.c.WithToken(credential).Config(ctx)
}

func (a clientAPI) Heartbeat(ctx context.Context, credential string, ready bool, message string) error {
	return a.c.WithToken(credential).Heartbeat(ctx, ready, message)
}

// Clock is the loop's time: Now for logging intervals, Sleep for every wait.
type Clock interface {
	Now() time.Time
	// Sleep waits d, or until ctx is done (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Sleep waits d or until ctx is done.
func (RealClock) Sleep(ctx context.Context, d time.Duration) error { return backoff.Sleep(ctx, d) }
