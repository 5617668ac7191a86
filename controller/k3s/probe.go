package k3s

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// probeTimeout bounds one readiness request.
const probeTimeout = 5 * time.Second

// kubeconfig is the part of a kubeconfig the probe reads: the first
// cluster and user, with embedded certificates (what k3s writes).
type kubeconfig struct {
	Clusters []struct {
		Cluster struct {
			Server string `yaml:"server"`
			CAData string `yaml:"certificate-authority-data"`
		} `yaml:"cluster"`
	} `yaml:"clusters"`
	Users []struct {
		User struct {
			CertData string `yaml:"client-certificate-data"`
			KeyData  string `yaml:"client-key-data"`
		} `yaml:"user"`
	} `yaml:"users"`
}

// ReadyzProbe returns a readiness probe: GET <server>/readyz with the
// admin credential of the kubeconfig k3s writes (k3s turns off anonymous
// requests, so /readyz needs one), ready on 200 "ok". Until k3s has
// written the kubeconfig the probe says so.
func ReadyzProbe(kubeconfigPath string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		server, client, err := clientFrom(kubeconfigPath)
		if err != nil {
			return err
		}
		defer client.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(ctx, probeTimeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(server, "/")+"/readyz", nil)
		if err != nil {
			return fmt.Errorf("readyz: %w", err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("readyz: %w", err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
			return fmt.Errorf("readyz: %s: %s", resp.Status, firstLine(string(body)))
		}
		return nil
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

func clientFrom(path string) (string, *http.Client, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", nil, fmt.Errorf("k3s has not written its kubeconfig yet: %w", err)
	}
	var kc kubeconfig
	if err := yaml.Unmarshal(b, &kc); err != nil {
		return "", nil, fmt.Errorf("kubeconfig %s: %w", path, err)
	}
	if len(kc.Clusters) == 0 || len(kc.Users) == 0 || kc.Clusters[0].Cluster.Server == "" {
		return "", nil, fmt.Errorf("kubeconfig %s: no cluster or user", path)
	}
	decode := func(what, s string) ([]byte, error) {
		d, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(d) == 0 {
			return nil, fmt.Errorf("kubeconfig %s: %s is not base64 data", path, what)
		}
		return d, nil
	}
	ca, err := decode("certificate-authority-data", kc.Clusters[0].Cluster.CAData)
	if err != nil {
		return "", nil, err
	}
	certPEM, err := decode("client-certificate-data", kc.Users[0].User.CertData)
	if err != nil {
		return "", nil, err
	}
	keyPEM, err := decode("client-key-data", kc.Users[0].User.KeyData)
	if err != nil {
		return "", nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return "", nil, fmt.Errorf("kubeconfig %s: no CA certificate in certificate-authority-data", path)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return "", nil, fmt.Errorf("kubeconfig %s: client certificate: %w", path, err)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}}
	return kc.Clusters[0].Cluster.Server, &http.Client{Transport: tr, Timeout: probeTimeout}, nil
}
