package authz

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRoleMatrix(t *testing.T) {
	// want[role] lists the allowed actions; everything else is denied.
	want := map[Role]map[Action]bool{
		RoleAdmin: {ActionClustersRead: true, ActionExecute: true, ActionSessionWrite: true, ActionAuditReadOwn: true,
			ActionAuditReadAll: true, ActionTokenAdmin: true, ActionKeyAdmin: true},
		RoleOperator: {ActionClustersRead: true, ActionExecute: true, ActionSessionWrite: true, ActionAuditReadOwn: true},
		RoleViewer:   {ActionClustersRead: true, ActionAuditReadOwn: true},
		"root":       {},
		"":           {},
	}
	for role, allowed := range want {
		for _, a := range append(Actions, "unknown:action") {
			t.Run(string(role)+"/"+string(a), func(t *testing.T) {
				id := Identity{Name: "x", Role: role, Source: SourceAPIKey}
				if got := id.Can(a); got != allowed[a] {
					t.Errorf("Can(%s) = %v; want %v", a, got, allowed[a])
				}
				err := id.Authorize(a, "", "", false)
				if (err == nil) != allowed[a] {
					t.Errorf("Authorize(%s) = %v; want allowed=%v", a, err, allowed[a])
				}
				if err != nil {
					var d *Denial
					if !errors.As(err, &d) || d.Reason != ReasonRoleForbidden || !errors.Is(err, ErrDenied) {
						t.Errorf("Authorize(%s) = %v; want a role_forbidden *Denial", a, err)
					}
				}
			})
		}
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		in      string
		want    Role
		wantErr bool
	}{
		{"admin", RoleAdmin, false},
		{" Operator ", RoleOperator, false},
		{"VIEWER", RoleViewer, false},
		{"", "", true},
		{"superuser", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseRole(tt.in)
			if got != tt.want || (err != nil) != tt.wantErr {
				t.Fatalf("ParseRole(%q) = %q, %v; want %q, err=%v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrInvalidRole) {
				t.Errorf("err = %v; want ErrInvalidRole", err)
			}
		})
	}
}

func reasonOf(err error) DenialReason {
	var d *Denial
	if errors.As(err, &d) {
		return d.Reason
	}
	if err != nil {
		return "not-a-denial: " + DenialReason(err.Error())
	}
	return ""
}

func TestScopes(t *testing.T) {
	alice := Identity{Name: "alice", Role: RoleOperator, Source: SourceAPIKey, Scopes: []Scope{
		{Clusters: []string{"prod-*"}, Namespaces: []string{"payments"}},
		{Clusters: []string{"prod-eu"}, Namespaces: []string{"billing"}},
		{Clusters: []string{"staging", "dev-?"}},
	}}
	admin := Identity{Name: "root", Role: RoleAdmin, Source: SourceEnv}
	none := Identity{Name: "nobody", Role: RoleViewer, Source: SourceAPIKey}
	all := Identity{Name: "bob", Role: RoleOperator, Source: SourceEnv, Scopes: AllClusters()}

	tests := []struct {
		name    string
		id      Identity
		cluster string
		ns      string
		allNS   bool
		want    DenialReason
	}{
		{"glob match ns allowed", alice, "prod-us", "payments", false, ""},
		{"glob match ns denied", alice, "prod-us", "billing", false, ReasonNamespaceOutOfScope},
		{"merged lists", alice, "prod-eu", "billing", false, ""},
		{"merged lists other ns", alice, "prod-eu", "payments", false, ""},
		{"-A with ns list", alice, "prod-us", "", true, ReasonAllNamespacesOutOfScope},
		{"cluster-scoped with ns list", alice, "prod-us", "", false, ReasonNamespaceOutOfScope},
		{"unlimited scope", alice, "staging", "anything", false, ""},
		{"unlimited scope -A", alice, "staging", "", true, ""},
		{"? glob", alice, "dev-1", "kube-system", true, ""},
		{"? glob too long", alice, "dev-12", "x", false, ReasonClusterOutOfScope},
		{"glob needs prefix", alice, "preprod-us", "payments", false, ReasonClusterOutOfScope},
		{"no glob match", alice, "other", "payments", false, ReasonClusterOutOfScope},
		{"admin anywhere -A", admin, "other", "", true, ""},
		{"no scopes", none, "prod-us", "x", false, ReasonClusterOutOfScope},
		{"star", all, "anything", "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.id.CheckNamespace(tt.cluster, tt.ns, tt.allNS)
			if got := reasonOf(err); got != tt.want {
				t.Fatalf("CheckNamespace(%q, %q, %v) = %v; want reason %q", tt.cluster, tt.ns, tt.allNS, err, tt.want)
			}
			if got, want := tt.id.AllowsCluster(tt.cluster), tt.want != ReasonClusterOutOfScope; got != want {
				t.Errorf("AllowsCluster(%q) = %v; want %v", tt.cluster, got, want)
			}
			if err := tt.id.Authorize(ActionExecute, tt.cluster, tt.ns, tt.allNS); tt.id.Can(ActionExecute) && reasonOf(err) != tt.want {
				t.Errorf("Authorize = %v; want reason %q", err, tt.want)
			}
		})
	}
}

