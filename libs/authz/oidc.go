package authz

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// Default OIDC claim names.
const (
	// DefaultRoleClaim holds the role name (a string).
	DefaultRoleClaim = "kubently_role"
	// DefaultScopesClaim holds a JSON array of {clusters, namespaces}.
	DefaultScopesClaim = "kubently_scopes"
	// DefaultUsernameClaim names the user.
	DefaultUsernameClaim = "sub"
)

// OIDCConfig configures an OIDCVerifier.
type OIDCConfig struct {
	// Issuer is the issuer URL; it must match the discovery document and
	// every token's iss exactly. Required.
	Issuer string
	// Audience must be one of a token's aud values. Required.
	Audience string
	// RoleClaim names the claim holding the role. Empty means
	// DefaultRoleClaim.
	RoleClaim string
	// ScopesClaim names the claim holding the scopes. Empty means
	// DefaultScopesClaim. A token without it gets DefaultScopes. Admin
	// tokens' scopes are ignored (admins are unscoped).
	ScopesClaim string
	// UsernameClaim names the claim used as Identity.Name. Empty means
	// DefaultUsernameClaim ("sub"); "email" is common, and then a token
	// with email_verified false is rejected.
	UsernameClaim string
	// DefaultRole applies to tokens without a role claim. Empty means such
	// tokens are rejected (ErrMissingRole).
	DefaultRole Role
	// DefaultScopes apply to non-admin tokens without a scopes claim. Nil
	// means none: such identities can reach no cluster.
	DefaultScopes []Scope
	// HTTPClient fetches discovery and keys. Nil means http.DefaultClient.
	HTTPClient *http.Client
	// Now returns the current time for expiry checks; nil means time.Now.
	Now func() time.Time
}

func (c *OIDCConfig) setDefaultsAndValidate() error {
	if c.Issuer == "" {
		return fmt.Errorf("%w: issuer is required", ErrOIDCConfig)
	}
	if c.Audience == "" {
		return fmt.Errorf("%w: audience is required", ErrOIDCConfig)
	}
	if c.RoleClaim == "" {
		c.RoleClaim = DefaultRoleClaim
	}
	if c.ScopesClaim == "" {
		c.ScopesClaim = DefaultScopesClaim
	}
	if c.UsernameClaim == "" {
		c.UsernameClaim = DefaultUsernameClaim
	}
	if c.DefaultRole != "" && !c.DefaultRole.Valid() {
		return fmt.Errorf("%w: default role: %w: %q", ErrOIDCConfig, ErrInvalidRole, truncate(string(c.DefaultRole), 32))
	}
	if len(c.DefaultScopes) > MaxScopes {
		return fmt.Errorf("%w: more than %d default scopes", ErrOIDCConfig, MaxScopes)
	}
	for i, s := range c.DefaultScopes {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("%w: default scope %d: %w", ErrOIDCConfig, i, err)
		}
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}

// OIDCVerifier turns OIDC bearer tokens (JWTs) into Identities. Safe for
// concurrent use.
type OIDCVerifier struct {
	cfg      OIDCConfig
	verifier *oidc.IDTokenVerifier
}

// NewOIDCVerifier validates cfg and fetches the issuer's discovery
// document (so it fails if the issuer is unreachable). Signing keys are
// fetched lazily and refreshed when a token names an unknown key. ctx
// bounds the discovery request only.
func NewOIDCVerifier(ctx context.Context, cfg OIDCConfig) (*OIDCVerifier, error) {
	if err := cfg.setDefaultsAndValidate(); err != nil {
		return nil, err
	}
	if cfg.HTTPClient != nil {
		ctx = oidc.ClientContext(ctx, cfg.HTTPClient)
	}
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("%w: discovery: %w", ErrOIDCConfig, err)
	}
	// The key set keeps the HTTP client but not ctx's cancellation.
	keyCtx := context.WithoutCancel(ctx)
	v := provider.VerifierContext(keyCtx, &oidc.Config{ClientID: cfg.Audience, Now: cfg.Now})
	return &OIDCVerifier{cfg: cfg, verifier: v}, nil
}

