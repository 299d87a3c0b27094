package auth

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/authz"
	"kubently.io/libs/authz/oidctest"
	"kubently.io/libs/contracts"
)

const aliceKey = "alice-key-0123456789"

func newAuth(t *testing.T, withOIDC bool) (*Authenticator, *oidctest.Issuer) {
	t.Helper()
	keys, err := authz.ParseEnvKeys([]string{"alice:viewer:" + aliceKey})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Keys: keys}
	var iss *oidctest.Issuer
	if withOIDC {
		iss = oidctest.New(t)
		v, err := authz.NewOIDCVerifier(context.Background(), authz.OIDCConfig{Issuer: iss.URL(), Audience: oidctest.DefaultAudience, HTTPClient: iss.Client()})
		if err != nil {
			t.Fatal(err)
		}
		cfg.OIDC = v
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a, iss
}

func TestAuthenticate(t *testing.T) {
	a, iss := newAuth(t, true)
	noOIDC, _ := newAuth(t, false)
	good := iss.Issue(map[string]any{"kubently_role": "operator", "kubently_scopes": []map[string]any{{"clusters": []string{"dev-*"}}}}, time.Minute)
	expired := iss.Issue(map[string]any{"kubently_role": "operator", "sub": "mallory"}, -time.Minute)
	wrongAud := iss.Issue(map[string]any{"kubently_role": "operator", "aud": "other"}, time.Minute)
	noRole := iss.Issue(nil, time.Minute)
	tests := []struct {
		name        string
		a           *Authenticator
		hdr         map[string]string
		wantName    string
		wantReason  Reason
		wantClaimed string
		wantErr     error
	}{
		{"api key", a, map[string]string{contracts.HeaderAPIKey: aliceKey}, "alice", "", "", nil},
		{"wrong key", a, map[string]string{contracts.HeaderAPIKey: aliceKey + "x"}, "", ReasonInvalidKey, "", ErrBadCredentials},
		{"nothing", a, nil, "", ReasonMissing, "", ErrNoCredentials},
		{"basic auth", a, map[string]string{"Authorization": "Basic YTpi"}, "", ReasonInvalidAuthzType, "", ErrBadCredentials},
		{"oidc", a, map[string]string{"Authorization": "Bearer " + good}, oidctest.DefaultSubject, "", "", nil},
		{"oidc expired", a, map[string]string{"Authorization": "Bearer " + expired}, "", ReasonTokenExpired, "oidc:mallory", ErrBadCredentials},
		{"oidc wrong audience", a, map[string]string{"Authorization": "Bearer " + wrongAud}, "", ReasonWrongAudience, "oidc:" + oidctest.DefaultSubject, ErrBadCredentials},
		{"oidc no role", a, map[string]string{"Authorization": "Bearer " + noRole}, "", ReasonBadClaims, "oidc:" + oidctest.DefaultSubject, ErrBadCredentials},
		{"garbage token", a, map[string]string{"Authorization": "Bearer not-a-jwt"}, "", ReasonTokenMalformed, "", ErrBadCredentials},
		{"bearer without oidc", noOIDC, map[string]string{"Authorization": "Bearer " + good}, "", ReasonBearerDisabled, "", ErrBearerDisabled},
		{"key wins over bearer", a, map[string]string{contracts.HeaderAPIKey: aliceKey, "Authorization": "Bearer " + good}, "alice", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/v1/clusters", nil)
			for k, v := range tt.hdr {
				r.Header.Set(k, v)
			}
			id, fail := tt.a.Authenticate(context.Background(), r)
			if tt.wantReason == "" {
				if fail != nil {
					t.Fatalf("got failure %v; want identity %s", fail, tt.wantName)
				}
				if id.Name != tt.wantName {
					t.Errorf("got identity %q; want %q", id.Name, tt.wantName)
				}
				return
			}
			if fail == nil {
				t.Fatalf("got identity %+v; want failure %s", id, tt.wantReason)
			}
			if fail.Reason != tt.wantReason || fail.Claimed != tt.wantClaimed || !errors.Is(fail, tt.wantErr) {
				t.Errorf("got %s claimed %q err %v; want %s claimed %q err %v", fail.Reason, fail.Claimed, fail.Err, tt.wantReason, tt.wantClaimed, tt.wantErr)
			}
			for _, secret := range []string{aliceKey, good, expired, wrongAud} {
				if containsAny(fail.Message, secret) || containsAny(fail.Error(), secret) {
					t.Errorf("failure %q leaks credential material", fail.Error())
				}
			}
		})
	}
	// OIDC role and scopes come from the claims.
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Authorization", "Bearer "+good)
	id, fail := a.Authenticate(context.Background(), r)
	if fail != nil {
		t.Fatal(fail)
	}
	if id.Role != authz.RoleOperator || !id.AllowsCluster("dev-1") || id.AllowsCluster("prod-1") || id.Principal() != "oidc:"+oidctest.DefaultSubject {
		t.Errorf("got %+v; want operator on dev-* as oidc:%s", id, oidctest.DefaultSubject)
	}
}

func containsAny(s, secret string) bool {
	return secret != "" && strings.Contains(s, secret)
}

func TestTokenMatches(t *testing.T) {
	h := HashToken("tok-0123456789abcdef")
	if !TokenMatches("tok-0123456789abcdef", h) {
		t.Errorf("TokenMatches(right token) = false; want true")
	}
	for _, bad := range []string{"", "tok-0123456789abcdeX"} {
		if TokenMatches(bad, h) {
			t.Errorf("TokenMatches(%q) = true; want false", bad)
		}
	}
	if TokenMatches("x", "") {
		t.Errorf("TokenMatches with empty hash = true; want false")
	}
}
