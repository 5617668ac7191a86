package controller

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"corral.io/corral/api/v1alpha1"
	"corral.io/corral/controller/config"
	"corral.io/corral/controller/enroll"
	"corral.io/corral/controller/server"
	"corral.io/corral/internal/atomicfile"
	"corral.io/corral/internal/clientconfig"
)

// ClientConfigFile is the operator's client configuration the controller
// writes at first start, under the state directory.
const ClientConfigFile = "client.yaml"

// apiService serves the HTTPS API on a bound listener.
type apiService struct {
	api  *server.API
	ln   net.Listener
	cert *enroll.CA
}

func (s apiService) Run(ctx context.Context) error { return s.api.Serve(ctx, s.ln, s.cert.Serving) }

// addAPI loads (or creates) the CA and the admin token, and binds the HTTPS
// API over the stores, the profiles and the k3s join data (nil without k3s).
func (d *Daemon) addAPI(cfg *config.Controller, advertise netip.Addr, st stores, ps *profileSet, join func() *v1alpha1.K3sJoin) (*enroll.CA, string, error) {
	host, _ := os.Hostname()
	ca, err := enroll.LoadOrCreateCA(filepath.Join(cfg.StateDir, "pki"), []string{advertise.String(), host, "localhost", "127.0.0.1"}, time.Now())
	if err != nil {
		return nil, "", fmt.Errorf("controller CA: %w", err)
	}
	_, port, _ := net.SplitHostPort(cfg.API.Listen) // validated
	apiURL := "https://" + net.JoinHostPort(advertise.String(), port)
	adminHash, err := d.adminToken(cfg.StateDir, apiURL, ca)
	if err != nil {
		return nil, "", err
	}
	policy := enroll.Policy{Mode: cfg.Enrollment.Policy}
	for _, p := range cfg.Enrollment.Allowlist {
		policy.Allowlist = append(policy.Allowlist, enroll.Pattern{MAC: p.MAC, Serial: p.Serial, UUID: p.UUID})
	}
	if err := policy.Validate(); err != nil {
		return nil, "", fmt.Errorf("enrollment: %w", err)
	}
	api := server.New(server.Options{
		Registry: st.nodes, BootLogs: st.logs, Policy: policy, Profiles: ps, AdminHash: adminHash,
		Heartbeat: cfg.Enrollment.Heartbeat.Duration, LostAfter: cfg.Enrollment.LostAfter.Duration,
		Logger: d.log.With("svc", "api"), Registerer: d.Registry, K3sJoin: join,
		KubeReadiness: cfg.Kube.Enabled(), // addKube tells the registry RequireKubeReady
	})
	ln, err := net.Listen("tcp", cfg.API.Listen)
	if err != nil {
		return nil, "", fmt.Errorf("api.listen: %w", err)
	}
	d.closers = append(d.closers, func() error {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			return err
		}
		return nil
	})
	d.services = append(d.services,
		namedService{"api", apiService{api: api, ln: ln, cert: ca}},
		namedService{"lost-sweeper", api.Sweeper()})
	d.log.Info("enrollment", "policy", policy.Mode, "api", apiURL, "ca_fingerprint", ca.Fingerprint)
	return ca, apiURL, nil
}

// adminToken returns the hash of the operators' token, creating the token at
// first start and writing it, with the API URL and the CA, into the client
// configuration (mode 0600) that `corral nodes …` reads.
func (d *Daemon) adminToken(stateDir, apiURL string, ca *enroll.CA) (string, error) {
	hashFile := filepath.Join(stateDir, "admin-token.sha256")
	if b, err := os.ReadFile(hashFile); err == nil {
		return strings.TrimSpace(string(b)), nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("read admin token hash: %w", err)
	}
	token := enroll.NewSecret()
	path := filepath.Join(stateDir, ClientConfigFile)
	if err := clientconfig.Write(path, clientconfig.New(apiURL, ca.PEM, token)); err != nil {
		return "", err
	}
	hash := enroll.Hash(token)
	if err := atomicfile.Write(hashFile, []byte(hash+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("write admin token hash: %w", err)
	}
	d.log.Info("wrote the operator's client configuration", "file", path)
	return hash, nil
}
