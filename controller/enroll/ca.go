// Package enroll decides who may join and proves who is who: the
// controller's own certificate authority (created at first start), the
// secrets nodes and operators authenticate with (stored only as hashes), and
// the enrollment policy (auto, manual, allowlist).
package enroll

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"corral.io/corral/internal/atomicfile"
)

// CA is the controller's certificate authority and the API's serving
// certificate, kept in a directory (<stateDir>/pki).
type CA struct {
	// Cert is the CA certificate; PEM its encoding.
	Cert *x509.Certificate
	PEM  []byte
	// Fingerprint is the hex SHA-256 of the CA certificate's DER: what the
	// iPXE script puts on a node's kernel command line (corral.ca=).
	Fingerprint string
	// Serving is the API's certificate chain (leaf, then the CA, so a node
	// pinning the fingerprint finds it in the handshake).
	Serving tls.Certificate
}

// LoadOrCreateCA loads the CA from dir, creating it at first start, and
// (re)issues the serving certificate when its names changed. The CA key never
// leaves dir (mode 0600).
func LoadOrCreateCA(dir string, hosts []string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create PKI directory: %w", err)
	}
	caKey, caCert, err := loadPair(dir, "ca")
	if errors.Is(err, fs.ErrNotExist) {
		caKey, caCert, err = createCA(dir, now)
	}
	if err != nil {
		return nil, err
	}
	key, cert, err := loadPair(dir, "api")
	if err != nil || !sameHosts(cert, hosts) || now.After(cert.NotAfter.Add(-30*24*time.Hour)) || cert.CheckSignatureFrom(caCert) != nil {
		key, cert, err = issueServing(dir, caKey, caCert, hosts, now)
		if err != nil {
			return nil, err
		}
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caCert.Raw})
	sum := sha256.Sum256(caCert.Raw)
	return &CA{
		Cert:        caCert,
		PEM:         caPEM,
		Fingerprint: hex.EncodeToString(sum[:]),
		Serving:     tls.Certificate{Certificate: [][]byte{cert.Raw, caCert.Raw}, PrivateKey: key, Leaf: cert},
	}, nil
}

func createCA(dir string, now time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Corral controller CA", Organization: []string{"Corral"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CA: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert, savePair(dir, "ca", key, der)
}

func issueServing(dir string, caKey *ecdsa.PrivateKey, ca *x509.Certificate, hosts []string, now time.Time) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "corral-controller"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("issue API certificate: %w", err)
	}
	cert, _ := x509.ParseCertificate(der)
	return key, cert, savePair(dir, "api", key, der)
}

func sameHosts(c *x509.Certificate, hosts []string) bool {
	var have []string
	have = append(have, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		have = append(have, ip.String())
	}
	want := slices.Clone(hosts)
	for i, h := range want {
		if ip := net.ParseIP(h); ip != nil {
			want[i] = ip.String()
		}
	}
	slices.Sort(have)
	slices.Sort(want)
	return slices.Equal(slices.Compact(have), slices.Compact(want))
}

func loadPair(dir, name string) (*ecdsa.PrivateKey, *x509.Certificate, error) {
	keyPEM, err := os.ReadFile(filepath.Join(dir, name+".key"))
	if err != nil {
		return nil, nil, err
	}
	certPEM, err := os.ReadFile(filepath.Join(dir, name+".crt"))
	if err != nil {
		return nil, nil, err
	}
	kb, _ := pem.Decode(keyPEM)
	cb, _ := pem.Decode(certPEM)
	if kb == nil || cb == nil {
		return nil, nil, fmt.Errorf("%s/%s.{key,crt}: not PEM", dir, name)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s/%s.key: %w", dir, name, err)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, nil, fmt.Errorf("%s/%s.crt: %w", dir, name, err)
	}
	return key, cert, nil
}

// savePair writes key and certificate atomically (temp file, fsync, rename).
func savePair(dir, name string, key *ecdsa.PrivateKey, der []byte) error {
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(filepath.Join(dir, name+".key"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return err
	}
	return atomicfile.Write(filepath.Join(dir, name+".crt"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}
