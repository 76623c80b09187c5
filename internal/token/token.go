// Package token makes and checks bearer tokens: random from crypto/rand,
// kept only as SHA-256 hashes, compared in constant time.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
)

// New returns a random token with 192 bits of entropy, URL-safe.
func New() string {
	b := make([]byte, 24)
	// crypto/rand.Read never fails on supported platforms (Go 1.24+).
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Hash is the at-rest form of a token.
type Hash [sha256.Size]byte

// HashOf hashes a token.
func HashOf(tok string) Hash { return sha256.Sum256([]byte(tok)) }

// Matches reports in constant time whether tok hashes to h. Hashing first
// makes the comparison independent of the token's length too.
func (h Hash) Matches(tok string) bool {
	got := sha256.Sum256([]byte(tok))
	return subtle.ConstantTimeCompare(got[:], h[:]) == 1
}

// String is the hex form, for storage.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// ParseHash reads the hex form.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("token hash %q is not %d hex bytes", s, len(h))
	}
	copy(h[:], b)
	return h, nil
}

// FromHeader extracts the token from an "Authorization: Bearer T" value.
func FromHeader(v string) (string, bool) {
	const prefix = "bearer "
	if len(v) <= len(prefix) || !strings.EqualFold(v[:len(prefix)], prefix) {
		return "", false
	}
	return strings.TrimSpace(v[len(prefix):]), true
}
