// Package kubetest runs a real Kubernetes API server for tests, like
// controller-runtime's envtest: etcd (Debian's etcd-server) and a
// kube-apiserver built from k8s.io/kubernetes by hack/kube/build.sh
// (`make kube-binaries`), on free loopback ports, with a certificate
// authority of its own, client-certificate authentication,
// --authorization-mode=Node,RBAC and the NodeRestriction admission plugin, so
// that what a kubelet or the controller may do is what a real cluster allows.
//
// A test calls New(t) (skipped under -short); everything is stopped and removed in t.Cleanup, even
// when the test fails. Programs (benchmarks) call Start and Env.Stop.
package kubetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// Version is the Kubernetes version hack/kube/build.sh builds; it is the
// minor version of the pinned k3s.
const Version = "v1.31.6"

// BinDirEnv overrides where kube-apiserver is looked for.
const BinDirEnv = "CORRAL_KUBE_BIN_DIR"

// ErrMissingBinaries is returned by Start when etcd or kube-apiserver is not
// installed; New turns it into a one-line skip.
var ErrMissingBinaries = errors.New("kube-apiserver or etcd missing: run `make kube-binaries` (needs Debian's etcd-server: make setup)")

// Options adjust Start.
type Options struct {
	// Log receives the output of etcd and kube-apiserver; nil keeps it only
	// in files under the environment's directory (shown on start failure).
	Log io.Writer
	// ExtraAPIServerArgs are appended to kube-apiserver's arguments.
	ExtraAPIServerArgs []string
}

// Env is a running etcd + kube-apiserver.
type Env struct {
	// Config is an administrator's client configuration (CN=kubetest-admin,
	// O=system:masters).
	Config *rest.Config
	// Host is the API server's URL.
	Host string
	// Dir holds the certificates, etcd's data and the logs.
	Dir string

	ca    *authority
	procs []*process
	once  sync.Once
	owned bool // Dir was created by Start and is removed by Stop
}

type process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	log  string
}

// New starts an environment for one test and stops it in t.Cleanup. It skips
// the test with one line when the binaries are missing.
func New(t testing.TB) *Env {
	t.Helper()
	SkipIfShort(t)
	e, err := Start(Options{Log: nil})
	if errors.Is(err, ErrMissingBinaries) {
		t.Skip(err.Error())
	}
	if err != nil {
		t.Fatalf("start Kubernetes API server: %v", err)
	}
	t.Cleanup(e.Stop)
	return e
}

// SkipIfShort skips the test under -short (make test-unit): a real API
// server takes seconds to start.
func SkipIfShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real kube-apiserver and etcd: not in -short mode")
	}
}

