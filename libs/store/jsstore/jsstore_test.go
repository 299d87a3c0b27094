package jsstore_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/jsstore"
	"kubently.io/libs/store/storetest"
)

// newStore returns a store on a new connection to srv.
func newStore(tb testing.TB, srv *server.Server) *jsstore.Store {
	tb.Helper()
	st, err := jsstore.New(tb.Context(), jsstore.Config{Conn: natstest.Connect(tb, srv), OwnerGrace: storetest.OwnerGrace, Visibility: storetest.Visibility})
	if err != nil {
		tb.Fatalf("jsstore.New() = %v; want nil", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	srv := natstest.RunServer(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, srv) })
}

func TestNewConfig(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	closed := natstest.Connect(t, srv)
	closed.Close()
	tests := []struct {
		name    string
		cfg     jsstore.Config
		wantErr error
	}{
		{name: "defaults", cfg: jsstore.Config{Conn: nc}},
		{name: "all set", cfg: jsstore.Config{Conn: nc, Replicas: 1, Storage: jetstream.MemoryStorage, Prefix: "TEST_1", OwnerGrace: time.Second, MaxQueueLen: 10}},
		{name: "no conn", cfg: jsstore.Config{}, wantErr: store.ErrInvalid},
		{name: "bad replicas", cfg: jsstore.Config{Conn: nc, Replicas: 6}, wantErr: store.ErrInvalid},
		{name: "bad storage", cfg: jsstore.Config{Conn: nc, Storage: 7}, wantErr: store.ErrInvalid},
		{name: "bad prefix", cfg: jsstore.Config{Conn: nc, Prefix: "a.b"}, wantErr: store.ErrInvalid},
		{name: "negative grace", cfg: jsstore.Config{Conn: nc, OwnerGrace: -time.Second}, wantErr: store.ErrInvalid},
		{name: "negative max queue", cfg: jsstore.Config{Conn: nc, MaxQueueLen: -1}, wantErr: store.ErrInvalid},
		{name: "closed conn", cfg: jsstore.Config{Conn: closed}, wantErr: store.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := jsstore.New(t.Context(), tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() = %v; want %v", err, tt.wantErr)
			}
			if err == nil {
				if err := st.Ping(t.Context()); err != nil {
					t.Errorf("Ping() = %v; want nil", err)
				}
			}
		})
	}
}

// TestNewConcurrent: many processes starting at once all get a store.
func TestNewConcurrent(t *testing.T) {
	srv := natstest.RunServer(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		nc := natstest.Connect(t, srv)
		wg.Go(func() {
			_, errs[i] = jsstore.New(t.Context(), jsstore.Config{Conn: nc})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Errorf("concurrent New() = %v; want nil", err)
	}
}

// TestNoJetStream: a server without JetStream is ErrUnavailable.
func TestNoJetStream(t *testing.T) {
	opts := &server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true}
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(5 * time.Second) {
		t.Fatal("server not ready")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := jsstore.New(ctx, jsstore.Config{Conn: natstest.Connect(t, srv)}); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("New() without JetStream = %v; want %v", err, store.ErrUnavailable)
	}
}

// TestRestart: sessions and queued commands survive a server restart
// (file storage), and a stopped server is ErrUnavailable.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.RunServerAt(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	nc, err := nats.Connect(srv.ClientURL(), natstest.HarnessAuth(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	st, err := jsstore.New(t.Context(), jsstore.Config{Conn: nc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	now := time.Now().UTC()
	sess := contracts.Session{ID: "s1", Cluster: "c1", Owner: "alice", CreatedAt: now, ExpiresAt: now.Add(time.Minute), TTLSeconds: 60}
	if err := st.CreateSession(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	cmd := contracts.Command{ID: "cmd1", Cluster: "c1", Argv: []string{"get", "pods"}, Deadline: now.Add(time.Minute), IssuedAt: now}
	if err := st.Enqueue(ctx, cmd); err != nil {
		t.Fatal(err)
	}

	srv.Shutdown()
	srv.WaitForShutdown()
	if _, err := st.GetSession(ctx, "s1"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetSession() with the server down = %v; want %v", err, store.ErrUnavailable)
	}
	if err := st.Ping(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping() with the server down = %v; want %v", err, store.ErrUnavailable)
	}

	srv = natstest.RunServerAt(t, port, dir)
	// The old connection reconnects on its own.
	sess.State = contracts.SessionActive
	var got contracts.Session
	deadline := time.Now().Add(10 * time.Second)
	for {
		if got, err = st.GetSession(ctx, "s1"); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("GetSession() after restart = %v; want nil", err)
	}
	if diff := cmp.Diff(sess, got); diff != "" {
		t.Errorf("GetSession() after restart mismatch (-want +got):\n%s", diff)
	}
	claimed, err := newStore(t, srv).Claim(ctx, "c1", "exec-1", 10)
	if err != nil {
		t.Fatalf("Claim() after restart = %v; want nil", err)
	}
	if diff := cmp.Diff([]contracts.Command{cmd}, claimed); diff != "" {
		t.Errorf("Claim() after restart mismatch (-want +got):\n%s", diff)
	}
}

func BenchmarkEnqueueClaim(b *testing.B) {
	st := newStore(b, natstest.RunServer(b))
	ctx := b.Context()
	deadline := time.Now().Add(time.Hour)
	cmd := contracts.Command{Cluster: "bench", Argv: []string{"get", "pods", "-A"}, Deadline: deadline, IssuedAt: time.Now()}
	for b.Loop() {
		cmd.ID = contracts.NewID()
		if err := st.Enqueue(ctx, cmd); err != nil {
			b.Fatal(err)
		}
		got, err := st.Claim(ctx, "bench", "exec-1", 1)
		if err != nil || len(got) != 1 {
			b.Fatalf("Claim() = %d commands, %v; want 1, nil", len(got), err)
		}
	}
}

func BenchmarkSessionGet(b *testing.B) {
	st := newStore(b, natstest.RunServer(b))
	ctx := b.Context()
	now := time.Now()
	s := contracts.Session{ID: "bench", Cluster: "bench", CreatedAt: now, ExpiresAt: now.Add(time.Hour), TTLSeconds: 3600}
	if err := st.CreateSession(ctx, s, time.Hour); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := st.GetSession(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}
