package authz_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
)

func TestPrincipalRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		id   authz.Identity
	}{
		{"admin", authz.Identity{Name: "root", Role: authz.RoleAdmin, Source: authz.SourceEnv}},
		{"scoped operator", authz.Identity{Name: "alice", Role: authz.RoleOperator, Source: authz.SourceAPIKey,
			Scopes: []authz.Scope{{Clusters: []string{"prod-*"}, Namespaces: []string{"shop"}}, {Clusters: []string{"dev"}}}}},
		{"oidc viewer", authz.Identity{Name: "bob@example.com", Role: authz.RoleViewer, Source: authz.SourceOIDC,
			Scopes: authz.AllClusters()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.id.Wire()
			// The JSON shapes of Principal and Identity are the same.
			wb, _ := json.Marshal(w)
			ib, _ := json.Marshal(tt.id)
			if string(wb) != string(ib) {
				t.Errorf("wire JSON %s; want %s", wb, ib)
			}
			got, err := authz.FromPrincipal(&w)
			if err != nil {
				t.Fatalf("FromPrincipal: %v", err)
			}
			if d := cmp.Diff(tt.id, got); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
		})
	}
}

func TestFromPrincipalRejects(t *testing.T) {
	tests := []struct {
		name string
		p    *contracts.Principal
	}{
		{"nil", nil},
		{"no name", &contracts.Principal{Role: "operator", Source: "api_key", Scopes: []contracts.PrincipalScope{{Clusters: []string{"*"}}}}},
		{"bad role", &contracts.Principal{Name: "alice", Role: "root", Source: "api_key"}},
		{"bad source", &contracts.Principal{Name: "alice", Role: "admin", Source: "magic"}},
		{"scoped admin", &contracts.Principal{Name: "alice", Role: "admin", Source: "api_key", Scopes: []contracts.PrincipalScope{{Clusters: []string{"*"}}}}},
		{"bad glob", &contracts.Principal{Name: "alice", Role: "viewer", Source: "api_key", Scopes: []contracts.PrincipalScope{{Clusters: []string{"a/b"}}}}},
		{"too many scopes", &contracts.Principal{Name: "alice", Role: "viewer", Source: "api_key", Scopes: make([]contracts.PrincipalScope, authz.MaxScopes+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := authz.FromPrincipal(tt.p); !errors.Is(err, authz.ErrInvalidIdentity) {
				t.Errorf("FromPrincipal: got %v; want ErrInvalidIdentity", err)
			}
		})
	}
}
