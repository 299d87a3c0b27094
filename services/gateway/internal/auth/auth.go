// Package auth authenticates the gateway's callers: clients by API key
// (X-API-Key, looked up in an authz keyring) or by OIDC bearer token
// (Authorization: Bearer <jwt>), and executors by a per-cluster bearer
// token. Keys and tokens are held only as SHA-256 hashes and compared in
// constant time; they never appear in errors or logs.
//
// # Concurrency
//
// An Authenticator is safe for concurrent use; its key source may swap
// keyrings underneath it (a hot-reloaded key file).
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
)

// MinKeyLen is the shortest executor token accepted in config.
const MinKeyLen = authz.MinKeyLen

// Sentinel errors.
var (
	// ErrNoCredentials: the request carried no key or token.
	ErrNoCredentials = errors.New("auth: no credentials")
	// ErrBadCredentials: the key or token is not valid.
	ErrBadCredentials = errors.New("auth: invalid credentials")
	// ErrBearerDisabled: a bearer token was sent but OIDC is not configured.
	ErrBearerDisabled = errors.New("auth: bearer tokens are not accepted (OIDC is not configured)")
)

// Reason is a machine-readable reason for a failed authentication, used
// as a metric label and in auth_denied audit records.
type Reason string

// The failure reasons.
const (
	ReasonMissing          Reason = "missing_credentials"
	ReasonInvalidKey       Reason = "invalid_api_key"
	ReasonBearerDisabled   Reason = "bearer_not_enabled"
	ReasonTokenMalformed   Reason = "token_malformed"
	ReasonTokenExpired     Reason = "token_expired"
	ReasonWrongIssuer      Reason = "wrong_issuer"
	ReasonWrongAudience    Reason = "wrong_audience"
	ReasonBadSignature     Reason = "bad_signature"
	ReasonBadClaims        Reason = "bad_claims"
	ReasonInvalidAuthzType Reason = "unsupported_authorization"
)

// Failure describes a failed authentication. Its fields never hold key or
// token material.
type Failure struct {
	// Reason is the machine-readable reason.
	Reason Reason
	// Message is what the client is told.
	Message string
	// Claimed is the identity the credentials claimed, when one could be
	// read without trusting it (an OIDC token's username claim, prefixed
	// "oidc:"); empty for API keys, whose name is unknown until the key
	// matches.
	Claimed string
	// Bearer is true when the failed credential was a bearer token (for
	// the WWW-Authenticate challenge).
	Bearer bool
	// Err wraps the sentinel (ErrNoCredentials, ErrBadCredentials,
	// ErrBearerDisabled) and the authz cause.
	Err error
}

// Error implements error.
func (f *Failure) Error() string { return fmt.Sprintf("auth: %s: %s", f.Reason, f.Message) }

// Unwrap returns the cause.
func (f *Failure) Unwrap() error { return f.Err }

// KeyLookup finds the identity owning an API key (an *authz.Keyring or
// *authz.FileSource).
type KeyLookup interface {
	Lookup(presentedKey string) (authz.Identity, bool)
}

// TokenVerifier turns an OIDC bearer token into an identity (an
// *authz.OIDCVerifier).
type TokenVerifier interface {
	Verify(ctx context.Context, rawBearer string) (authz.Identity, error)
}

// Config configures New.
type Config struct {
	// Keys looks API keys up; required.
	Keys KeyLookup
	// OIDC verifies bearer tokens; nil means bearer tokens are refused.
	OIDC TokenVerifier
	// UsernameClaim is the OIDC username claim, read (unverified) from a
	// refused token to name the claimed identity in audit; empty means
	// authz.DefaultUsernameClaim.
	UsernameClaim string
}

// Authenticator authenticates client requests.
type Authenticator struct {
	cfg Config
}

// New returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Keys == nil {
		return nil, errors.New("auth: Keys is required")
	}
	if cfg.UsernameClaim == "" {
		cfg.UsernameClaim = authz.DefaultUsernameClaim
	}
	return &Authenticator{cfg: cfg}, nil
}

// OIDCEnabled reports whether bearer tokens are accepted.
func (a *Authenticator) OIDCEnabled() bool { return a.cfg.OIDC != nil }