func TestAuthorizeClustersRead(t *testing.T) {
	v := Identity{Name: "v", Role: RoleViewer, Source: SourceAPIKey, Scopes: []Scope{{Clusters: []string{"prod-*"}, Namespaces: []string{"a"}}}}
	if err := v.Authorize(ActionClustersRead, "prod-1", "", false); err != nil {
		t.Errorf("clusters:read on a namespace-limited cluster = %v; want nil", err)
	}
	if got := reasonOf(v.Authorize(ActionClustersRead, "dev-1", "", false)); got != ReasonClusterOutOfScope {
		t.Errorf("clusters:read out of scope: reason %q; want %q", got, ReasonClusterOutOfScope)
	}
	if got := reasonOf(v.Authorize(ActionExecute, "prod-1", "a", false)); got != ReasonRoleForbidden {
		t.Errorf("viewer execute: reason %q; want %q", got, ReasonRoleForbidden)
	}
	if diff := cmp.Diff([]string{"prod-1", "prod-2"}, v.FilterClusters([]string{"dev", "prod-1", "prod-2", "x"})); diff != "" {
		t.Errorf("FilterClusters (-want +got):\n%s", diff)
	}
}

func TestDenialMessage(t *testing.T) {
	id := Identity{Name: "alice", Role: RoleOperator, Source: SourceAPIKey, Scopes: []Scope{{Clusters: []string{"c"}, Namespaces: []string{"b", "a", "b"}}}}
	err := id.CheckNamespace("c", "", true)
	want := `authz: denied (all_namespaces_out_of_scope): alice may not list across all namespaces of cluster "c"; allowed namespaces: a, b`
	if err == nil || err.Error() != want {
		t.Errorf("got %v; want %s", err, want)
	}
	b, _ := json.Marshal(err)
	if !strings.Contains(string(b), `"reason":"all_namespaces_out_of_scope"`) {
		t.Errorf("JSON %s; want a reason field", b)
	}
}

func TestIdentityValidate(t *testing.T) {
	ok := Identity{Name: "alice", Role: RoleOperator, Source: SourceAPIKey, Scopes: AllClusters()}
	tests := []struct {
		name   string
		mutate func(*Identity)
		ok     bool
	}{
		{"valid", func(*Identity) {}, true},
		{"no scopes", func(id *Identity) { id.Scopes = nil }, true},
		{"oidc email", func(id *Identity) { id.Source, id.Name = SourceOIDC, "Alice@Example.com" }, true},
		{"oidc space", func(id *Identity) { id.Source, id.Name = SourceOIDC, "a b" }, false},
		{"oidc too long", func(id *Identity) { id.Source, id.Name = SourceOIDC, strings.Repeat("a", MaxNameLen+1) }, false},
		{"key name not an id", func(id *Identity) { id.Name = "Alice@x" }, false},
		{"empty name", func(id *Identity) { id.Name = "" }, false},
		{"bad role", func(id *Identity) { id.Role = "root" }, false},
		{"bad source", func(id *Identity) { id.Source = "ldap" }, false},
		{"admin with scopes", func(id *Identity) { id.Role = RoleAdmin }, false},
		{"admin without scopes", func(id *Identity) { id.Role, id.Scopes = RoleAdmin, nil }, true},
		{"empty clusters", func(id *Identity) { id.Scopes = []Scope{{}} }, false},
		{"bad glob", func(id *Identity) { id.Scopes = []Scope{{Clusters: []string{"prod-["}}} }, false},
		{"slash glob", func(id *Identity) { id.Scopes = []Scope{{Clusters: []string{"a/b"}}} }, false},
		{"bad namespace", func(id *Identity) {
			id.Scopes = []Scope{{Clusters: []string{"*"}, Namespaces: []string{"Kube_System"}}}
		}, false},
		{"too many scopes", func(id *Identity) {
			id.Scopes = make([]Scope, MaxScopes+1)
			for i := range id.Scopes {
				id.Scopes[i] = Scope{Clusters: []string{"*"}}
			}
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := ok
			id.Scopes = AllClusters()
			tt.mutate(&id)
			err := id.Validate()
			if (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v; want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidIdentity) {
				t.Errorf("err = %v; want ErrInvalidIdentity", err)
			}
		})
	}
}

