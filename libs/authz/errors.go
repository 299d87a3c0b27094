package authz

import (
	"errors"
	"fmt"
)

// Sentinel errors. Callers match them with errors.Is; messages wrap them
// with detail that never contains key material.
var (
	// ErrDenied: an authorised identity asked for something outside its role
	// or scopes. Every *Denial matches it.
	ErrDenied = errors.New("authz: denied")
	// ErrInvalidIdentity: an Identity failed Validate (for example one
	// received over NATS).
	ErrInvalidIdentity = errors.New("authz: invalid identity")
	// ErrInvalidRole: a role string is not admin, operator or viewer.
	ErrInvalidRole = errors.New("authz: invalid role")
	// ErrInvalidScope: a scope has no clusters, a bad glob or a bad namespace.
	ErrInvalidScope = errors.New("authz: invalid scope")
	// ErrKeyConfig: a key file or KUBENTLY_API_KEYS entry is malformed.
	ErrKeyConfig = errors.New("authz: invalid API key configuration")
	// ErrDuplicateKey: two key entries share a name or a key hash.
	ErrDuplicateKey = errors.New("authz: duplicate API key")
	// ErrKeyFileRead: the key file could not be read (missing, unreadable).
	ErrKeyFileRead = errors.New("authz: cannot read API key file")

	// ErrOIDCConfig: an OIDCConfig is invalid or the issuer's discovery
	// document could not be fetched.
	ErrOIDCConfig = errors.New("authz: invalid OIDC configuration")
	// ErrTokenMalformed: the bearer token is not a parseable JWT.
	ErrTokenMalformed = errors.New("authz: malformed bearer token")
	// ErrTokenExpired: the token's exp is in the past.
	ErrTokenExpired = errors.New("authz: bearer token expired")
	// ErrWrongIssuer: the token's iss is not the configured issuer.
	ErrWrongIssuer = errors.New("authz: bearer token from wrong issuer")
	// ErrWrongAudience: the token's aud does not contain the configured audience.
	ErrWrongAudience = errors.New("authz: bearer token for wrong audience")
	// ErrBadSignature: the token's signature does not verify against the
	// issuer's keys (or is otherwise invalid: alg, nbf).
	ErrBadSignature = errors.New("authz: bearer token signature invalid")
	// ErrMissingRole: the token has no role claim and no DefaultRole is set.
	ErrMissingRole = errors.New("authz: bearer token has no role claim")
	// ErrBadRoleClaim: the role claim is not a string naming a known role.
	ErrBadRoleClaim = errors.New("authz: bearer token role claim invalid")
	// ErrBadScopesClaim: the scopes claim is not a valid list of scopes.
	ErrBadScopesClaim = errors.New("authz: bearer token scopes claim invalid")
	// ErrMissingUsername: the username claim is absent, empty or invalid.
	ErrMissingUsername = errors.New("authz: bearer token has no usable username claim")
	// ErrEmailNotVerified: UsernameClaim is "email" and email_verified is false.
	ErrEmailNotVerified = errors.New("authz: bearer token email not verified")

	// ErrLimitConfig: a LimitConfig is invalid.
	ErrLimitConfig = errors.New("authz: invalid rate limit configuration")
)

// DenialReason is a stable, machine-readable reason for a Denial. Its text
// never changes once released; clients and audit records switch on it.
type DenialReason string

// The denial reasons.
const (
	// ReasonRoleForbidden: the identity's role does not grant the action.
	ReasonRoleForbidden DenialReason = "role_forbidden"
	// ReasonClusterOutOfScope: no scope of the identity matches the cluster.
	ReasonClusterOutOfScope DenialReason = "cluster_out_of_scope"
	// ReasonNamespaceOutOfScope: the namespace is not in the identity's
	// namespace list for the cluster (or the request names no namespace).
	ReasonNamespaceOutOfScope DenialReason = "namespace_out_of_scope"
	// ReasonAllNamespacesOutOfScope: the request spans all namespaces (-A)
	// but the identity is limited to a namespace list for the cluster.
	ReasonAllNamespacesOutOfScope DenialReason = "all_namespaces_out_of_scope"
)

// Denial explains why an authenticated identity may not do something. It
// is an error matching ErrDenied and is JSON-serialisable so the dispatcher
// can return it verbatim.
type Denial struct {
	// Reason is the machine-readable reason.
	Reason DenialReason `json:"reason"`
	// Message is a human-readable explanation; it names the identity,
	// cluster and namespace involved, never credentials.
	Message string `json:"message"`
}

// Error implements error.
func (d *Denial) Error() string { return fmt.Sprintf("authz: denied (%s): %s", d.Reason, d.Message) }

// Unwrap makes errors.Is(d, ErrDenied) true.
func (d *Denial) Unwrap() error { return ErrDenied }

func deny(reason DenialReason, format string, args ...any) *Denial {
	return &Denial{Reason: reason, Message: fmt.Sprintf(format, args...)}
}
