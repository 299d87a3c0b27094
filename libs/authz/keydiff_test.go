package authz

import (
	"crypto/sha256"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestDiffKeyrings(t *testing.T) {
	entry := func(name string, role Role, key string, scopes ...Scope) KeyEntry {
		id := Identity{Name: name, Role: role, Source: SourceAPIKey, Scopes: scopes}
		return KeyEntry{Identity: id, Hash: sha256.Sum256([]byte(key))}
	}
	ring := func(entries ...KeyEntry) *Keyring {
		k, err := NewKeyring(entries)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	all := Scope{Clusters: []string{"*"}}
	older := ring(
		entry("same", RoleViewer, "same-key-0123456789", all),
		entry("gone", RoleOperator, "gone-key-0123456789", all),
		entry("rotated", RoleOperator, "rot-key-a-0123456789", all),
		entry("promoted", RoleOperator, "promo-key-0123456789", all),
		entry("rescoped", RoleViewer, "resc-key-0123456789", all),
	)
	newer := ring(
		entry("same", RoleViewer, "same-key-0123456789", all),
		entry("rotated", RoleOperator, "rot-key-b-0123456789", all),
		entry("promoted", RoleAdmin, "promo-key-0123456789"),
		entry("rescoped", RoleViewer, "resc-key-0123456789", Scope{Clusters: []string{"dev-*"}}),
		entry("fresh", RoleViewer, "fresh-key-0123456789", all),
	)
	got := DiffKeyrings(older, newer)
	want := []KeyChange{
		{Name: "fresh", Kind: KeyAdded, Role: RoleViewer},
		{Name: "gone", Kind: KeyRemoved, Role: RoleOperator},
		{Name: "promoted", Kind: KeyChanged, Role: RoleAdmin, OldRole: RoleOperator},
		{Name: "rescoped", Kind: KeyChanged, Role: RoleViewer, OldRole: RoleViewer},
		{Name: "rotated", Kind: KeyChanged, Role: RoleOperator, OldRole: RoleOperator, Rotated: true},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DiffKeyrings (-want +got):\n%s", diff)
	}
	if got := DiffKeyrings(nil, nil); len(got) != 0 {
		t.Errorf("DiffKeyrings(nil, nil) = %v; want none", got)
	}
}