func TestIdentityJSON(t *testing.T) {
	id := Identity{Name: "alice", Role: RoleOperator, Source: SourceAPIKey, Scopes: []Scope{
		{Clusters: []string{"prod-*"}, Namespaces: []string{"payments"}}, {Clusters: []string{"dev"}},
	}}
	b, err := json.Marshal(id)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"name":"alice","role":"operator","scopes":[{"clusters":["prod-*"],"namespaces":["payments"]},{"clusters":["dev"]}],"source":"api_key"}`
	if string(b) != want {
		t.Errorf("got %s; want %s", b, want)
	}
	var back Identity
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(id, back); diff != "" {
		t.Errorf("round trip (-want +got):\n%s", diff)
	}
	if err := back.Validate(); err != nil {
		t.Errorf("Validate after round trip: %v", err)
	}
}

func TestCanUseSession(t *testing.T) {
	alice := Identity{Name: "alice", Role: RoleOperator, Source: SourceAPIKey}
	oidcAlice := Identity{Name: "alice", Role: RoleOperator, Source: SourceOIDC}
	admin := Identity{Name: "root", Role: RoleAdmin, Source: SourceEnv}
	tests := []struct {
		name  string
		id    Identity
		owner string
		want  bool
	}{
		{"owner", alice, "alice", true},
		{"other", alice, "bob", false},
		{"oidc same name is another principal", oidcAlice, "alice", false},
		{"oidc owner", oidcAlice, "oidc:alice", true},
		{"admin", admin, "alice", true},
		{"empty owner", alice, "", false},
		{"admin empty owner", admin, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CanUseSession(tt.id, tt.owner); got != tt.want {
				t.Errorf("CanUseSession(%s, %q) = %v; want %v", tt.id.Principal(), tt.owner, got, tt.want)
			}
		})
	}
}

func TestNamespacesOn(t *testing.T) {
	tests := []struct {
		name    string
		id      Identity
		cluster string
		want    []string
		limited bool
	}{
		{"admin", Identity{Role: RoleAdmin}, "prod", nil, false},
		{"unscoped cluster", Identity{Role: RoleViewer, Scopes: []Scope{{Clusters: []string{"prod"}}}}, "prod", nil, false},
		{"one scope", Identity{Role: RoleViewer, Scopes: []Scope{{Clusters: []string{"prod"}, Namespaces: []string{"shop"}}}}, "prod", []string{"shop"}, true},
		{"merged", Identity{Role: RoleViewer, Scopes: []Scope{
			{Clusters: []string{"prod"}, Namespaces: []string{"shop", "data"}},
			{Clusters: []string{"p*"}, Namespaces: []string{"shop"}},
		}}, "prod", []string{"data", "shop"}, true},
		{"a wider scope wins", Identity{Role: RoleViewer, Scopes: []Scope{
			{Clusters: []string{"prod"}, Namespaces: []string{"shop"}},
			{Clusters: []string{"*"}},
		}}, "prod", nil, false},
		{"no matching scope", Identity{Role: RoleViewer, Scopes: []Scope{{Clusters: []string{"dev"}}}}, "prod", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, limited := tt.id.NamespacesOn(tt.cluster)
			if limited != tt.limited || !slices.Equal(got, tt.want) {
				t.Errorf("NamespacesOn(%q) = %v, %v; want %v, %v", tt.cluster, got, limited, tt.want, tt.limited)
			}
		})
	}
}
