package app

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store/backend"
	"kubently.io/libs/testkit"
)

func TestValidate(t *testing.T) {
	base := Config{Heartbeat: time.Second}
	base.NATSURL = "nats://127.0.0.1:4222"
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"zero defaults", func(*Config) {}, true},
		{"role key", func(c *Config) { c.APIKeys = []string{"ops:admin:0123456789abcdef"} }, true},
		{"bad role", func(c *Config) { c.APIKeys = []string{"ops:boss:0123456789abcdef"} }, false},
		{"oidc without audience", func(c *Config) { c.OIDCIssuer = "https://idp.example.com" }, false},
		{"oidc not a url", func(c *Config) { c.OIDCIssuer = "idp"; c.OIDCAudience = "k" }, false},
		{"bad default role", func(c *Config) { c.OIDCDefaultRole = "root" }, false},
		{"negative rate", func(c *Config) { c.RateLimitPerIdentity = -1 }, false},
		{"burst without rate is dropped", func(c *Config) { c.RateLimitIdentityBurst = 40 }, true},
		{"replicas", func(c *Config) { c.AuditReplicas = 7 }, false},
		{"max age", func(c *Config) { c.AuditMaxAge = time.Minute }, false},
		{"reload", func(c *Config) { c.APIKeysReload = time.Millisecond }, false},
		{"contact timeout 2 heartbeats", func(c *Config) { c.ExecutorContactTimeout = 2 * time.Second }, true},
		{"contact timeout below 2 heartbeats", func(c *Config) { c.ExecutorContactTimeout = 1500 * time.Millisecond }, false},
		{"contact timeout above 10m", func(c *Config) { c.ExecutorContactTimeout = 11 * time.Minute }, false},
		{"read timeout too short", func(c *Config) { c.ReadTimeout = time.Millisecond }, false},
		{"idle timeout too long", func(c *Config) { c.IdleTimeout = 2 * time.Hour }, false},
		{"header limit too small", func(c *Config) { c.MaxHeaderBytes = 100 }, false},
		{"header limit too large", func(c *Config) { c.MaxHeaderBytes = 2 << 20 }, false},
		{"back-off window", func(c *Config) { c.AuthBackoffWindow = time.Millisecond }, false},
		{"back-off off", func(c *Config) { c.AuthBackoffFailures = -1 }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base
			tt.mod(&c)
			if err := c.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate() = %v; want ok %v", err, tt.ok)
			}
		})
	}
}

// TestDefaultConfig: the documented defaults parse and validate, and turn
// the rate limits, the back-off and the stream caps on (what `kubently
// dev` relies on).
func TestDefaultConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatalf("DefaultConfig().Validate() = %v", err)
	}
	l := c.limits()
	if l.PerIdentity.Rate != 20 || l.PerIdentity.Burst != 40 || l.PerCluster.Rate != 100 || l.PerCluster.Burst != 200 {
		t.Errorf("default rate limits = %+v; want 20/40 per identity, 100/200 per cluster", l)
	}
	h := c.httpLimits()
	if h.AuthBackoff.Failures != 10 || h.AuditStreamsPerIdentity != 4 || h.ExecutorStreamsPerCluster != 16 || h.ReadTimeout != 30*time.Second || h.MaxHeaderBytes != 32<<10 {
		t.Errorf("default HTTP limits = %+v", h)
	}
	if c.OpsAddr != ":9090" || c.MetricsOnClientPort {
		t.Errorf("ops addr %q, metrics on client port %v; want :9090, false", c.OpsAddr, c.MetricsOnClientPort)
	}
}

type started struct {
	url string
	js  jetstream.JetStream
}

