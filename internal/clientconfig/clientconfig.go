// Package clientconfig is the operator's client configuration: one versioned
// YAML document (apiVersion corral.io/v1alpha1, kind ClientConfig) that says
// where the controller's API is, which CA to trust and which admin token to
// send. The controller writes it at first start (<stateDir>/client.yaml,
// mode 0600); the corral CLI reads it.
//
//	apiVersion: corral.io/v1alpha1
//	kind: ClientConfig
//	server: https://10.10.0.1:8443
//	caPEM: |
//	  -----BEGIN CERTIFICATE-----
//	  ...
//	token: 3q2-...
package clientconfig

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	yaml "go.yaml.in/yaml/v3"

	"corral.io/corral/internal/atomicfile"
	"corral.io/corral/internal/fielderr"
)

// APIVersion and Kind identify the document.
const (
	APIVersion = "corral.io/v1alpha1"
	Kind       = "ClientConfig"
)

// EnvVar names the environment variable that points at a client
// configuration file.
const EnvVar = "CORRAL_CONFIG"

// SystemPath is where the controller writes the configuration with the
// default state directory.
const SystemPath = "/var/lib/corral/client.yaml"

// Config is the whole client configuration.
type Config struct {
	// APIVersion must be corral.io/v1alpha1.
	APIVersion string `yaml:"apiVersion"`
	// Kind must be ClientConfig.
	Kind string `yaml:"kind"`
	// Server is the controller's API, https://host:port.
	Server string `yaml:"server"`
	// CAPEM is the controller's CA certificate in PEM. Give this or CAFile.
	CAPEM string `yaml:"caPEM,omitempty"`
	// CAFile is a file holding the CA certificate in PEM; a relative path is
	// relative to the configuration file's directory. Give this or CAPEM.
	CAFile string `yaml:"caFile,omitempty"`
	// Token is the admin token, sent as "Authorization: Bearer <token>".
	Token string `yaml:"token"`
}

// New returns a complete configuration.
func New(server string, caPEM []byte, token string) *Config {
	return &Config{APIVersion: APIVersion, Kind: Kind, Server: server, CAPEM: string(caPEM), Token: token}
}

// FieldError is a configuration value that is wrong.
type FieldError = fielderr.Error

// Validate checks every field and returns all problems at once. It does not
// read CAFile.
func (c *Config) Validate() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fielderr.New(field, format, args...))
	}
	if c.APIVersion != APIVersion {
		bad("apiVersion", "is %q, must be %q", c.APIVersion, APIVersion)
	}
	if c.Kind != Kind {
		bad("kind", "is %q, must be %q", c.Kind, Kind)
	}
	if u, err := url.Parse(c.Server); c.Server == "" || err != nil || u.Scheme != "https" || u.Host == "" {
		bad("server", "is %q, must be the controller's API URL, https://host:port", c.Server)
	}
	switch {
	case c.CAPEM != "" && c.CAFile != "":
		bad("caPEM", "and caFile are both set: keep one")
	case c.CAPEM == "" && c.CAFile == "":
		bad("caPEM", "is required (or caFile): the controller's CA certificate in PEM")
	case c.CAPEM != "":
		if err := checkPEM([]byte(c.CAPEM)); err != nil {
			bad("caPEM", "%v", err)
		}
	}
	if c.Token == "" {
		bad("token", "is required: the admin token the controller generated")
	}
	return errors.Join(errs...)
}

func checkPEM(data []byte) error {
	b, _ := pem.Decode(data)
	if b == nil || b.Type != "CERTIFICATE" {
		return errors.New("holds no PEM certificate (want -----BEGIN CERTIFICATE-----)")
	}
	if _, err := x509.ParseCertificate(b.Bytes); err != nil {
		return fmt.Errorf("holds a certificate that does not parse: %w", err)
	}
	return nil
}

