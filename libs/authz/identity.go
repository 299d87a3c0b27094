package authz

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"kubently.io/libs/contracts"
)

// Bounds that keep an Identity small enough to travel in every NATS message.
const (
	// MaxScopes is the most scopes one identity may carry.
	MaxScopes = 64
	// MaxScopeEntries is the most cluster globs, or namespaces, in one scope.
	MaxScopeEntries = 256
	// MaxNameLen is the longest identity name (OIDC usernames such as
	// e-mail addresses); API key names are ids of at most contracts.MaxIDLen.
	MaxNameLen = 256
	// maxGlobLen bounds a cluster glob.
	maxGlobLen = 128
)

// Role is a coarse permission level. The zero value is invalid.
type Role string

// The roles, from most to least privileged.
const (
	// RoleAdmin may do everything, on every cluster and namespace; scopes
	// do not apply to it.
	RoleAdmin Role = "admin"
	// RoleOperator runs commands and sessions within its scopes.
	RoleOperator Role = "operator"
	// RoleViewer reads the cluster list (within its scopes) and its own audit.
	RoleViewer Role = "viewer"
)

// Roles lists the valid roles, most privileged first.
var Roles = []Role{RoleAdmin, RoleOperator, RoleViewer}

// ParseRole returns the Role named s (case-insensitive, trimmed).
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("%w: %q (want admin, operator or viewer)", ErrInvalidRole, truncate(s, 32))
	}
	return r, nil
}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool { return slices.Contains(Roles, r) }

// Source says how an Identity was authenticated.
type Source string

// The identity sources.
const (
	// SourceAPIKey: an API key from the key file (or Secret).
	SourceAPIKey Source = "api_key"
	// SourceEnv: an API key from KUBENTLY_API_KEYS.
	SourceEnv Source = "env"
	// SourceOIDC: an OIDC bearer token.
	SourceOIDC Source = "oidc"
)

// Valid reports whether s is a known source.
func (s Source) Valid() bool { return s == SourceAPIKey || s == SourceEnv || s == SourceOIDC }

// Action is something an identity may be allowed to do. See the role
// matrix in the package documentation.
type Action string

// The actions.
const (
	// ActionClustersRead lists clusters and their status (filtered by scope).
	ActionClustersRead Action = "clusters:read"
	// ActionExecute runs a one-shot command on a cluster.
	ActionExecute Action = "commands:execute"
	// ActionSessionWrite creates, uses and ends sessions.
	ActionSessionWrite Action = "sessions:write"
	// ActionAuditReadOwn reads the identity's own audit records.
	ActionAuditReadOwn Action = "audit:read:own"
	// ActionAuditReadAll reads every identity's audit records.
	ActionAuditReadAll Action = "audit:read:all"
	// ActionTokenAdmin creates and revokes executor (cluster) tokens.
	ActionTokenAdmin Action = "tokens:admin"
	// ActionKeyAdmin administers API keys.
	ActionKeyAdmin Action = "keys:admin"
)

// Actions lists every action, in the order of the role matrix.
var Actions = []Action{
	ActionClustersRead, ActionExecute, ActionSessionWrite,
	ActionAuditReadOwn, ActionAuditReadAll, ActionTokenAdmin, ActionKeyAdmin,
}

// roleActions is the role matrix; keep it in step with doc.go.
var roleActions = map[Role][]Action{
	RoleAdmin:    Actions,
	RoleOperator: {ActionClustersRead, ActionExecute, ActionSessionWrite, ActionAuditReadOwn},
	RoleViewer:   {ActionClustersRead, ActionAuditReadOwn},
}

// RoleAllows reports whether role r grants action a. Unknown roles and
// actions grant nothing.
func RoleAllows(r Role, a Action) bool { return slices.Contains(roleActions[r], a) }

// Scope grants access to some clusters and, optionally, only some
// namespaces on them.
type Scope struct {
	// Clusters are path.Match globs over cluster ids ("prod-*", "*" for
	// all). At least one is required.
	Clusters []string `json:"clusters"`
	// Namespaces limits the scope to these namespaces (exact names). Empty
	// or nil means all namespaces, including -A and cluster-scoped reads.
	Namespaces []string `json:"namespaces,omitempty"`
}

