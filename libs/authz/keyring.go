package authz

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"kubently.io/libs/contracts"
)

const (
	// MinKeyLen is the shortest plaintext API key accepted in config.
	MinKeyLen = 16
	// MaxKeyLen is the longest key Lookup will hash; longer keys miss at once.
	MaxKeyLen = 4096
)

// HashKey returns the SHA-256 of an API key as lower-case hex, the form
// the key file's sha256 field holds (`printf %s "$KEY" | sha256sum`).
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// KeyEntry is one API key as held in memory: an identity and the SHA-256
// of its key. The plaintext key is never kept.
type KeyEntry struct {
	// Identity is what Lookup returns for the key. Its Source must be
	// SourceAPIKey or SourceEnv.
	Identity Identity
	// Hash is the SHA-256 of the key.
	Hash [sha256.Size]byte
}

// Keyring is an immutable set of API keys indexed by hash. The zero value
// and nil are empty keyrings. Safe for concurrent use.
type Keyring struct {
	byHash map[[sha256.Size]byte]int
	// entries is indexed by byHash values and sorted by name.
	entries []KeyEntry
}

// NewKeyring validates entries and builds a keyring. Duplicate names or
// hashes, invalid identities and identities from OIDC are errors.
func NewKeyring(entries []KeyEntry) (*Keyring, error) {
	k := &Keyring{byHash: make(map[[sha256.Size]byte]int, len(entries))}
	names := make(map[string]bool, len(entries))
	sorted := slices.Clone(entries)
	slices.SortStableFunc(sorted, func(a, b KeyEntry) int { return strings.Compare(a.Identity.Name, b.Identity.Name) })
	for _, e := range sorted {
		if e.Identity.Source == SourceOIDC {
			return nil, fmt.Errorf("%w: key %q: source oidc is not a key source", ErrKeyConfig, e.Identity.Name)
		}
		if err := e.Identity.Validate(); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrKeyConfig, err)
		}
		if names[e.Identity.Name] {
			return nil, fmt.Errorf("%w: name %q used twice", ErrDuplicateKey, e.Identity.Name)
		}
		if _, dup := k.byHash[e.Hash]; dup {
			// Name the second holder only: the hash identifies the key.
			return nil, fmt.Errorf("%w: key %q has the same key as another entry", ErrDuplicateKey, e.Identity.Name)
		}
		names[e.Identity.Name] = true
		k.byHash[e.Hash] = len(k.entries)
		k.entries = append(k.entries, e)
	}
	return k, nil
}

// Merge returns a keyring holding the keys of k and others. Conflicting
// names or keys are errors (ErrDuplicateKey).
func (k *Keyring) Merge(others ...*Keyring) (*Keyring, error) {
	var all []KeyEntry
	for _, r := range append([]*Keyring{k}, others...) {
		if r != nil {
			all = append(all, r.entries...)
		}
	}
	return NewKeyring(all)
}

// Len returns the number of keys.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return len(k.entries)
}

// Identities returns the identities of every key, sorted by name. It
// holds no key material, so it may back an admin listing.
func (k *Keyring) Identities() []Identity {
	if k == nil {
		return nil
	}
	out := make([]Identity, len(k.entries))
	for i, e := range k.entries {
		out[i] = e.Identity
	}
	return out
}

// Lookup returns the identity owning presentedKey.
//
// The presented key is hashed with SHA-256 and the digest is looked up in
// a map, then confirmed with subtle.ConstantTimeCompare. A map probe is not
// constant time, but what it compares is a digest of the caller's input,
// not the input: to learn a stored digest prefix by timing, an attacker
// would have to choose keys whose SHA-256 has a chosen prefix, which is
// preimage-hard, and a digest prefix would not yield the key anyway. The
// alternative, comparing against every entry in constant time, costs
// O(keys) per request (see BenchmarkLookupLinear) for no extra safety.
func (k *Keyring) Lookup(presentedKey string) (Identity, bool) {
	if k == nil || presentedKey == "" || len(presentedKey) > MaxKeyLen {
		return Identity{}, false
	}
	h := sha256.Sum256([]byte(presentedKey))
	i, ok := k.byHash[h]
	if !ok || subtle.ConstantTimeCompare(h[:], k.entries[i].Hash[:]) != 1 {
		return Identity{}, false
	}
	return k.entries[i].Identity, true
}

// ParseEnvKeys parses KUBENTLY_API_KEYS entries (as split by
// config.SplitList): `name:key` or `name:role:key`. Names are ids, roles
// admin|operator|viewer, keys at least MinKeyLen characters. Env keys get
// Source "env" and all clusters (no scopes for admins).
//
// The seed form `name:key` gets RoleOperator, not admin: it is the form
// that existed before roles and meant "may run commands"; reading it as
// admin would silently grant key and token administration to every
// existing key on upgrade. Give admins the explicit `name:admin:key`.
//
// Keys may contain ':' only in the three-part form; a middle part that is
// not a role is an error rather than part of the key, so a typo such as
// `ops:admn:…` cannot silently become an operator key.
func ParseEnvKeys(entries []string) (*Keyring, error) {
	out := make([]KeyEntry, 0, len(entries))
	for i, raw := range entries {
		parts := strings.SplitN(strings.TrimSpace(raw), ":", 3)
		var name, role, key string
		switch len(parts) {
		case 2:
			name, role, key = parts[0], string(RoleOperator), parts[1]
		case 3:
			name, role, key = parts[0], parts[1], parts[2]
		default:
			return nil, fmt.Errorf("%w: KUBENTLY_API_KEYS entry %d: want name:key or name:role:key", ErrKeyConfig, i+1)
		}
		name, key = strings.TrimSpace(name), strings.TrimSpace(key)
		if err := contracts.ValidateID("key name", name); err != nil {
			return nil, fmt.Errorf("%w: KUBENTLY_API_KEYS entry %d: %w", ErrKeyConfig, i+1, err)
		}
		r, err := ParseRole(role)
		if err != nil {
			// Don't echo the role: with a mistaken colon it is part of the key.
			return nil, fmt.Errorf("%w: KUBENTLY_API_KEYS entry %d (%s): %w: want admin, operator or viewer", ErrKeyConfig, i+1, name, ErrInvalidRole)
		}
		if len(key) < MinKeyLen {
			return nil, fmt.Errorf("%w: KUBENTLY_API_KEYS entry %d (%s): key shorter than %d characters", ErrKeyConfig, i+1, name, MinKeyLen)
		}
		id := Identity{Name: name, Role: r, Source: SourceEnv}
		if r != RoleAdmin {
			id.Scopes = AllClusters()
		}
		out = append(out, KeyEntry{Identity: id, Hash: sha256.Sum256([]byte(key))})
	}
	k, err := NewKeyring(out)
	if err != nil {
		return nil, fmt.Errorf("KUBENTLY_API_KEYS: %w", err)
	}
	return k, nil
}
