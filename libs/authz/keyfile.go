package authz

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"

	"sigs.k8s.io/yaml"
)

// Key file schema identifiers.
const (
	// KeyFileAPIVersion is the only apiVersion a key file may have.
	KeyFileAPIVersion = "kubently.io/v1"
	// KeyFileKind is the only kind a key file may have.
	KeyFileKind = "APIKeys"
	// MaxKeyFileBytes is the largest key file read.
	MaxKeyFileBytes = 4 << 20
)

// keyFile is the on-disk schema (see the package documentation).
type keyFile struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Keys       []keyFileEntry `json:"keys"`
}

type keyFileEntry struct {
	Name   string  `json:"name"`
	Role   string  `json:"role"`
	SHA256 string  `json:"sha256,omitempty"`
	Key    string  `json:"key,omitempty"`
	Scopes []Scope `json:"scopes,omitempty"`
}

// ParseKeyFile parses a key file (YAML or JSON). Decoding is strict:
// unknown fields and duplicate map keys are errors. Each entry needs a
// name (an id), a role, exactly one of sha256 (64 hex digits) or key
// (plaintext, at least MinKeyLen characters, hashed at once and dropped),
// and, unless it is an admin, at least one scope; admins take no scopes.
// Errors wrap ErrKeyConfig or ErrDuplicateKey and never contain keys or
// hashes.
func ParseKeyFile(data []byte) (*Keyring, error) {
	if len(data) > MaxKeyFileBytes {
		return nil, fmt.Errorf("%w: file larger than %d bytes", ErrKeyConfig, MaxKeyFileBytes)
	}
	var f keyFile
	if err := yaml.UnmarshalStrict(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %s", ErrKeyConfig, redact(err.Error()))
	}
	if f.APIVersion != KeyFileAPIVersion || f.Kind != KeyFileKind {
		return nil, fmt.Errorf("%w: want apiVersion %q and kind %q, got %q and %q",
			ErrKeyConfig, KeyFileAPIVersion, KeyFileKind, truncate(f.APIVersion, 64), truncate(f.Kind, 64))
	}
	entries := make([]KeyEntry, 0, len(f.Keys))
	for i, e := range f.Keys {
		entry, err := e.entry()
		if err != nil {
			return nil, fmt.Errorf("%w: keys[%d] (%s): %w", ErrKeyConfig, i, truncate(e.Name, 63), err)
		}
		entries = append(entries, entry)
	}
	return NewKeyring(entries)
}

func (e keyFileEntry) entry() (KeyEntry, error) {
	role, err := ParseRole(e.Role)
	if err != nil {
		return KeyEntry{}, err
	}
	var out KeyEntry
	switch {
	case e.SHA256 != "" && e.Key != "":
		return KeyEntry{}, errors.New("set sha256 or key, not both")
	case e.SHA256 != "":
		if len(e.SHA256) != 2*sha256.Size {
			return KeyEntry{}, fmt.Errorf("sha256 must be %d hex digits, got %d characters", 2*sha256.Size, len(e.SHA256))
		}
		if _, err := hex.Decode(out.Hash[:], []byte(e.SHA256)); err != nil {
			return KeyEntry{}, errors.New("sha256 is not hex")
		}
	case e.Key != "":
		if len(e.Key) < MinKeyLen {
			return KeyEntry{}, fmt.Errorf("key shorter than %d characters", MinKeyLen)
		}
		out.Hash = sha256.Sum256([]byte(e.Key))
	default:
		return KeyEntry{}, errors.New("set sha256 (preferred) or key")
	}
	switch {
	case role == RoleAdmin && len(e.Scopes) > 0:
		return KeyEntry{}, errors.New("admin keys take no scopes: admins may act on every cluster")
	case role != RoleAdmin && len(e.Scopes) == 0:
		return KeyEntry{}, errors.New(`no scopes (use scopes: [{clusters: ["*"]}] for every cluster)`)
	}
	out.Identity = Identity{Name: e.Name, Role: role, Scopes: e.Scopes, Source: SourceAPIKey}
	return out, nil
}

// LoadKeyFile reads and parses the key file at path.
func LoadKeyFile(path string) (*Keyring, error) {
	data, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	return ParseKeyFile(data)
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFileRead, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeyFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrKeyFileRead, err)
	}
	return data, nil
}

// quotedRE matches quoted or back-quoted runs in decoder messages.
var quotedRE = regexp.MustCompile("\"[^\"]*\"|`[^`]*`|'[^']*'")

// redact removes from a decoder message every quoted run long enough to be
// a key (a misplaced key can surface as a field name), keeping short ones
// such as field names so the message stays useful.
func redact(msg string) string {
	return quotedRE.ReplaceAllStringFunc(msg, func(q string) string {
		if len(q)-2 >= MinKeyLen {
			return `"<redacted>"`
		}
		return q
	})
}
