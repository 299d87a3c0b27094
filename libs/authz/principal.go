package authz

import (
	"fmt"
	"slices"

	"kubently.io/libs/contracts"
)

// FromPrincipal converts the wire form of a caller, as the gateway sends
// it in NATS messages, back into an Identity and validates it. A nil or
// invalid principal is an error wrapping ErrInvalidIdentity; services
// behind the gateway answer it with 401 unauthorized.
func FromPrincipal(p *contracts.Principal) (Identity, error) {
	if p == nil {
		return Identity{}, fmt.Errorf("%w: no principal on the request", ErrInvalidIdentity)
	}
	if len(p.Scopes) > MaxScopes {
		return Identity{}, fmt.Errorf("%w: more than %d scopes", ErrInvalidIdentity, MaxScopes)
	}
	id := Identity{Name: p.Name, Role: Role(p.Role), Source: Source(p.Source)}
	for _, s := range p.Scopes {
		id.Scopes = append(id.Scopes, Scope{Clusters: slices.Clone(s.Clusters), Namespaces: slices.Clone(s.Namespaces)})
	}
	if err := id.Validate(); err != nil {
		return Identity{}, err
	}
	return id, nil
}

// Wire returns the identity's wire form, for the gateway to put on the
// NATS requests it sends (contracts.ExecuteRequest.Principal and the
// session requests). FromPrincipal(&w) gives the identity back.
func (id Identity) Wire() contracts.Principal {
	p := contracts.Principal{Name: id.Name, Role: string(id.Role), Source: string(id.Source)}
	for _, s := range id.Scopes {
		p.Scopes = append(p.Scopes, contracts.PrincipalScope{Clusters: slices.Clone(s.Clusters), Namespaces: slices.Clone(s.Namespaces)})
	}
	return p
}
