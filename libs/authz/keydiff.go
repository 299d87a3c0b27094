package authz

import (
	"slices"
	"strings"
)

// KeyChangeKind says how a key differs between two keyrings.
type KeyChangeKind string

// The kinds of key change.
const (
	// KeyAdded: the name is new.
	KeyAdded KeyChangeKind = "added"
	// KeyRemoved: the name is gone.
	KeyRemoved KeyChangeKind = "removed"
	// KeyChanged: the name stayed, but its key, role, scopes or source
	// changed.
	KeyChanged KeyChangeKind = "changed"
)

// KeyChange is one difference between two keyrings, for audit records and
// logs. It holds names and roles only, never keys or hashes.
type KeyChange struct {
	// Name is the key's name.
	Name string
	// Kind says what happened to it.
	Kind KeyChangeKind
	// Role is the key's role after the change; for KeyRemoved, its role
	// before.
	Role Role
	// OldRole is the role before a KeyChanged; empty otherwise.
	OldRole Role
	// Rotated is true for a KeyChanged whose key (hash) changed.
	Rotated bool
}

// DiffKeyrings returns how newer differs from older, sorted by name. Nil
// keyrings are empty.
func DiffKeyrings(older, newer *Keyring) []KeyChange {
	byName := func(k *Keyring) map[string]KeyEntry {
		m := map[string]KeyEntry{}
		if k != nil {
			for _, e := range k.entries {
				m[e.Identity.Name] = e
			}
		}
		return m
	}
	was, now := byName(older), byName(newer)
	var out []KeyChange
	for name, n := range now {
		o, ok := was[name]
		switch {
		case !ok:
			out = append(out, KeyChange{Name: name, Kind: KeyAdded, Role: n.Identity.Role})
		case o.Hash != n.Hash || !sameIdentity(o.Identity, n.Identity):
			out = append(out, KeyChange{Name: name, Kind: KeyChanged, Role: n.Identity.Role, OldRole: o.Identity.Role, Rotated: o.Hash != n.Hash})
		}
	}
	for name, o := range was {
		if _, ok := now[name]; !ok {
			out = append(out, KeyChange{Name: name, Kind: KeyRemoved, Role: o.Identity.Role})
		}
	}
	slices.SortFunc(out, func(a, b KeyChange) int { return strings.Compare(a.Name, b.Name) })
	return out
}

func sameIdentity(a, b Identity) bool {
	return a.Name == b.Name && a.Role == b.Role && a.Source == b.Source &&
		slices.EqualFunc(a.Scopes, b.Scopes, func(x, y Scope) bool {
			return slices.Equal(x.Clusters, y.Clusters) && slices.Equal(x.Namespaces, y.Namespaces)
		})
}
