package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
	"kubently.io/services/gateway/internal/auth"
)

// streamRequest opens an executor stream with token and returns its
// status and, on 200, a channel closed when the stream ends.
func streamRequest(t *testing.T, e *env, cluster, token string) (int, <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.http.URL+"/v1/executor/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set(contracts.HeaderClusterID, cluster)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer res.Body.Close()
		buf := make([]byte, 1024)
		for {
			if _, err := res.Body.Read(buf); err != nil {
				return
			}
		}
	}()
	return res.StatusCode, done
}

func TestTokenRoutesRolesAndInput(t *testing.T) {
	e := newEnv(t, envOpts{})
	tests := []struct {
		name, method, path, key string
		want                    int
		code                    contracts.ErrorCode
	}{
		{"no key", "POST", "/v1/clusters/new-1/token", "", 401, contracts.CodeUnauthorized},
		{"operator create", "POST", "/v1/clusters/new-1/token", operatorKey, 403, contracts.CodeForbidden},
		{"viewer rotate", "POST", "/v1/clusters/dev-1/token/rotate", viewerKey, 403, contracts.CodeForbidden},
		{"scoped operator revoke", "DELETE", "/v1/clusters/dev-1/token", devKey, 403, contracts.CodeForbidden},
		{"bad id create", "POST", "/v1/clusters/Bad_ID/token", adminKey, 400, contracts.CodeInvalidID},
		{"bad id rotate", "POST", "/v1/clusters/a.b/token/rotate", adminKey, 400, contracts.CodeInvalidID},
		{"too long id", "DELETE", "/v1/clusters/" + strings.Repeat("a", 64) + "/token", adminKey, 400, contracts.CodeInvalidID},
		{"rotate unknown", "POST", "/v1/clusters/nope-1/token/rotate", adminKey, 404, contracts.CodeUnknownCluster},
		{"revoke unknown", "DELETE", "/v1/clusters/nope-1/token", adminKey, 404, contracts.CodeUnknownCluster},
		{"create existing", "POST", "/v1/clusters/dev-1/token", adminKey, 409, contracts.CodeClusterExists},
		{"GET not allowed", "GET", "/v1/clusters/dev-1/token", adminKey, 405, contracts.CodeMethodNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.do(t, tt.method, tt.path, tt.key, nil)
			if r.status != tt.want {
				t.Fatalf("%s %s = %d %s; want %d", tt.method, tt.path, r.status, r.body, tt.want)
			}
			if got := r.apiError(t); got.Code != tt.code {
				t.Errorf("code = %s; want %s", got.Code, tt.code)
			}
		})
	}
	// Nothing was changed by the refused requests.
	rec, err := e.st.GetCluster(context.Background(), "dev-1")
	if err != nil || rec.TokenHash != auth.HashToken("dev-1-token-0123456789") {
		t.Errorf("dev-1 changed by refused requests: %+v, %v", rec, err)
	}
	if _, err := e.st.GetCluster(context.Background(), "new-1"); err == nil {
		t.Error("new-1 registered by a refused create")
	}
}

