package authz_test

import (
	"encoding/base64"
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/authz"
	"kubently.io/libs/authz/oidctest"
)

func newVerifier(t *testing.T, iss *oidctest.Issuer, mutate func(*authz.OIDCConfig)) *authz.OIDCVerifier {
	t.Helper()
	cfg := authz.OIDCConfig{Issuer: iss.URL(), Audience: oidctest.DefaultAudience, HTTPClient: iss.Client()}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := authz.NewOIDCVerifier(t.Context(), cfg)
	if err != nil {
		t.Fatalf("NewOIDCVerifier: %v", err)
	}
	return v
}

func TestOIDCVerify(t *testing.T) {
	iss := oidctest.New(t)
	other := oidctest.New(t)
	prodScopes := []any{map[string]any{"clusters": []string{"prod-*"}, "namespaces": []string{"payments"}}}

	strict := newVerifier(t, iss, nil)
	withDefault := newVerifier(t, iss, func(c *authz.OIDCConfig) {
		c.DefaultRole = authz.RoleViewer
		c.DefaultScopes = []authz.Scope{{Clusters: []string{"dev-*"}}}
	})
	byEmail := newVerifier(t, iss, func(c *authz.OIDCConfig) { c.UsernameClaim = "email" })
	customClaims := newVerifier(t, iss, func(c *authz.OIDCConfig) { c.RoleClaim, c.ScopesClaim = "role", "scopes" })

	noneToken := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
		base64.RawURLEncoding.EncodeToString([]byte(`{"iss":"`+iss.URL()+`","aud":"kubently","sub":"x","kubently_role":"admin","exp":9999999999}`)) + "."

	tests := []struct {
		name    string
		v       *authz.OIDCVerifier
		token   string
		want    authz.Identity
		wantErr error
	}{
		{
			name:  "valid operator",
			v:     strict,
			token: iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": prodScopes}, time.Minute),
			want: authz.Identity{Name: oidctest.DefaultSubject, Role: authz.RoleOperator, Source: authz.SourceOIDC,
				Scopes: []authz.Scope{{Clusters: []string{"prod-*"}, Namespaces: []string{"payments"}}}},
		},
		{
			name:  "audience in list",
			v:     strict,
			token: iss.Issue(map[string]any{"aud": []string{"other", "kubently"}, "kubently_role": "viewer"}, time.Minute),
			want:  authz.Identity{Name: oidctest.DefaultSubject, Role: authz.RoleViewer, Source: authz.SourceOIDC},
		},
		{
			name:  "admin scopes ignored",
			v:     strict,
			token: iss.Issue(map[string]any{"kubently_role": "admin", "kubently_scopes": prodScopes}, time.Minute),
			want:  authz.Identity{Name: oidctest.DefaultSubject, Role: authz.RoleAdmin, Source: authz.SourceOIDC},
		},
		{
			name:  "custom claim names",
			v:     customClaims,
			token: iss.Issue(map[string]any{"role": "operator", "scopes": []any{map[string]any{"clusters": []string{"*"}}}}, time.Minute),
			want:  authz.Identity{Name: oidctest.DefaultSubject, Role: authz.RoleOperator, Source: authz.SourceOIDC, Scopes: authz.AllClusters()},
		},
		{
			name:  "email username",
			v:     byEmail,
			token: iss.Issue(map[string]any{"email": "alice@example.com", "email_verified": true, "kubently_role": "viewer"}, time.Minute),
			want:  authz.Identity{Name: "alice@example.com", Role: authz.RoleViewer, Source: authz.SourceOIDC},
		},
		{name: "email not verified", v: byEmail, token: iss.Issue(map[string]any{"email": "a@example.com", "email_verified": false, "kubently_role": "viewer"}, time.Minute), wantErr: authz.ErrEmailNotVerified},
		{name: "no email claim", v: byEmail, token: iss.Issue(map[string]any{"kubently_role": "viewer"}, time.Minute), wantErr: authz.ErrMissingUsername},
		{name: "no sub", v: strict, token: iss.Issue(map[string]any{"sub": nil, "kubently_role": "viewer"}, time.Minute), wantErr: authz.ErrMissingUsername},
		{name: "expired", v: strict, token: iss.Issue(map[string]any{"kubently_role": "operator"}, -time.Minute), wantErr: authz.ErrTokenExpired},
		{name: "wrong audience", v: strict, token: iss.Issue(map[string]any{"aud": "someone-else", "kubently_role": "operator"}, time.Minute), wantErr: authz.ErrWrongAudience},
		{name: "wrong issuer", v: strict, token: iss.Issue(map[string]any{"iss": "https://evil.example", "kubently_role": "operator"}, time.Minute), wantErr: authz.ErrWrongIssuer},
		{name: "other issuer's token", v: strict, token: other.Issue(map[string]any{"kubently_role": "operator"}, time.Minute), wantErr: authz.ErrWrongIssuer},
		{name: "signed by another key", v: strict, token: other.Issue(map[string]any{"iss": iss.URL(), "kubently_role": "admin"}, time.Minute), wantErr: authz.ErrBadSignature},
		{name: "alg none", v: strict, token: noneToken, wantErr: authz.ErrBadSignature},
		{name: "not a jwt", v: strict, token: "not-a-token", wantErr: authz.ErrTokenMalformed},
		{name: "garbage payload", v: strict, token: "a.b.c", wantErr: authz.ErrTokenMalformed},
		{name: "missing role", v: strict, token: iss.Issue(nil, time.Minute), wantErr: authz.ErrMissingRole},
		{name: "empty role", v: strict, token: iss.Issue(map[string]any{"kubently_role": ""}, time.Minute), wantErr: authz.ErrMissingRole},
		{
			name:  "missing role with default",
			v:     withDefault,
			token: iss.Issue(nil, time.Minute),
			want: authz.Identity{Name: oidctest.DefaultSubject, Role: authz.RoleViewer, Source: authz.SourceOIDC,
				Scopes: []authz.Scope{{Clusters: []string{"dev-*"}}}},
		},
		{name: "unknown role", v: withDefault, token: iss.Issue(map[string]any{"kubently_role": "root"}, time.Minute), wantErr: authz.ErrBadRoleClaim},
		{name: "role not a string", v: strict, token: iss.Issue(map[string]any{"kubently_role": []string{"admin"}}, time.Minute), wantErr: authz.ErrBadRoleClaim},
		{name: "scopes not a list", v: strict, token: iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": "prod-*"}, time.Minute), wantErr: authz.ErrBadScopesClaim},
		{name: "scopes unknown field", v: strict, token: iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": []any{map[string]any{"cluster": []string{"*"}}}}, time.Minute), wantErr: authz.ErrBadScopesClaim},
		{name: "scopes bad glob", v: strict, token: iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": []any{map[string]any{"clusters": []string{"p["}}}}, time.Minute), wantErr: authz.ErrBadScopesClaim},
		{name: "scopes empty clusters", v: strict, token: iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": []any{map[string]any{"namespaces": []string{"a"}}}}, time.Minute), wantErr: authz.ErrBadScopesClaim},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.Verify(t.Context(), tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Verify = %v, %v; want %v", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("identity (-want +got):\n%s", diff)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
}

func TestOIDCKeyRotation(t *testing.T) {
	iss := oidctest.New(t)
	v := newVerifier(t, iss, nil)
	if _, err := v.Verify(t.Context(), iss.Issue(map[string]any{"kubently_role": "viewer"}, time.Minute)); err != nil {
		t.Fatal(err)
	}
	iss.Rotate()
	if _, err := v.Verify(t.Context(), iss.Issue(map[string]any{"kubently_role": "viewer"}, time.Minute)); err != nil {
		t.Errorf("after rotation: %v", err)
	}
}

func TestOIDCConfigErrors(t *testing.T) {
	iss := oidctest.New(t)
	tests := []struct {
		name string
		cfg  authz.OIDCConfig
	}{
		{"no issuer", authz.OIDCConfig{Audience: "a"}},
		{"no audience", authz.OIDCConfig{Issuer: iss.URL()}},
		{"bad default role", authz.OIDCConfig{Issuer: iss.URL(), Audience: "a", DefaultRole: "root"}},
		{"bad default scope", authz.OIDCConfig{Issuer: iss.URL(), Audience: "a", DefaultScopes: []authz.Scope{{}}}},
		{"issuer mismatch", authz.OIDCConfig{Issuer: iss.URL() + "/", Audience: "a"}},
		{"unreachable", authz.OIDCConfig{Issuer: "http://127.0.0.1:1", Audience: "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := authz.NewOIDCVerifier(t.Context(), tt.cfg); !errors.Is(err, authz.ErrOIDCConfig) {
				t.Errorf("NewOIDCVerifier = %v; want ErrOIDCConfig", err)
			}
		})
	}
}