// Verify checks rawBearer (the token without "Bearer ") and maps its
// claims to an Identity with Source "oidc". Errors wrap one of
// ErrTokenMalformed, ErrBadSignature, ErrWrongIssuer, ErrWrongAudience,
// ErrTokenExpired, ErrMissingRole, ErrBadRoleClaim, ErrBadScopesClaim,
// ErrMissingUsername or ErrEmailNotVerified; all mean 401.
func (v *OIDCVerifier) Verify(ctx context.Context, rawBearer string) (Identity, error) {
	tok, err := v.verifier.Verify(ctx, rawBearer)
	if err != nil {
		return Identity{}, v.classify(rawBearer, err)
	}
	var claims map[string]json.RawMessage
	if err := tok.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("%w: claims: %w", ErrTokenMalformed, err)
	}
	name, err := v.username(claims)
	if err != nil {
		return Identity{}, err
	}
	role, err := v.role(claims)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Name: name, Role: role, Source: SourceOIDC}
	if role != RoleAdmin {
		if id.Scopes, err = v.scopes(claims); err != nil {
			return Identity{}, err
		}
	}
	if err := id.Validate(); err != nil {
		return Identity{}, fmt.Errorf("%w: %w", ErrBadScopesClaim, err)
	}
	return id, nil
}

// classify maps a go-oidc failure to a sentinel. go-oidc's verdict is
// authoritative; only its error type is opaque (apart from expiry), so the
// unverified payload is read to tell issuer and audience mismatches from
// bad signatures. Nothing from an unverified token is ever trusted beyond
// choosing the error message.
func (v *OIDCVerifier) classify(raw string, err error) error {
	if _, ok := errors.AsType[*oidc.TokenExpiredError](err); ok {
		return fmt.Errorf("%w: %w", ErrTokenExpired, err)
	}
	var c struct {
		Issuer   string          `json:"iss"`
		Audience json.RawMessage `json:"aud"`
	}
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return fmt.Errorf("%w: want a three-part JWT", ErrTokenMalformed)
	}
	payload, perr := base64.RawURLEncoding.DecodeString(parts[1])
	if perr != nil || json.Unmarshal(payload, &c) != nil {
		return fmt.Errorf("%w: undecodable payload", ErrTokenMalformed)
	}
	if c.Issuer != v.cfg.Issuer {
		return fmt.Errorf("%w: %w", ErrWrongIssuer, err)
	}
	var aud []string
	if json.Unmarshal(c.Audience, &aud) != nil {
		var one string
		_ = json.Unmarshal(c.Audience, &one)
		aud = []string{one}
	}
	if !slices.Contains(aud, v.cfg.Audience) {
		return fmt.Errorf("%w: %w", ErrWrongAudience, err)
	}
	return fmt.Errorf("%w: %w", ErrBadSignature, err)
}

func (v *OIDCVerifier) username(claims map[string]json.RawMessage) (string, error) {
	var name string
	if raw, ok := claims[v.cfg.UsernameClaim]; !ok || json.Unmarshal(raw, &name) != nil || !validUsername(name) {
		return "", fmt.Errorf("%w: claim %q", ErrMissingUsername, v.cfg.UsernameClaim)
	}
	if v.cfg.UsernameClaim == "email" {
		var verified *bool
		if raw, ok := claims["email_verified"]; ok && json.Unmarshal(raw, &verified) == nil && verified != nil && !*verified {
			return "", ErrEmailNotVerified
		}
	}
	return name, nil
}

func (v *OIDCVerifier) role(claims map[string]json.RawMessage) (Role, error) {
	raw, ok := claims[v.cfg.RoleClaim]
	if !ok || string(raw) == "null" || string(raw) == `""` {
		if v.cfg.DefaultRole == "" {
			return "", fmt.Errorf("%w: claim %q", ErrMissingRole, v.cfg.RoleClaim)
		}
		return v.cfg.DefaultRole, nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%w: claim %q is not a string", ErrBadRoleClaim, v.cfg.RoleClaim)
	}
	r, err := ParseRole(s)
	if err != nil {
		return "", fmt.Errorf("%w: claim %q: %w", ErrBadRoleClaim, v.cfg.RoleClaim, err)
	}
	return r, nil
}

func (v *OIDCVerifier) scopes(claims map[string]json.RawMessage) ([]Scope, error) {
	raw, ok := claims[v.cfg.ScopesClaim]
	if !ok || string(raw) == "null" {
		return slices.Clone(v.cfg.DefaultScopes), nil
	}
	var scopes []Scope
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&scopes); err != nil {
		return nil, fmt.Errorf("%w: claim %q: want [{\"clusters\": [...], \"namespaces\": [...]}]", ErrBadScopesClaim, v.cfg.ScopesClaim)
	}
	if len(scopes) > MaxScopes {
		return nil, fmt.Errorf("%w: claim %q: more than %d scopes", ErrBadScopesClaim, v.cfg.ScopesClaim, MaxScopes)
	}
	for i, s := range scopes {
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%w: claim %q: scope %d: %w", ErrBadScopesClaim, v.cfg.ScopesClaim, i, err)
		}
	}
	return scopes, nil
}