// Decode strictly decodes one document (an unknown field is an error, with
// its line) and validates it.
func Decode(r io.Reader) (*Config, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return nil, err
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var c Config
	if err := dec.Decode(&c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty document")
		}
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Load reads and validates a configuration file, and reads CAFile (relative
// to the file's directory) into CAPEM.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrPermission) {
		return nil, fmt.Errorf("read client config: %w (it holds the admin token and is readable by its owner only: run as that user, e.g. with sudo, or copy it to ~/.config/corral/client.yaml)", err)
	}
	if err != nil {
		return nil, fmt.Errorf("read client config: %w", err)
	}
	defer f.Close()
	c, err := Decode(f)
	if err != nil {
		return nil, fmt.Errorf("client config %s: %w", path, err)
	}
	if c.CAFile != "" {
		ca := c.CAFile
		if !filepath.IsAbs(ca) {
			ca = filepath.Join(filepath.Dir(path), ca)
		}
		data, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("client config %s: caFile: %w", path, err)
		}
		if err := checkPEM(data); err != nil {
			return nil, fmt.Errorf("client config %s: caFile %s %w", path, ca, err)
		}
		c.CAPEM = string(data)
	}
	return c, nil
}

// Encode writes c as YAML.
func (c *Config) Encode(w io.Writer) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return err
	}
	return enc.Close()
}

// Write validates c and writes it to path with mode 0600 (it holds the admin
// token), atomically: a reader sees the old file or the new one, never part.
// The directory must exist.
func Write(path string, c *Config) error {
	if err := c.Validate(); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	var buf bytes.Buffer
	if err := c.Encode(&buf); err != nil {
		return fmt.Errorf("client config: %w", err)
	}
	if err := atomicfile.Write(path, buf.Bytes(), 0o600); err != nil {
		return fmt.Errorf("write client config: %w", err)
	}
	return nil
}

// Locations are the places Find looks, in order.
type Locations struct {
	// Flag is the --client-config value, if given.
	Flag string
	// Env is the CORRAL_CONFIG value, if set.
	Env string
	// Home is the user's home directory; empty to skip
	// $HOME/.config/corral/client.yaml.
	Home string
	// System is the controller's default path, normally SystemPath.
	System string
}

// DefaultLocations reads the flag value given, CORRAL_CONFIG and $HOME.
func DefaultLocations(flag string) Locations {
	home, _ := os.UserHomeDir()
	return Locations{Flag: flag, Env: os.Getenv(EnvVar), Home: home, System: SystemPath}
}

// NotFoundError says that no configuration file was found, and where Find
// looked.
type NotFoundError struct {
	// Tried are the paths looked at, each with why it was not used
	// ("/var/lib/corral/client.yaml (permission denied)").
	Tried []string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no client configuration found (looked at %s); `corral controller` writes one to <stateDir>/client.yaml at its first start: run as root on the controller, or copy it to ~/.config/corral/client.yaml, or point --client-config or %s at it",
		strings.Join(e.Tried, ", "), EnvVar)
}

// Find returns the configuration file to use: the flag, else the
// environment variable, else the system path, else the user's. A file named
// by the flag or the variable must exist; it is not skipped.
func Find(l Locations) (string, error) {
	switch {
	case l.Flag != "":
		return l.Flag, mustExist(l.Flag, "--client-config")
	case l.Env != "":
		return l.Env, mustExist(l.Env, EnvVar)
	}
	var tried []string
	for _, p := range []string{l.System, userPath(l.Home)} {
		if p == "" {
			continue
		}
		// Open, not Stat: the controller's file is root's, mode 0600, and
		// an operator who cannot read it may have a copy of their own.
		f, err := os.Open(p)
		switch {
		case err == nil:
			f.Close()
			return p, nil
		case errors.Is(err, fs.ErrNotExist):
			tried = append(tried, p)
		case errors.Is(err, fs.ErrPermission):
			// The controller's copy is root's; a user may have their own.
			tried = append(tried, p+" (permission denied)")
		default:
			return "", fmt.Errorf("client config %s: %w", p, err)
		}
	}
	return "", &NotFoundError{Tried: tried}
}

func userPath(home string) string {
	if home == "" {
		return ""
	}
	return filepath.Join(home, ".config", "corral", "client.yaml")
}

func mustExist(path, from string) error {
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("client config %s (from %s): %w", path, from, err)
	}
	return nil
}
