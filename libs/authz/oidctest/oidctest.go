// Package oidctest runs a local OpenID Connect issuer for tests: an
// httptest.Server serving /.well-known/openid-configuration and a JWKS,
// with an RSA key generated at start, and Issue to sign ID tokens.
//
// # Usage
//
//	iss := oidctest.New(t)
//	v, err := authz.NewOIDCVerifier(ctx, authz.OIDCConfig{Issuer: iss.URL(), Audience: oidctest.DefaultAudience})
//	tok := iss.Issue(map[string]any{"kubently_role": "operator"}, time.Minute)
//
// # Concurrency
//
// An Issuer is safe for concurrent use; Rotate may run while tokens are
// issued and verified.
package oidctest

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Defaults used by Issue for claims the caller does not set.
const (
	// DefaultAudience is the aud of issued tokens.
	DefaultAudience = "kubently"
	// DefaultSubject is the sub of issued tokens.
	DefaultSubject = "test-user"
)

// Issuer is a local OIDC issuer.
type Issuer struct {
	tb  testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	signer jose.Signer
	kid    string
	// published are the public keys served in the JWKS.
	published []jose.JSONWebKey
}

// New starts an issuer and stops it in t.Cleanup. Its issuer URL is the
// server's URL (http://127.0.0.1:port, no trailing slash).
func New(t testing.TB) *Issuer {
	t.Helper()
	i := &Issuer{tb: t}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", i.serveDiscovery)
	mux.HandleFunc("GET /keys", i.serveJWKS)
	i.srv = httptest.NewServer(mux)
	t.Cleanup(i.srv.Close)
	i.Rotate()
	return i
}

// URL returns the issuer URL (the iss of its tokens).
func (i *Issuer) URL() string { return i.srv.URL }

// Client returns an HTTP client for the issuer's server.
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// Rotate generates a new signing key. The JWKS keeps serving the previous
// public keys too, as a real issuer does during rotation.
func (i *Issuer) Rotate() {
	i.tb.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		i.tb.Fatalf("oidctest: generate key: %v", err)
	}
	kidBytes := make([]byte, 8)
	_, _ = rand.Read(kidBytes)
	kid := hex.EncodeToString(kidBytes)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: string(jose.RS256)}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		i.tb.Fatalf("oidctest: signer: %v", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	i.signer, i.kid = signer, kid
	i.published = append(i.published, jose.JSONWebKey{Key: &key.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"})
}

// Issue signs a token with the current key. Claims default to iss = URL,
// aud = DefaultAudience, sub = DefaultSubject, iat = now and exp = now +
// ttl (a negative ttl gives an expired token); claims overrides them, and
// a nil value removes a claim.
func (i *Issuer) Issue(claims map[string]any, ttl time.Duration) string {
	i.tb.Helper()
	now := time.Now()
	all := map[string]any{
		"iss": i.URL(),
		"aud": DefaultAudience,
		"sub": DefaultSubject,
		"iat": now.Unix(),
		"exp": now.Add(ttl).Unix(),
	}
	maps.Copy(all, claims)
	for k, v := range all {
		if v == nil {
			delete(all, k)
		}
	}
	payload, err := json.Marshal(all)
	if err != nil {
		i.tb.Fatalf("oidctest: marshal claims: %v", err)
	}
	i.mu.Lock()
	signer := i.signer
	i.mu.Unlock()
	jws, err := signer.Sign(payload)
	if err != nil {
		i.tb.Fatalf("oidctest: sign: %v", err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		i.tb.Fatalf("oidctest: serialize: %v", err)
	}
	return tok
}

func (i *Issuer) serveDiscovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer":                                i.URL(),
		"jwks_uri":                              i.URL() + "/keys",
		"authorization_endpoint":                i.URL() + "/auth",
		"token_endpoint":                        i.URL() + "/token",
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
		"id_token_signing_alg_values_supported": []string{string(jose.RS256)},
	})
}

func (i *Issuer) serveJWKS(w http.ResponseWriter, _ *http.Request) {
	i.mu.Lock()
	set := jose.JSONWebKeySet{Keys: append([]jose.JSONWebKey(nil), i.published...)}
	i.mu.Unlock()
	writeJSON(w, set)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
