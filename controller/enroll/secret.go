package enroll

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// NewSecret returns 256 random bits, URL-safe base64.
func NewSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on Linux
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is what the controller stores of a secret.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// Matches compares a presented secret with a stored hash in constant time.
func Matches(hash, secret string) bool {
	if hash == "" || secret == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(hash), []byte(Hash(secret))) == 1
}

// NodeToken is a secret bound to a node: "<node id>.<secret>". The id tells
// the controller whose stored hash to compare with; the secret proves it.
func NodeToken(nodeID string) (token, hash string) {
	s := NewSecret()
	return nodeID + "." + s, Hash(s)
}

// SplitNodeToken returns the node id and the secret of a node token.
func SplitNodeToken(token string) (nodeID, secret string, ok bool) {
	i := strings.LastIndexByte(token, '.')
	if i <= 0 || i == len(token)-1 {
		return "", "", false
	}
	return token[:i], token[i+1:], true
}
