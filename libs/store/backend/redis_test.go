package backend

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
)

// roundTrip writes and reads a cluster record through st.
func roundTrip(t *testing.T, st store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	now := time.Now().UTC().Truncate(time.Second)
	rec := store.ClusterRecord{ID: "c1", TokenHash: strings.Repeat("a", 64), CreatedAt: now, UpdatedAt: now}
	if err := st.PutCluster(ctx, rec); err != nil {
		t.Fatalf("put: %v", err)
	}
	got, err := st.GetCluster(ctx, "c1")
	if err != nil || got.TokenHash != rec.TokenHash {
		t.Fatalf("get: %+v %v", got, err)
	}
}

func open(t *testing.T, cfg Config) (store.Store, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := Open(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { _ = st.Close() })
	}
	return st, err
}

func TestRedisACLUser(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{Password: "default-pw",
		Args: []string{"--user", "kubently", "on", ">kubently-pw", "~*", "&*", "+@all"}})
	plain := "redis://" + srv.Addr() + "/0"
	tests := []struct {
		name    string
		url     string
		redis   RedisConfig
		wantErr bool
	}{
		{"ACL user from settings", plain, RedisConfig{Username: "kubently", Password: "kubently-pw"}, false},
		{"ACL user in the URL", "redis://kubently:kubently-pw@" + srv.Addr() + "/0", RedisConfig{}, false},
		{"requirepass", srv.URL(), RedisConfig{}, false},
		{"no credentials", plain, RedisConfig{}, true},
		{"wrong password", plain, RedisConfig{Username: "kubently", Password: "guess"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := open(t, Config{RedisURL: tt.url, Redis: tt.redis})
			if tt.wantErr {
				if err == nil {
					t.Fatal("opened; want an error")
				}
				if errors.Is(err, store.ErrUnavailable) {
					t.Fatalf("refused credentials reported as unavailable (would be retried): %v", err)
				}
				if strings.Contains(err.Error(), "guess") || strings.Contains(err.Error(), "kubently-pw") {
					t.Fatalf("error shows a password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			roundTrip(t, st)
		})
	}
}

func TestRedisTLS(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{TLS: true, Password: "pw"})
	if !strings.HasPrefix(srv.URL(), "rediss://") {
		t.Fatalf("URL %s; want rediss://", srv.URL())
	}
	st, err := open(t, Config{RedisURL: srv.URL(), Redis: RedisConfig{TLSCA: srv.CAFile()}})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, st)
	if _, err := open(t, Config{RedisURL: srv.URL()}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: got %v; want a certificate error", err)
	}
	if _, err := open(t, Config{RedisURL: "redis://" + srv.Addr() + "/0", Redis: RedisConfig{Password: "pw"}}); err == nil {
		t.Fatal("plain text to a TLS-only server: opened")
	}
}

func TestRedisSentinel(t *testing.T) {
	master := redistest.StartWith(t, redistest.Config{Password: "master-pw"})
	sentinel := redistest.StartSentinel(t, master, "kubently")
	st, err := open(t, Config{Redis: RedisConfig{SentinelMaster: "kubently", SentinelAddrs: []string{sentinel.Addr()}, Password: "master-pw"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := Name(Config{Redis: RedisConfig{SentinelMaster: "kubently"}}); got != "redis" {
		t.Fatalf("Name: got %s; want redis", got)
	}
	roundTrip(t, st)
	if _, err := open(t, Config{Redis: RedisConfig{SentinelMaster: "other", SentinelAddrs: []string{sentinel.Addr()}, Password: "master-pw"}}); err == nil {
		t.Fatal("unknown master: opened")
	}
}

// TestOpenRetry: a service started before Redis waits for it (with
// backoff) instead of exiting, and gives up when its context ends.
func TestOpenRetry(t *testing.T) {
	srv := redistest.Start(t)
	srv.Stop()
	log := slog.New(slog.DiscardHandler)

	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := openRetry(ctx, Config{RedisURL: srv.URL()}, log); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Redis down: got %v; want the context's deadline", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type result struct {
		st  store.Store
		err error
	}
	done := make(chan result, 1)
	go func() {
		st, err := openRetry(ctx, Config{RedisURL: srv.URL()}, log)
		done <- result{st, err}
	}()
	srv.Restart(t)
	r := <-done
	if r.err != nil {
		t.Fatalf("Redis came up: got %v", r.err)
	}
	defer func() { _ = r.st.Close() }()
	roundTrip(t, r.st)
}

func TestRedisConfigValidate(t *testing.T) {
	dir := t.TempDir()
	pem := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(pem, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		url   string
		r     RedisConfig
		valid bool
	}{
		{"nothing", "", RedisConfig{}, true},
		{"url only", "redis://h:6379/0", RedisConfig{}, true},
		{"tls", "rediss://h:6379/0", RedisConfig{TLSCA: pem}, true},
		{"sentinel", "", RedisConfig{SentinelMaster: "m", SentinelAddrs: []string{"h:26379"}}, true},
		{"tls files without rediss", "redis://h:6379/0", RedisConfig{TLSCA: pem}, false},
		{"missing CA file", "rediss://h:6379/0", RedisConfig{TLSCA: filepath.Join(dir, "none.pem")}, false},
		{"key without cert", "rediss://h:6379/0", RedisConfig{TLSKey: pem}, false},
		{"password without redis", "", RedisConfig{Password: "p"}, false},
		{"sentinel without addrs", "", RedisConfig{SentinelMaster: "m"}, false},
		{"sentinel bad addr", "", RedisConfig{SentinelMaster: "m", SentinelAddrs: []string{"h"}}, false},
		{"addrs without master", "", RedisConfig{SentinelAddrs: []string{"h:1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate(tt.url)
			if (err == nil) != tt.valid {
				t.Fatalf("Validate: got %v; want valid=%v", err, tt.valid)
			}
			if err != nil && !errors.Is(err, ErrBadRedis) {
				t.Fatalf("got %v; want ErrBadRedis", err)
			}
		})
	}
}
