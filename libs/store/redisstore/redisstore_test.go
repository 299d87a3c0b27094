package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"kubently.io/libs/contracts"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store"
	"kubently.io/libs/store/redisstore"
	"kubently.io/libs/store/storetest"
)

// newStore returns a store on a new client of srv, closed at cleanup.
func newStore(tb testing.TB, srv *redistest.Server) *redisstore.Store {
	tb.Helper()
	st, err := redisstore.New(tb.Context(), redisstore.Config{URL: srv.URL(), OwnerGrace: storetest.OwnerGrace, Visibility: storetest.Visibility})
	if err != nil {
		tb.Fatalf("redisstore.New() = %v; want nil", err)
	}
	tb.Cleanup(func() { _ = st.Close() })
	return st
}

func TestConformance(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) store.Store { return newStore(t, srv) })
}

func TestNewConfig(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name    string
		cfg     redisstore.Config
		wantErr error
	}{
		{name: "defaults", cfg: redisstore.Config{URL: srv.URL()}},
		{name: "all set", cfg: redisstore.Config{URL: srv.URL(), Prefix: "kt:test", OwnerGrace: time.Second, MaxQueueLen: 10}},
		{name: "no url", cfg: redisstore.Config{}, wantErr: store.ErrInvalid},
		{name: "bad url", cfg: redisstore.Config{URL: "http://x"}, wantErr: store.ErrInvalid},
		{name: "bad prefix", cfg: redisstore.Config{URL: srv.URL(), Prefix: "a{b}"}, wantErr: store.ErrInvalid},
		{name: "negative grace", cfg: redisstore.Config{URL: srv.URL(), OwnerGrace: -time.Second}, wantErr: store.ErrInvalid},
		{name: "negative max queue", cfg: redisstore.Config{URL: srv.URL(), MaxQueueLen: -1}, wantErr: store.ErrInvalid},
		{name: "unreachable", cfg: redisstore.Config{URL: "redis://127.0.0.1:1/0"}, wantErr: store.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := redisstore.New(t.Context(), tt.cfg)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New() = %v; want %v", err, tt.wantErr)
			}
			if err == nil {
				if err := st.Close(); err != nil {
					t.Errorf("Close() = %v; want nil", err)
				}
			}
		})
	}
}

func TestNewFromClient(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	if _, err := redisstore.NewFromClient(t.Context(), nil, redisstore.Config{}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("NewFromClient(nil) = %v; want %v", err, store.ErrInvalid)
	}
	if _, err := redisstore.NewFromClient(t.Context(), rdb, redisstore.Config{URL: srv.URL()}); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("NewFromClient(url set) = %v; want %v", err, store.ErrInvalid)
	}
	st, err := redisstore.NewFromClient(t.Context(), rdb, redisstore.Config{Prefix: "other"})
	if err != nil {
		t.Fatalf("NewFromClient() = %v; want nil", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	// The client is the caller's: still open.
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Errorf("Ping() on the caller's client after Close = %v; want nil", err)
	}
}

// TestPrefix: stores with different prefixes on one server do not see each
// other's data.
func TestPrefix(t *testing.T) {
	srv := redistest.Start(t)
	a, err := redisstore.New(t.Context(), redisstore.Config{URL: srv.URL(), Prefix: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := redisstore.New(t.Context(), redisstore.Config{URL: srv.URL(), Prefix: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	now := time.Now()
	s := contracts.Session{ID: "s1", Cluster: "c1", CreatedAt: now, ExpiresAt: now.Add(time.Minute), TTLSeconds: 60}
	if err := a.CreateSession(t.Context(), s, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := b.GetSession(t.Context(), "s1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetSession() under another prefix = %v; want %v", err, store.ErrNotFound)
	}
}

// TestRestart: sessions and queued commands survive a server restart (with
// an append-only file), and a stopped server is ErrUnavailable.
func TestRestart(t *testing.T) {
	srv := redistest.StartWith(t, redistest.Config{AppendOnly: true})
	st := newStore(t, srv)
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

	srv.Stop()
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := st.GetSession(short, "s1"); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("GetSession() with the server down = %v; want %v", err, store.ErrUnavailable)
	}
	if err := st.Ping(short); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Ping() with the server down = %v; want %v", err, store.ErrUnavailable)
	}

	srv.Restart(t)
	// The old client reconnects on its own.
	sess.State = contracts.SessionActive
	got, err := st.GetSession(ctx, "s1")
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
	st := newStore(b, redistest.Start(b))
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
	st := newStore(b, redistest.Start(b))
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

// TestQueuesPrecise: redisstore tells commands Claim would hand out from
// commands leased and still within their lease, across more clusters
// than one pipeline batch, and reloads its script after SCRIPT FLUSH.
func TestQueuesPrecise(t *testing.T) {
	srv := redistest.Start(t)
	st := newStore(t, srv)
	ctx := t.Context()
	clusters := make([]string, 2500)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("c%04d", i)
	}
	enqueue := func(cluster string) {
		t.Helper()
		cmd := contracts.Command{ID: contracts.NewID(), Cluster: cluster, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)}
		if err := st.Enqueue(ctx, cmd); err != nil {
			t.Fatal(err)
		}
	}
	queues := func() []store.QueueState {
		t.Helper()
		got, err := st.Queues(ctx, clusters)
		if err != nil {
			t.Fatalf("Queues() = %v; want nil", err)
		}
		return got
	}
	busy, leased := clusters[1700], clusters[1200]
	enqueue(busy)
	enqueue(leased)
	want := []store.QueueState{{Cluster: leased, Depth: 1, Claimable: true}, {Cluster: busy, Depth: 1, Claimable: true}}
	if diff := cmp.Diff(want, queues()); diff != "" {
		t.Fatalf("Queues() with two queues mismatch (-want +got):\n%s", diff)
	}
	// Claiming on a cluster that never had a command creates its stream
	// and group, empty: still not listed.
	if _, err := st.Claim(ctx, leased, "exec-1", 10); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Claim(ctx, clusters[0], "exec-1", 10); err != nil {
		t.Fatal(err)
	}
	want[0].Claimable = false
	if diff := cmp.Diff(want, queues()); diff != "" {
		t.Errorf("Queues() with one queue leased mismatch (-want +got):\n%s", diff)
	}
	enqueue(leased)
	want[0] = store.QueueState{Cluster: leased, Depth: 2, Claimable: true}
	if diff := cmp.Diff(want, queues()); diff != "" {
		t.Errorf("Queues() after a new command behind a lease mismatch (-want +got):\n%s", diff)
	}
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	defer rdb.Close()
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, queues()); diff != "" {
		t.Errorf("Queues() after SCRIPT FLUSH mismatch (-want +got):\n%s", diff)
	}
}

