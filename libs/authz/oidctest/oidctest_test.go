package oidctest_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/authz/oidctest"
)

func TestIssuerServesDiscoveryAndKeys(t *testing.T) {
	iss := oidctest.New(t)
	get := func(path string, v any) {
		t.Helper()
		resp, err := iss.Client().Get(iss.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %s", path, resp.Status)
		}
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	get("/.well-known/openid-configuration", &disc)
	if disc.Issuer != iss.URL() || !strings.HasPrefix(disc.JWKSURI, iss.URL()) {
		t.Errorf("discovery = %+v; want issuer %s", disc, iss.URL())
	}
	var jwks struct {
		Keys []map[string]any `json:"keys"`
	}
	get("/keys", &jwks)
	if len(jwks.Keys) != 1 || jwks.Keys[0]["kty"] != "RSA" || jwks.Keys[0]["d"] != nil {
		t.Errorf("jwks = %v; want one public RSA key", jwks.Keys)
	}
	iss.Rotate()
	get("/keys", &jwks)
	if len(jwks.Keys) != 2 {
		t.Errorf("after Rotate: %d keys; want 2", len(jwks.Keys))
	}
	if tok := iss.Issue(map[string]any{"x": 1}, time.Minute); strings.Count(tok, ".") != 2 {
		t.Errorf("Issue = %q; want a compact JWS", tok)
	}
}