// Authenticate identifies the caller of r: X-API-Key first, else an
// `Authorization: Bearer` token. It returns the identity or a *Failure.
func (a *Authenticator) Authenticate(ctx context.Context, r *http.Request) (authz.Identity, *Failure) {
	if key := r.Header.Get(contracts.HeaderAPIKey); key != "" {
		if id, ok := a.cfg.Keys.Lookup(key); ok {
			return id, nil
		}
		return authz.Identity{}, &Failure{Reason: ReasonInvalidKey, Message: "invalid API key", Err: ErrBadCredentials}
	}
	h := r.Header.Get("Authorization")
	if h == "" {
		msg := "missing credentials: send an API key in the " + contracts.HeaderAPIKey + " header"
		if a.OIDCEnabled() {
			msg += " or an OIDC token as Authorization: Bearer <token>"
		}
		return authz.Identity{}, &Failure{Reason: ReasonMissing, Message: msg, Err: ErrNoCredentials}
	}
	scheme, tok, _ := strings.Cut(h, " ")
	tok = strings.TrimSpace(tok)
	if !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return authz.Identity{}, &Failure{Reason: ReasonInvalidAuthzType, Message: "unsupported Authorization header: want Bearer <token>", Err: ErrBadCredentials}
	}
	if a.cfg.OIDC == nil {
		return authz.Identity{}, &Failure{Reason: ReasonBearerDisabled, Message: "bearer tokens are not accepted: OIDC is not configured; use " + contracts.HeaderAPIKey, Bearer: true, Err: ErrBearerDisabled}
	}
	id, err := a.cfg.OIDC.Verify(ctx, tok)
	if err != nil {
		reason, msg := classify(err)
		f := &Failure{Reason: reason, Message: msg, Bearer: true, Err: fmt.Errorf("%w: %w", ErrBadCredentials, err)}
		if name := claimedName(tok, a.cfg.UsernameClaim); name != "" {
			f.Claimed = authz.Identity{Name: name, Source: authz.SourceOIDC}.Principal()
		}
		return authz.Identity{}, f
	}
	return id, nil
}

// classify maps a verifier error to a reason and a client message. The
// message names the check that failed, never the token.
func classify(err error) (Reason, string) {
	switch {
	case errors.Is(err, authz.ErrTokenExpired):
		return ReasonTokenExpired, "bearer token expired"
	case errors.Is(err, authz.ErrWrongIssuer):
		return ReasonWrongIssuer, "bearer token from another issuer"
	case errors.Is(err, authz.ErrWrongAudience):
		return ReasonWrongAudience, "bearer token for another audience"
	case errors.Is(err, authz.ErrBadSignature):
		return ReasonBadSignature, "bearer token signature invalid"
	case errors.Is(err, authz.ErrTokenMalformed):
		return ReasonTokenMalformed, "malformed bearer token"
	case errors.Is(err, authz.ErrMissingRole), errors.Is(err, authz.ErrBadRoleClaim),
		errors.Is(err, authz.ErrBadScopesClaim), errors.Is(err, authz.ErrMissingUsername),
		errors.Is(err, authz.ErrEmailNotVerified):
		return ReasonBadClaims, "bearer token claims unusable: " + strings.TrimPrefix(err.Error(), "authz: ")
	}
	return ReasonBadSignature, "invalid bearer token"
}

// maxClaimedLen bounds the unverified username kept from a refused token.
const maxClaimedLen = 128

// claimedName reads the username claim of a JWT without verifying it, for
// the audit record of a refused token. It is never trusted for access.
func claimedName(tok, claim string) string {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || len(parts[1]) > 16<<10 {
		return ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims map[string]json.RawMessage
	if json.Unmarshal(payload, &claims) != nil {
		return ""
	}
	var name string
	if json.Unmarshal(claims[claim], &name) != nil || len(name) > maxClaimedLen {
		return ""
	}
	return strings.ToValidUTF8(name, "")
}

// HashToken returns the hex SHA-256 of an executor token, as stored in the
// cluster registry.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// TokenMatches compares a presented token with a stored hash in constant time.
func TokenMatches(token, storedHash string) bool {
	if token == "" || storedHash == "" {
		return false
	}
	got := HashToken(token)
	return subtle.ConstantTimeCompare([]byte(got), []byte(storedHash)) == 1
}