// TestQueueIndexLost: a queue whose index entry is lost (the store failed
// between an Append's script and its index write, here: the index key is
// deleted) is missing from IndexedQueues until a Queues call restores
// the entry; a queue found empty leaves the index.
func TestQueueIndexLost(t *testing.T) {
	srv := redistest.Start(t)
	st, err := redisstore.New(t.Context(), redisstore.Config{URL: srv.URL(), Prefix: "ix"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })
	const index = "ix:bridge:nonempty"
	ctx := t.Context()
	busy, idle := "busy-1", "idle-1"
	clusters := []string{busy, idle}
	cmd := contracts.Command{ID: contracts.NewID(), Cluster: busy, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)}
	if err := st.Enqueue(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	indexed := func(want int) {
		t.Helper()
		got, err := st.IndexedQueues(ctx, clusters)
		if err != nil {
			t.Fatalf("IndexedQueues() = %v; want nil", err)
		}
		if len(got) != want || (want == 1 && (got[0].Cluster != busy || got[0].Depth != 1 || !got[0].Claimable)) {
			t.Errorf("IndexedQueues() = %+v; want %d queue(s) (%s, depth 1, claimable)", got, want, busy)
		}
	}
	indexed(1)
	if err := rdb.Del(ctx, index).Err(); err != nil {
		t.Fatal(err)
	}
	indexed(0) // lost: the command waits for the next full check
	if got, err := st.Queues(ctx, clusters); err != nil || len(got) != 1 {
		t.Fatalf("Queues() = %+v, %v; want the busy queue", got, err)
	}
	indexed(1) // restored by Queues
	if n, err := st.Ack(ctx, busy, []string{cmd.ID}); err != nil || n != 1 {
		t.Fatalf("Ack() = %d, %v; want 1", n, err)
	}
	indexed(0)
	if in, err := rdb.SIsMember(ctx, index, busy).Result(); err != nil || in {
		t.Errorf("index holds %s after its queue was found empty: %v, %v; want false", busy, in, err)
	}
}

// TestReleaseAnyVisibility: a command released by a client whose
// visibility timeout is short (a dispatcher's default) is claimable at
// once by a client whose timeout is long (the gateway's setting).
func TestReleaseAnyVisibility(t *testing.T) {
	srv := redistest.Start(t)
	dispatcher := newStore(t, srv)
	gateway, err := redisstore.New(t.Context(), redisstore.Config{URL: srv.URL(), Visibility: 5 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = gateway.Close() })
	cmd := contracts.Command{ID: contracts.NewID(), Cluster: "dev-1", Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute).UTC()}
	if err := dispatcher.Reserve(t.Context(), cmd); err != nil {
		t.Fatal(err)
	}
	if got, err := dispatcher.AppendLeased(t.Context(), cmd, "conn-1", 16); err != nil || len(got) != 1 {
		t.Fatalf("AppendLeased() = %d commands, %v; want 1, nil", len(got), err)
	}
	if n, err := dispatcher.Release(t.Context(), "dev-1", "conn-1", []string{cmd.ID}); n != 1 || err != nil {
		t.Fatalf("Release() = %d, %v; want 1, nil", n, err)
	}
	got, err := gateway.Claim(t.Context(), "dev-1", "conn-2", 16)
	if err != nil || len(got) != 1 || got[0].ID != cmd.ID {
		t.Errorf("Claim() with a 5m visibility right after Release = %v, %v; want [%s]", got, err, cmd.ID)
	}
}
