package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/image"
)

// TestRunningControllerBootsTheNewlyActivatedImage starts `corral
// controller` with no boot.kernel, activates one image then another with
// the CLI, and checks that the boot script the controller serves follows
// without a restart, root filesystem arguments included.
func TestRunningControllerBootsTheNewlyActivatedImage(t *testing.T) {
	l := newControllerLab(t, "i", "10.10.0.50/24")
	l.start(t)
	httpc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (c net.Conn, err error) {
			err = l.cli.Do(func() error {
				var d net.Dialer
				c, err = d.DialContext(ctx, network, addr)
				return err
			})
			return c, err
		},
	}}
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := httpc.Get("http://10.10.0.1:8080" + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	script := func() (int, string) { return get("/boot.ipxe?mac=52:54:00:aa:bb:cc") }

	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := script()
		if code == http.StatusInternalServerError {
			break // serving, with nothing to boot yet
		}
		if time.Now().After(deadline) {
			t.Fatalf("the controller never answered as expected with no image active: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}

	corral := func(args ...string) {
		t.Helper()
		if _, _, err := runCorral(t, filepath.Join(l.dir, "absent.yaml"), append(args, "--config", l.cfg)...); err != nil {
			t.Fatal(err)
		}
	}
	v1 := builtImage(t, "1.0.0", nil, "initrd.img", "vmlinuz")
	v2 := builtImage(t, "2.0.0", &v1alpha1.ImageK3s{Version: image.K3sVersion, Reason: "offline"}, "initrd.img", "rootfs.squashfs", "vmlinuz")
	corral("image", "import", v1)
	corral("image", "import", v2)

	corral("image", "activate", "1.0.0")
	code, body := script()
	if code != http.StatusOK || !strings.Contains(body, "kernel http://10.10.0.1:8080/images/1.0.0/vmlinuz ") ||
		!strings.Contains(body, "initrd --name initrd.img http://10.10.0.1:8080/images/1.0.0/initrd.img") || strings.Contains(body, "corral.rootfs") {
		t.Errorf("after activating 1.0.0, the script is (%d):\n%s", code, body)
	}

	corral("image", "activate", "2.0.0")
	code, body = script()
	sum := sha256.Sum256([]byte(strings.Repeat("rootfs.squashfs of 2.0.0\n", 1000)))
	want := "corral.rootfs=http://10.10.0.1:8080/images/2.0.0/rootfs.squashfs corral.rootfs.sha256=" + hex.EncodeToString(sum[:])
	if code != http.StatusOK || !strings.Contains(body, "kernel http://10.10.0.1:8080/images/2.0.0/vmlinuz ") || !strings.Contains(body, want) {
		t.Errorf("after activating 2.0.0, the script is (%d):\n%s\nwant it to contain %s", code, body, want)
	}
	code, rootfs := get("/images/2.0.0/rootfs.squashfs")
	if got := sha256.Sum256([]byte(rootfs)); code != http.StatusOK || got != sum {
		t.Errorf("GET the root filesystem the script names: %d, %d bytes of another content", code, len(rootfs))
	}

	corral("image", "rollback")
	if code, body = script(); code != http.StatusOK || !strings.Contains(body, "/images/1.0.0/vmlinuz ") {
		t.Errorf("after rollback, the script is (%d):\n%s", code, body)
	}
}