func TestTokenLifecycle(t *testing.T) {
	e := newEnv(t, envOpts{})
	ctx := context.Background()

	// Create: 201, token once, stored hashed, a stream with it works.
	r := e.do(t, "POST", "/v1/clusters/new-1/token", adminKey, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create = %d %s; want 201", r.status, r.body)
	}
	var created contracts.ClusterToken
	if err := json.Unmarshal(r.body, &created); err != nil {
		t.Fatal(err)
	}
	if created.Cluster != "new-1" || !strings.HasPrefix(created.Token, tokenPrefix) || len(created.Token) != len(tokenPrefix)+43 {
		t.Fatalf("create answer %+v; want cluster new-1 and a kbt_ token of 256 bits", created)
	}
	rec, err := e.st.GetCluster(ctx, "new-1")
	if err != nil || rec.TokenHash != auth.HashToken(created.Token) {
		t.Fatalf("registry record %+v, %v; want the token's hash", rec, err)
	}
	if strings.Contains(e.logs.String(), created.Token) {
		t.Error("the token appears in the logs")
	}
	if r := e.do(t, "POST", "/v1/clusters/new-1/token", adminKey, nil); r.status != http.StatusConflict {
		t.Errorf("second create = %d; want 409", r.status)
	}

	// Rotate: the open stream closes at once, the old token is refused,
	// the new one works.
	status, closed := streamRequest(t, e, "new-1", created.Token)
	if status != http.StatusOK {
		t.Fatalf("stream with the created token = %d; want 200", status)
	}
	testkit.CheckFor(t, 5*time.Second, 10*time.Millisecond, func() error {
		if e.srv.cfg.Hub.Streams() == 0 {
			return context.DeadlineExceeded
		}
		return nil
	})
	r = e.do(t, "POST", "/v1/clusters/new-1/token/rotate", adminKey, nil)
	if r.status != http.StatusOK {
		t.Fatalf("rotate = %d %s; want 200", r.status, r.body)
	}
	var rotated contracts.ClusterToken
	if err := json.Unmarshal(r.body, &rotated); err != nil {
		t.Fatal(err)
	}
	if rotated.Token == created.Token || rotated.Token == "" {
		t.Fatalf("rotate returned %q; want a new token", rotated.Token)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second): // nothing else closes it: the rotation did
		t.Fatal("stream with the rotated-out token still open after 30s")
	}
	if status, _ := streamRequest(t, e, "new-1", created.Token); status != http.StatusUnauthorized {
		t.Errorf("stream with the old token = %d; want 401", status)
	}
	status, closed = streamRequest(t, e, "new-1", rotated.Token)
	if status != http.StatusOK {
		t.Fatalf("stream with the new token = %d; want 200", status)
	}

	// Revoke: stream closed, cluster still listed (revoked_at), no token works.
	r = e.do(t, "DELETE", "/v1/clusters/new-1/token", adminKey, nil)
	if r.status != http.StatusOK {
		t.Fatalf("revoke = %d %s; want 200", r.status, r.body)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("stream still open 30s after revoke")
	}
	if status, _ := streamRequest(t, e, "new-1", rotated.Token); status != http.StatusUnauthorized {
		t.Errorf("stream after revoke = %d; want 401", status)
	}
	if r := e.do(t, "DELETE", "/v1/clusters/new-1/token", adminKey, nil); r.status != http.StatusOK {
		t.Errorf("second revoke = %d; want 200 (idempotent)", r.status)
	}
	r = e.do(t, "GET", "/v1/clusters", adminKey, nil)
	var list contracts.ClusterList
	if err := json.Unmarshal(r.body, &list); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range list.Clusters {
		if c.ID == "new-1" {
			found = true
			if c.RevokedAt == nil || c.Connected {
				t.Errorf("GET /v1/clusters new-1 = %+v; want revoked_at set, not connected", c)
			}
		}
	}
	if !found {
		t.Error("revoked cluster missing from GET /v1/clusters")
	}

	// Create on a revoked cluster issues a new token.
	r = e.do(t, "POST", "/v1/clusters/new-1/token", adminKey, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("create after revoke = %d %s; want 201", r.status, r.body)
	}
	var again contracts.ClusterToken
	_ = json.Unmarshal(r.body, &again)
	if status, _ := streamRequest(t, e, "new-1", again.Token); status != http.StatusOK {
		t.Errorf("stream with the re-issued token = %d; want 200", status)
	}

	// Audit: one record per action, success and denial, never the token.
	e.do(t, "DELETE", "/v1/clusters/new-1/token", operatorKey, nil)
	var recs []audit.Record
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		_, p := e.audit(t, adminKey, "?cluster=new-1&limit=1000")
		recs = p.Records
		if len(recs) < 6 {
			return context.DeadlineExceeded
		}
		return nil
	})
	counts := map[string]int{}
	for _, rec := range recs {
		b, _ := json.Marshal(rec)
		for _, tok := range []string{created.Token, rotated.Token, again.Token} {
			if strings.Contains(string(b), tok) {
				t.Errorf("audit record holds a token: %s", b)
			}
		}
		counts[string(rec.Event)+"/"+string(rec.Outcome)]++
	}
	want := map[string]int{
		"token_created/success": 2, "token_created/failure": 1, "token_rotated/success": 1,
		"token_revoked/success": 2, "token_revoked/denied": 1,
	}
	for k, n := range want {
		if counts[k] != n {
			t.Errorf("audit %s: %d records; want %d (all: %v)", k, counts[k], n, counts)
		}
	}
}

// raceStore revokes the cluster between executorAuth's registry read and
// the stream's re-check, as a revoke on another replica could.
type raceStore struct {
	Store
	reads int
}

func (s *raceStore) GetCluster(ctx context.Context, id string) (store.ClusterRecord, error) {
	rec, err := s.Store.GetCluster(ctx, id)
	if s.reads++; s.reads == 1 && err == nil {
		now := time.Now()
		rev := store.ClusterRecord{ID: id, CreatedAt: rec.CreatedAt, UpdatedAt: now, RevokedAt: &now}
		if err := s.SwapCluster(ctx, rec.TokenHash, rev); err != nil {
			return rec, err
		}
	}
	return rec, err
}

func TestStreamRacingRevokeRefused(t *testing.T) {
	rs := &raceStore{}
	e := newEnv(t, envOpts{wrapStore: func(s Store) Store { rs.Store = s; return rs }})
	if status, _ := streamRequest(t, e, "dev-1", "dev-1-token-0123456789"); status != http.StatusUnauthorized {
		t.Errorf("stream that raced a revoke = %d; want 401", status)
	}
	if n := e.srv.cfg.Hub.Streams(); n != 0 {
		t.Errorf("hub holds %d streams; want 0", n)
	}
}