func start(t *testing.T, cfg Config) (started, error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ns := natstest.RunServer(t)
	nc := natstest.Connect(t, ns)
	st, err := backend.Open(ctx, backend.Config{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg.NATSURL = ns.ClientURL()
	if cfg.Heartbeat == 0 {
		cfg.Heartbeat = time.Second
	}
	a, err := Start(ctx, cfg, Deps{Conn: nc, Store: st, Log: logging.New(logging.Config{Level: "error", Format: "json"})})
	if err != nil {
		return started{}, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	js, _ := jetstream.New(nc)
	return started{url: "http://" + ln.Addr().String(), js: js}, nil
}

func get(t *testing.T, url, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url+"/v1/clusters", nil)
	req.Header.Set(contracts.HeaderAPIKey, key)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func TestKeyFileReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.yaml")
	write := func(keys string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte("apiVersion: kubently.io/v1\nkind: APIKeys\nkeys:\n"+keys), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	const carolKey, daveKey = "carol-key-0123456789", "dave-key-0123456789"
	write("  - {name: carol, role: viewer, key: " + carolKey + ", scopes: [{clusters: ['*']}]}\n")
	s, err := start(t, Config{APIKeys: []string{"env:env-key-0123456789"}, APIKeysFile: path, APIKeysReload: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if got := get(t, s.url, carolKey); got != http.StatusOK {
		t.Fatalf("carol: got %d; want 200", got)
	}
	write("  - {name: dave, role: operator, sha256: '" + authz.HashKey(daveKey) + "', scopes: [{clusters: ['*']}]}\n")
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		if get(t, s.url, daveKey) != http.StatusOK || get(t, s.url, carolKey) != http.StatusUnauthorized {
			return errors.New("reload not seen yet")
		}
		return nil
	})
	if got := get(t, s.url, "env-key-0123456789"); got != http.StatusOK {
		t.Errorf("env key after reload: got %d; want 200", got)
	}
	r, err := audit.NewReader(audit.ReaderConfig{JS: s.js})
	if err != nil {
		t.Fatal(err)
	}
	testkit.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		res, err := r.Query(context.Background(), audit.Filter{Event: audit.EventKeyChanged}, audit.Page{})
		if err != nil {
			return err
		}
		var got []string
		for _, rec := range res.Records {
			got = append(got, rec.Target+":"+rec.Reason+":"+rec.Role)
			if strings.Contains(rec.Message, authz.HashKey(daveKey)) || strings.Contains(rec.Message, carolKey) {
				t.Errorf("key_changed record holds key material: %+v", rec)
			}
		}
		if strings.Join(got, ",") != "carol:removed:viewer,dave:added:operator" {
			return errors.New("key_changed records: " + strings.Join(got, ","))
		}
		return nil
	})
	// A broken file keeps the last good keys.
	write("  - {name: dave, role: operator}\n")
	time.Sleep(300 * time.Millisecond) // no observable change to poll for
	if got := get(t, s.url, daveKey); got != http.StatusOK {
		t.Errorf("dave after a broken file: got %d; want 200", got)
	}
}

func TestOIDCUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	_, err = start(t, Config{OIDCIssuer: "http://" + addr, OIDCAudience: "kubently"})
	if err == nil || !strings.Contains(err.Error(), "OIDC issuer") || !errors.Is(err, authz.ErrOIDCConfig) {
		t.Fatalf("Start = %v; want an OIDC issuer error", err)
	}
}

// TestRunOpsAddress: Run serves /metrics on the ops address, behind the
// metrics token, and not on the client port; /healthz on both.
func TestRunOpsAddress(t *testing.T) {
	const token = "metrics-token-0123456789"
	free := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = ln.Close() }()
		return ln.Addr().String()
	}
	ns := natstest.RunServer(t)
	cfg := DefaultConfig()
	cfg.NATSURL = ns.ClientURL()
	cfg.ConnConfig = natstest.ConnConfig(natsutil.RoleGateway)
	cfg.Addr, cfg.OpsAddr, cfg.MetricsToken = free(), free(), token
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, logging.New(logging.Config{Level: "error", Format: "json"})) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Logf("gateway Run: %v", err)
			}
		case <-time.After(60 * time.Second):
			t.Error("Run did not return")
		}
	})
	get := func(url, bearer string) (int, string, error) {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		if bearer != "" {
			req.Header.Set("Authorization", "Bearer "+bearer)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, "", err
		}
		defer func() { _ = res.Body.Close() }()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b), nil
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, _, err := get("http://"+cfg.Addr+"/healthz", "")
		if err == nil && code == http.StatusOK {
			break
		}
		select {
		case err := <-done:
			done <- err // the cleanup's receive
			t.Fatalf("gateway Run: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway not up: %d %v", code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	tests := []struct {
		name, url, bearer string
		want              int
	}{
		{"client port has no /metrics", "http://" + cfg.Addr + "/metrics", token, http.StatusNotFound},
		{"ops /metrics without token", "http://" + cfg.OpsAddr + "/metrics", "", http.StatusUnauthorized},
		{"ops /metrics with token", "http://" + cfg.OpsAddr + "/metrics", token, http.StatusOK},
		{"ops /healthz", "http://" + cfg.OpsAddr + "/healthz", "", http.StatusOK},
	}
	for _, tt := range tests {
		code, body, err := get(tt.url, tt.bearer)
		if err != nil || code != tt.want {
			t.Errorf("%s: %d %v; want %d", tt.name, code, err, tt.want)
		}
		if code == http.StatusOK && strings.HasSuffix(tt.url, "/metrics") && !strings.Contains(body, "kubently_gateway_http_request_duration_seconds") {
			t.Errorf("%s: the gateway's metrics are missing", tt.name)
		}
	}
}