// Validate checks the globs and namespace names.
func (s Scope) Validate() error {
	if len(s.Clusters) == 0 {
		return fmt.Errorf("%w: no clusters (use [\"*\"] for all)", ErrInvalidScope)
	}
	if len(s.Clusters) > MaxScopeEntries || len(s.Namespaces) > MaxScopeEntries {
		return fmt.Errorf("%w: more than %d entries", ErrInvalidScope, MaxScopeEntries)
	}
	for _, g := range s.Clusters {
		if err := validateGlob(g); err != nil {
			return err
		}
	}
	for _, ns := range s.Namespaces {
		if err := contracts.ValidateID("namespace", ns); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidScope, err)
		}
	}
	return nil
}

func validateGlob(g string) error {
	if g == "" || len(g) > maxGlobLen || strings.ContainsAny(g, "/\\") || strings.ContainsFunc(g, unicode.IsSpace) {
		return fmt.Errorf("%w: cluster glob %q: want 1-%d characters without '/', '\\' or spaces", ErrInvalidScope, truncate(g, 32), maxGlobLen)
	}
	if _, err := path.Match(g, ""); err != nil {
		return fmt.Errorf("%w: cluster glob %q: %w", ErrInvalidScope, truncate(g, 32), err)
	}
	return nil
}

// matchesCluster reports whether any glob matches cluster. Globs are
// validated before use, so a match error cannot occur; it counts as no match.
func (s Scope) matchesCluster(cluster string) bool {
	for _, g := range s.Clusters {
		if ok, err := path.Match(g, cluster); err == nil && ok {
			return true
		}
	}
	return false
}

// AllClusters is the scope list granting every cluster and namespace.
func AllClusters() []Scope { return []Scope{{Clusters: []string{"*"}}} }

// Identity is an authenticated caller. It is immutable by convention:
// share it by value. It is JSON-serialisable so the gateway can forward it
// to the dispatcher, which must call Validate and re-check it.
type Identity struct {
	// Name identifies the caller: the API key name (an id) or the OIDC
	// username claim. Use Principal, not Name, as the owner/rate-limit key.
	Name string `json:"name"`
	// Role is the caller's role.
	Role Role `json:"role"`
	// Scopes are the clusters and namespaces the caller may act on; nil
	// means none. Admins carry no scopes: they may act everywhere.
	Scopes []Scope `json:"scopes,omitempty"`
	// Source says how the caller was authenticated.
	Source Source `json:"source"`
}

// Validate checks every field; use it on identities decoded from messages.
func (id Identity) Validate() error {
	if !id.Source.Valid() {
		return fmt.Errorf("%w: unknown source %q", ErrInvalidIdentity, truncate(string(id.Source), 32))
	}
	if id.Source == SourceOIDC {
		if !validUsername(id.Name) {
			return fmt.Errorf("%w: invalid name", ErrInvalidIdentity)
		}
	} else if err := contracts.ValidateID("key name", id.Name); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidIdentity, err)
	}
	if !id.Role.Valid() {
		return fmt.Errorf("%w: %w: %q", ErrInvalidIdentity, ErrInvalidRole, truncate(string(id.Role), 32))
	}
	if id.Role == RoleAdmin && len(id.Scopes) > 0 {
		return fmt.Errorf("%w: admin identities are unscoped", ErrInvalidIdentity)
	}
	if len(id.Scopes) > MaxScopes {
		return fmt.Errorf("%w: more than %d scopes", ErrInvalidIdentity, MaxScopes)
	}
	for i, s := range id.Scopes {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w: scope %d: %w", ErrInvalidIdentity, i, err)
		}
	}
	return nil
}

// validUsername accepts 1-MaxNameLen bytes of printable UTF-8 without spaces.
func validUsername(s string) bool {
	if s == "" || len(s) > MaxNameLen || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) })
}

