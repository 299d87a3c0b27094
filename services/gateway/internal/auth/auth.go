// Package auth authenticates the gateway's callers: clients by API key
// (`name:key` pairs; the name is the caller's identity) and executors by a
// per-cluster bearer token. Keys and tokens are held only as SHA-256 hashes
// and compared in constant time; they are never logged.
//
// # Concurrency
//
// Keys is immutable after construction and safe for concurrent use.
package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"kubently.io/libs/contracts"
)

// Sentinel errors.
var (
	// ErrNoCredentials: the request carried no key or token.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrBadCredentials: the key or token is not valid.
	ErrBadCredentials = errors.New("auth: invalid credentials")
	// ErrBadKeyConfig: a configured key entry is malformed.
	ErrBadKeyConfig = errors.New("auth: malformed key entry")
)

// MinKeyLen is the shortest API key or executor token accepted in config.
const MinKeyLen = 16

type entry struct {
	name string
	hash [32]byte
}

// Keys is a set of client API keys.
type Keys struct {
	entries []entry
}

// ParseKeys reads `name:key` entries (as split by config.SplitList). Names
// are identities and must be valid ids; keys must be at least MinKeyLen long.
func ParseKeys(entries []string) (*Keys, error) {
	k := &Keys{}
	seen := map[string]bool{}
	for i, e := range entries {
		name, key, ok := strings.Cut(e, ":")
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		if !ok || name == "" || key == "" {
			return nil, fmt.Errorf("%w: entry %d: want name:key", ErrBadKeyConfig, i+1)
		}
		if err := contracts.ValidateID("key name", name); err != nil {
			return nil, fmt.Errorf("%w: entry %d: %w", ErrBadKeyConfig, i+1, err)
		}
		if len(key) < MinKeyLen {
			return nil, fmt.Errorf("%w: entry %d (%s): key shorter than %d characters", ErrBadKeyConfig, i+1, name, MinKeyLen)
		}
		if seen[name] {
			return nil, fmt.Errorf("%w: entry %d: duplicate name %q", ErrBadKeyConfig, i+1, name)
		}
		seen[name] = true
		k.entries = append(k.entries, entry{name: name, hash: sha256.Sum256([]byte(key))})
	}
	return k, nil
}

// Len returns the number of keys.
func (k *Keys) Len() int { return len(k.entries) }

// Identify returns the identity owning key. Every entry is compared, in
// constant time, whatever matches.
func (k *Keys) Identify(key string) (string, error) {
	if key == "" {
		return "", ErrNoCredentials
	}
	h := sha256.Sum256([]byte(key))
	found := ""
	for _, e := range k.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found = e.name
		}
	}
	if found == "" {
		return "", ErrBadCredentials
	}
	return found, nil
}

// HashToken returns the hex SHA-256 of an executor token, as stored in the
// cluster registry.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// TokenMatches compares a presented token with a stored hash in constant time.
func TokenMatches(token, storedHash string) bool {
	if token == "" || storedHash == "" {
		return false
	}
	got := HashToken(token)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}
