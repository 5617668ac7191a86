package client

import (
	"context"
	"net"
	"strings"
	"testing"

	"corral.io/corral/api/v1alpha1"
)

// An unreachable controller's error names the call once: net/http's
// *url.Error already says the method and the URL.
func TestUnreachableErrorSaysTheCallOnce(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now
	c, err := New("https://"+addr, Trust{CAFingerprint: strings.Repeat("ab", 32)}, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Register(context.Background(), v1alpha1.Inventory{}, "")
	if err == nil {
		t.Fatal("Register to a closed port succeeded")
	}
	msg := err.Error()
	if n := strings.Count(msg, "register"); n != 1 {
		t.Errorf("error %q names the call %d times, want once", msg, n)
	}
	if !strings.Contains(msg, addr) || !strings.Contains(msg, "connection refused") {
		t.Errorf("error %q does not say where it failed and why", msg)
	}
}