// Principal is the identity's unique key for session ownership, audit and
// rate limiting. API key names (from the file and from env, which share
// one namespace) are returned as is; OIDC names are prefixed "oidc:" so an
// IdP user can never collide with a key name (key names have no colon).
func (id Identity) Principal() string {
	if id.Source == SourceOIDC {
		return "oidc:" + id.Name
	}
	return id.Name
}

// Can reports whether the identity's role grants action a. It does not
// look at scopes; see Authorize.
func (id Identity) Can(a Action) bool { return RoleAllows(id.Role, a) }

// AllowsCluster reports whether some scope of the identity matches cluster.
// Admins are allowed every cluster.
func (id Identity) AllowsCluster(cluster string) bool {
	if id.Role == RoleAdmin {
		return true
	}
	for _, s := range id.Scopes {
		if s.matchesCluster(cluster) {
			return true
		}
	}
	return false
}

// FilterClusters returns the clusters the identity may see, in order.
func (id Identity) FilterClusters(clusters []string) []string {
	out := make([]string, 0, len(clusters))
	for _, c := range clusters {
		if id.AllowsCluster(c) {
			out = append(out, c)
		}
	}
	return out
}

// CheckNamespace checks a request on cluster against the identity's
// scopes. ns is the request's effective namespace ("" for cluster-scoped
// or unnamespaced requests); allNamespaces is true for -A /
// --all-namespaces. The namespace lists of every scope matching cluster
// are merged; one matching scope without a list grants all namespaces.
// It returns nil or a *Denial.
func (id Identity) CheckNamespace(cluster, ns string, allNamespaces bool) error {
	if id.Role == RoleAdmin {
		return nil
	}
	var allowed []string
	matched := false
	for _, s := range id.Scopes {
		if !s.matchesCluster(cluster) {
			continue
		}
		if len(s.Namespaces) == 0 {
			return nil
		}
		matched = true
		allowed = append(allowed, s.Namespaces...)
	}
	switch {
	case !matched:
		return deny(ReasonClusterOutOfScope, "%s may not access cluster %q", id.Principal(), cluster)
	case allNamespaces:
		return deny(ReasonAllNamespacesOutOfScope, "%s may not list across all namespaces of cluster %q; allowed namespaces: %s",
			id.Principal(), cluster, strings.Join(uniqSorted(allowed), ", "))
	case ns == "":
		return deny(ReasonNamespaceOutOfScope, "%s is limited to namespaces %s on cluster %q; cluster-scoped or unnamespaced requests are denied",
			id.Principal(), strings.Join(uniqSorted(allowed), ", "), cluster)
	case !slices.Contains(allowed, ns):
		return deny(ReasonNamespaceOutOfScope, "%s may not access namespace %q of cluster %q; allowed namespaces: %s",
			id.Principal(), ns, cluster, strings.Join(uniqSorted(allowed), ", "))
	}
	return nil
}

// Authorize checks the role for action a and, when cluster is not empty,
// the scopes: for ActionClustersRead only the cluster (AllowsCluster), for
// every other action cluster/ns/allNamespaces (CheckNamespace). It returns
// nil or a *Denial.
func (id Identity) Authorize(a Action, cluster, ns string, allNamespaces bool) error {
	if !id.Can(a) {
		return deny(ReasonRoleForbidden, "role %q of %s does not allow %s", id.Role, id.Principal(), a)
	}
	switch {
	case cluster == "":
		return nil
	case a == ActionClustersRead:
		if !id.AllowsCluster(cluster) {
			return deny(ReasonClusterOutOfScope, "%s may not access cluster %q", id.Principal(), cluster)
		}
		return nil
	}
	return id.CheckNamespace(cluster, ns, allNamespaces)
}

// CanUseSession reports whether id may use (read, run in, end) a session
// whose owner is the given principal: the owner itself or any admin.
// owner is the creator's Identity.Principal(); an empty owner matches only
// admins.
func CanUseSession(id Identity, owner string) bool {
	if id.Role == RoleAdmin {
		return true
	}
	return owner != "" && id.Principal() == owner
}

func uniqSorted(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
