package app

import (
	"context"
	"errors"
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
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store/backend"
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
	checkFor(t, 5*time.Second, 50*time.Millisecond, func() error {
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
	checkFor(t, 5*time.Second, 50*time.Millisecond, func() error {
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

func checkFor(t *testing.T, total, every time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(total)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(every)
	}
	t.Fatalf("condition not met after %s: %v", total, err)
}