// BinDir is where kube-apiserver is expected: $CORRAL_KUBE_BIN_DIR, else
// .cache/kube/<Version> in the repository (found by walking up from the
// working directory to hack/kube/build.sh).
func BinDir() string {
	if d := os.Getenv(BinDirEnv); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "hack", "kube", "build.sh")); err == nil {
			return filepath.Join(dir, ".cache", "kube", Version)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// binaries returns the paths of etcd and kube-apiserver.
func binaries() (etcd, apiserver string, err error) {
	apiserver = filepath.Join(BinDir(), "kube-apiserver")
	if _, err := os.Stat(apiserver); err != nil {
		return "", "", fmt.Errorf("%w (no %s)", ErrMissingBinaries, apiserver)
	}
	etcd, err = exec.LookPath("etcd")
	if err != nil {
		return "", "", fmt.Errorf("%w (no etcd in PATH)", ErrMissingBinaries)
	}
	return etcd, apiserver, nil
}

// Start runs etcd and kube-apiserver and waits until the API server's
// /readyz answers ok (RBAC bootstrap roles included). On error nothing is
// left running.
func Start(opts Options) (e *Env, err error) {
	etcdBin, apiBin, err := binaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "kubetest-")
	if err != nil {
		return nil, err
	}
	e = &Env{Dir: dir, owned: true}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	if e.ca, err = newAuthority(); err != nil {
		return nil, err
	}
	serving, servingKey, err := e.ca.issue("kube-apiserver", nil, true,
		[]net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 0, 1)},
		[]string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"})
	if err != nil {
		return nil, err
	}
	if err := writeFiles(dir, map[string][]byte{"ca.crt": e.ca.certPEM, "apiserver.crt": serving, "apiserver.key": servingKey}); err != nil {
		return nil, err
	}
	if err := serviceAccountKey(filepath.Join(dir, "sa.key")); err != nil {
		return nil, err
	}
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	etcdURL := "http://127.0.0.1:" + strconv.Itoa(ports[0])
	peerURL := "http://127.0.0.1:" + strconv.Itoa(ports[1])
	etcd, err := e.run(opts.Log, "etcd", etcdBin,
		"--name=kubetest",
		"--data-dir="+filepath.Join(dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=kubetest="+peerURL,
		"--quota-backend-bytes=4294967296",
	)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(etcd, http.DefaultClient, etcdURL+"/health", 30*time.Second); err != nil {
		return nil, err
	}
	f := func(name string) string { return filepath.Join(dir, name) }
	args := []string{
		"--etcd-servers=" + etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(ports[2]),
		"--tls-cert-file=" + f("apiserver.crt"), "--tls-private-key-file=" + f("apiserver.key"),
		"--client-ca-file=" + f("ca.crt"),
		"--service-account-key-file=" + f("sa.key"),
		"--service-account-signing-key-file=" + f("sa.key"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--allow-privileged=true",
		"--anonymous-auth=false",
		// Room for benchmarks that write many objects quickly.
		"--max-requests-inflight=1000", "--max-mutating-requests-inflight=500",
		"--v=1",
	}
	args = append(args, opts.ExtraAPIServerArgs...)
	api, err := e.run(opts.Log, "kube-apiserver", apiBin, args...)
	if err != nil {
		return nil, err
	}
	e.Host = "https://127.0.0.1:" + strconv.Itoa(ports[2])
	admin, err := e.UserConfig("kubetest-admin", "system:masters")
	if err != nil {
		return nil, err
	}
	e.Config = admin
	hc, err := rest.HTTPClientFor(admin)
	if err != nil {
		return nil, err
	}
	if err := waitHTTP(api, hc, e.Host+"/readyz", 90*time.Second); err != nil {
		return nil, err
	}
	return e, nil
}

// UserConfig is a client configuration authenticated by a client
// certificate that the API server reads as this user in these groups.
func (e *Env) UserConfig(user string, groups ...string) (*rest.Config, error) {
	cert, key, err := e.ca.issue(user, groups, false, nil, nil)
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: e.Host,
		TLSClientConfig: rest.TLSClientConfig{
			CAData: e.ca.certPEM, CertData: cert, KeyData: key,
		},
		// Tests and benchmarks measure the server, not client throttling.
		QPS: 1000, Burst: 2000,
	}, nil
}

// KubeletConfig is the credential a kubelet on node name uses
// (CN=system:node:<name>, O=system:nodes): the Node authorizer and the
// NodeRestriction admission plugin limit it to its own Node.
func (e *Env) KubeletConfig(name string) (*rest.Config, error) {
	return e.UserConfig("system:node:"+name, "system:nodes")
}

// CAData is the PEM of the authority the API server's serving certificate
// chains to.
func (e *Env) CAData() []byte { return e.ca.certPEM }

// Stop ends kube-apiserver, then etcd (SIGTERM, SIGKILL after 10 s), and
// removes the directory. It is safe to call more than once.
func (e *Env) Stop() {
	e.once.Do(func() {
		for i := len(e.procs) - 1; i >= 0; i-- {
			e.procs[i].stop()
		}
		if e.owned {
			os.RemoveAll(e.Dir)
		}
	})
}

func (e *Env) run(logw io.Writer, name, bin string, args ...string) (*process, error) {
	logPath := filepath.Join(e.Dir, name+".log")
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	var out io.Writer = lf
	if logw != nil {
		out = io.MultiWriter(lf, logw)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, and killed if this process dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{name: name, cmd: cmd, done: make(chan struct{}), log: logPath}
	go func() {
		p.err = cmd.Wait()
		lf.Close()
		close(p.done)
	}()
	e.procs = append(e.procs, p)
	return p, nil
}

func (p *process) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
}

// tail is the end of the process's log, for error messages.
func (p *process) tail() string {
	b, _ := os.ReadFile(p.log)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(bytes.TrimSpace(b))
}

// waitHTTP polls url until it answers 200, the process exits, or the
// timeout passes.
func waitHTTP(p *process, c *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := c.Do(req)
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%s: %s", resp.Status, strings.TrimSpace(string(body)))
		} else {
			last = err.Error()
		}
		select {
		case <-p.done:
			return fmt.Errorf("%s exited (%v) before %s answered; its log:\n%s", p.name, p.err, url, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %s (%s); its log:\n%s", p.name, timeout, last, p.tail())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// freePorts finds n distinct free TCP ports on the loopback address.
func freePorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
