package k3s

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/internal/atomicfile"
	"corral.io/corral/internal/supervise"
)

// Files under the k3s state directory.
const (
	// ConfigFile is the generated server configuration.
	ConfigFile = "config.yaml"
	// KubeconfigFile is the admin kubeconfig k3s writes (0600): the
	// controller's own reconciler reads it.
	KubeconfigFile = "kubeconfig.yaml"
)

// Options configure the k3s server.
type Options struct {
	// Binary is the k3s executable.
	Binary string
	// Dir is the k3s state directory, <stateDir>/k3s: tokens, the
	// generated configuration, the kubeconfig.
	Dir string
	// DataDir is k3s' data-dir; default <Dir>/data.
	DataDir string
	// Advertise is the controller's address on the provisioning network.
	Advertise netip.Addr
	// Interface is the provisioning interface (flannel-iface).
	Interface string
	// Names are extra names and addresses for the API certificate; the
	// host name is added.
	Names []string
	// Port is the API port; default 6443.
	Port int
	// Disable lists packaged components not to run; nil means
	// DefaultDisable, empty disables nothing.
	Disable []string
	// ExtraArgs are appended to `k3s server --config <file>`.
	ExtraArgs []string
	// Logger receives k3s' lines and the supervisor's records.
	Logger *slog.Logger
	// Supervise adjusts the supervisor (tests); Name, Path, Args, Logger
	// and Ready are set here.
	Supervise supervise.Options
}

// Server is a prepared k3s server: tokens and configuration written.
type Server struct {
	o      Options
	tokens Tokens
	sup    *supervise.Supervisor
	url    string
}

// New prepares the server: creates Dir (0700), the tokens (once) and the
// configuration file (0600, at every start). Nothing runs until Run.
func New(o Options) (*Server, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.DataDir == "" {
		o.DataDir = filepath.Join(o.Dir, "data")
	}
	if o.Port == 0 {
		o.Port = DefaultHTTPSPort
	}
	if o.Disable == nil {
		o.Disable = DefaultDisable
	}
	if fi, err := os.Stat(o.Binary); err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("k3s.binary %q is not an executable file: install k3s %s there, or remove k3s.binary to run the controller without a cluster", o.Binary, "v1.31.6+k3s1")
	}
	tokens, err := LoadOrCreateTokens(o.Dir)
	if err != nil {
		return nil, err
	}
	names := o.Names
	if host, err := os.Hostname(); err == nil {
		names = append([]string{host}, names...)
	}
	cfg, err := NewServerConfig(Params{
		Token: tokens.Server, AgentToken: tokens.Agent,
		DataDir: o.DataDir, Kubeconfig: filepath.Join(o.Dir, KubeconfigFile),
		Port: o.Port, Advertise: o.Advertise, Interface: o.Interface,
		Names: names, Disable: o.Disable,
	})
	if err != nil {
		return nil, err
	}
	b, err := cfg.Marshal()
	if err != nil {
		return nil, err
	}
	if err := atomicfile.Write(filepath.Join(o.Dir, ConfigFile), b, 0o600); err != nil {
		return nil, fmt.Errorf("k3s server configuration: %w", err)
	}
	so := o.Supervise
	so.Name = "k3s-server"
	so.Path = o.Binary
	so.Args = append([]string{"server", "--config", filepath.Join(o.Dir, ConfigFile)}, o.ExtraArgs...)
	so.Logger = o.Logger
	if so.Ready == nil {
		so.Ready = ReadyzProbe(filepath.Join(o.Dir, KubeconfigFile))
	}
	return &Server{
		o: o, tokens: tokens, sup: supervise.New(so),
		url: "https://" + net.JoinHostPort(o.Advertise.String(), strconv.Itoa(o.Port)),
	}, nil
}

// Run supervises `k3s server` until ctx is done.
func (s *Server) Run(ctx context.Context) error {
	s.o.Logger.Info("starting k3s server", "binary", s.o.Binary, "config", filepath.Join(s.o.Dir, ConfigFile), "data_dir", s.o.DataDir, "url", s.url)
	return s.sup.Run(ctx)
}

// Ready reports whether the API server answers /readyz.
func (s *Server) Ready() bool { return s.sup.Ready() }

// WaitReady returns once the API server is ready, or ctx's error.
func (s *Server) WaitReady(ctx context.Context) error { return s.sup.WaitReady(ctx) }

// Kubeconfig is the admin kubeconfig k3s writes once it is up.
func (s *Server) Kubeconfig() string { return filepath.Join(s.o.Dir, KubeconfigFile) }

// URL is the server URL agents join, https://<advertise>:<port>.
func (s *Server) URL() string { return s.url }

// Join is the join data for an approved node (server.Options.K3sJoin).
func (s *Server) Join() *v1alpha1.K3sJoin {
	return &v1alpha1.K3sJoin{ServerURL: s.url, Token: JoinToken(s.o.DataDir, s.tokens.Agent)}
}
