package k3s

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"corral.io/corral/internal/atomicfile"
)

// Token files under the k3s state directory (<stateDir>/k3s).
const (
	// TokenFile holds the server token: it lets a machine join as another
	// server and read the cluster's datastore. It never leaves the
	// controller.
	TokenFile = "token"
	// AgentTokenFile holds the agent token approved nodes receive: it lets
	// a machine join as a node only.
	AgentTokenFile = "agent-token"
)

// tokenBytes is the entropy of a token: 256 bits.
const tokenBytes = 32

// Tokens are the cluster's two secrets.
type Tokens struct {
	Server, Agent string
}

// LoadOrCreateTokens reads the tokens from dir, creating (0600) those that
// do not exist yet: they are generated once and kept, since k3s refuses to
// start on a data-dir bootstrapped with another token.
func LoadOrCreateTokens(dir string) (Tokens, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return Tokens{}, fmt.Errorf("create the k3s state directory: %w", err)
	}
	// MkdirAll leaves the mode of a directory that exists alone: one
	// made by hand, or by an older controller, may be readable by others.
	if err := os.Chmod(dir, 0o700); err != nil {
		return Tokens{}, fmt.Errorf("make the k3s state directory %s 0700: %w", dir, err)
	}
	var t Tokens
	var err error
	if t.Server, err = loadOrCreate(filepath.Join(dir, TokenFile)); err != nil {
		return Tokens{}, err
	}
	if t.Agent, err = loadOrCreate(filepath.Join(dir, AgentTokenFile)); err != nil {
		return Tokens{}, err
	}
	if t.Server == t.Agent {
		return Tokens{}, fmt.Errorf("%s and %s in %s hold the same token: remove %s to have a new agent token made (nodes must then rejoin)", TokenFile, AgentTokenFile, dir, AgentTokenFile)
	}
	return t, nil
}

func loadOrCreate(path string) (string, error) {
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		tok := strings.TrimSpace(string(b))
		if err := checkToken(tok); err != nil {
			return "", fmt.Errorf("%s: %w (remove it to have a new one made; a new token means a new cluster: also remove the k3s data-dir)", path, err)
		}
		if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(path, 0o600); err != nil {
				return "", fmt.Errorf("%s is readable by others and cannot be made 0600: %w", path, err)
			}
		}
		return tok, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("read k3s token: %w", err)
	}
	raw := make([]byte, tokenBytes)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("generate a k3s token: %w", err)
	}
	tok := hex.EncodeToString(raw)
	if err := atomicfile.Write(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("store the k3s token: %w", err)
	}
	return tok, nil
}

// checkToken refuses what k3s cannot take as a token: k3s splits the K10
// form on "::" and ":" (docs/cli/token.md), so a bare token of ours has none.
func checkToken(tok string) error {
	if len(tok) < 32 {
		return fmt.Errorf("token is %d characters, want at least 32", len(tok))
	}
	for _, c := range []byte(tok) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return errors.New("token has characters other than letters and digits")
		}
	}
	return nil
}

// JoinToken is the token an agent is given: once k3s has written the full
// agent token (<dataDir>/server/agent-token, "K10<sha256 of the cluster
// CA>::node:<agent token>"), that form, with which the agent checks the
// server's CA before sending the secret; before that, the bare agent token.
func JoinToken(dataDir, agentToken string) string {
	b, err := os.ReadFile(filepath.Join(dataDir, "server", "agent-token"))
	if err != nil {
		return agentToken
	}
	full := strings.TrimSpace(string(b))
	if strings.HasPrefix(full, "K10") && strings.HasSuffix(full, ":"+agentToken) && !strings.ContainsAny(full, " \n") {
		return full
	}
	return agentToken
}
