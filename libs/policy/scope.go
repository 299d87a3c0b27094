package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Reasons of the scope check for callers limited to some namespaces
// (CheckScope, Command.ScopedNamespace).
const (
	// ReasonClusterScoped: the command reads a cluster-scoped resource,
	// which a caller limited to namespaces may not.
	ReasonClusterScoped Reason = "cluster_scoped_resource"
	// ReasonUnknownType: the cluster's discovery does not list the type,
	// so whether it is namespaced is unknown; a namespace-scoped caller is
	// refused (fail closed).
	ReasonUnknownType Reason = "unknown_resource_type"
	// ReasonNamespaceOutOfScope: the command reads a namespace (or spans
	// all namespaces, or reads nothing namespaced) outside the caller's
	// namespaces.
	ReasonNamespaceOutOfScope Reason = "namespace_out_of_scope"
)

// ErrUnknownType is returned (wrapped) by resolvers that know every type
// of a cluster when a spelling names none of them.
var ErrUnknownType = errors.New("policy: unknown resource type")

// Scope is what a caller may read on one cluster: only namespaced
// resources, and only in Namespaces. A nil *Scope means the whole cluster.
type Scope struct {
	// Namespaces are the only namespaces the caller may read.
	Namespaces []string
}

type scopeKey struct{}

// WithScope returns ctx carrying s, the namespace scope of the caller
// whose command runs under ctx; CheckScope and the executor's reads honour
// it. A nil s leaves ctx unscoped.
func WithScope(ctx context.Context, s *Scope) context.Context {
	if s == nil {
		return ctx
	}
	return context.WithValue(ctx, scopeKey{}, &Scope{Namespaces: slices.Clone(s.Namespaces)})
}

// ScopeFrom returns the scope WithScope put in ctx, or nil.
func ScopeFrom(ctx context.Context) *Scope {
	s, _ := ctx.Value(scopeKey{}).(*Scope)
	return s
}

// ScopedNamespace is ScopeNamespace for a caller limited to namespaces,
// judged on the types res resolves, failing closed: a type res does not
// know is refused (ReasonUnknownType), a cluster-scoped type is refused
// (ReasonClusterScoped), and a category such as "all" stands only for its
// namespaced members (the executor leaves the others out for such a
// caller). res must know every type of the cluster (the cluster's
// discovery); nil means KnownTypes(StaticResolver). When ok, ns is the
// namespace the command reads ("" for a request that reads no namespace:
// version, api-resources, explain, cluster-info) and all is true for -A;
// the caller's namespaces are checked by the caller (authz).
func (c *Command) ScopedNamespace(ctx context.Context, res Resolver) (ns string, all bool, d Decision, ok bool) {
	if res == nil {
		res = KnownTypes(StaticResolver)
	}
	for _, t := range c.Types {
		rs, err := res.ResolveType(ctx, t.Spelling)
		if err != nil || len(rs) == 0 {
			return "", false, deny(c.Verb, ReasonUnknownType,
				"resource type %q is not one the cluster's discovery lists, so it cannot be known to be namespaced; a caller limited to namespaces may read only namespaced types", truncate(t.Spelling)), false
		}
		for _, r := range rs {
			if r.Namespaced || r.Category {
				continue // a category's cluster-scoped members are left out
			}
			return "", false, deny(c.Verb, ReasonClusterScoped,
				"resource %q (%s) is cluster-scoped; a caller limited to namespaces may read only namespaced resources", truncate(t.Spelling), r), false
		}
	}
	switch {
	case c.AllNamespaces:
		return "", true, Decision{}, true
	case len(c.Types) == 0 && c.Verb != "auth":
		return "", false, Decision{}, true
	case c.Namespace != "":
		return c.Namespace, false, Decision{}, true
	}
	return defaultNamespace, false, Decision{}, true
}

// CheckScope decides whether argv stays inside the scope in ctx (see
// WithScope), resolving types with res (nil means
// KnownTypes(StaticResolver)): only namespaced types, no -A, and a
// namespace among the scope's. Without a scope in ctx it allows. It is the
// executor's second check of what the dispatcher decided.
func CheckScope(ctx context.Context, argv []string, res Resolver) Decision {
	s := ScopeFrom(ctx)
	if s == nil {
		return Decision{Allowed: true, Reason: ReasonAllowed, Verb: verbOf(argv), Message: "allowed"}
	}
	cmd, d, ok := Parse(argv)
	if !ok {
		return d
	}
	return CheckCommandScope(ctx, cmd, res)
}

// CheckCommandScope is CheckScope for a command Parse already read.
func CheckCommandScope(ctx context.Context, cmd *Command, res Resolver) Decision {
	s := ScopeFrom(ctx)
	if cmd == nil {
		return deny("", ReasonEmpty, "empty command: want a verb such as get, describe, logs or events")
	}
	if s == nil {
		return Decision{Allowed: true, Reason: ReasonAllowed, Verb: cmd.Verb, Message: "allowed"}
	}
	ns, all, d, ok := cmd.ScopedNamespace(ctx, res)
	if !ok {
		return d
	}
	allowed := strings.Join(s.Namespaces, ", ")
	switch {
	case all:
		return deny(cmd.Verb, ReasonNamespaceOutOfScope, "the caller may not read across all namespaces; allowed namespaces: %s", allowed)
	case ns == "":
		return deny(cmd.Verb, ReasonNamespaceOutOfScope, "the caller is limited to namespaces %s; cluster-level requests are denied", allowed)
	case !slices.Contains(s.Namespaces, ns):
		return deny(cmd.Verb, ReasonNamespaceOutOfScope, "the caller may not read namespace %q; allowed namespaces: %s", ns, allowed)
	}
	return Decision{Allowed: true, Reason: ReasonAllowed, Verb: cmd.Verb, Message: "allowed"}
}

// KnownTypes wraps res so that a type it only guessed (Resource.Guessed:
// StaticResolver did not know it) is an ErrUnknownType error.
func KnownTypes(res Resolver) Resolver {
	return ResolverFunc(func(ctx context.Context, spelling string) ([]Resource, error) {
		rs, err := res.ResolveType(ctx, spelling)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			if r.Guessed {
				return nil, fmt.Errorf("%w: %q", ErrUnknownType, truncate(spelling))
			}
		}
		return rs, nil
	})
}
