// Package storetest is the conformance suite every store.Store
// implementation passes.
//
// # Usage
//
//	func TestConformance(t *testing.T) {
//		srv := redistest.Start(t)
//		storetest.Run(t, func(t *testing.T) store.Store {
//			st, err := redisstore.New(t.Context(), redisstore.Config{
//				URL:        srv.URL(),
//				OwnerGrace: storetest.OwnerGrace,
//				Visibility: storetest.Visibility,
//			})
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// # Concurrency
//
// Run's subtests run in parallel on one backing server; each uses its own
// random cluster, session and command ids. newStore is called concurrently
// and several times per subtest: each call must return a new, independent
// client of the same server (that is how the suite checks that data
// survives a reconnect and that separate processes do not step on each
// other), closed by newStore's own cleanup.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

// OwnerGrace is the owner grace (Bridge.Owner) the stores under test must
// be configured with, so the suite can watch it run out.
const OwnerGrace = 3 * time.Second

// Visibility is the visibility timeout (lease of a claimed command) the
// stores under test must be configured with, so the suite can watch
// leases run out.
const Visibility = 2 * time.Second

// Run runs the conformance suite against the stores newStore returns.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	suites := []struct {
		name  string
		tests []test
	}{
		{"Sessions", sessionTests},
		{"Bridge", bridgeTests},
		{"HandOff", handOffTests},
		{"Presence", presenceTests},
		{"Answers", answerTests},
		{"Fence", fenceTests},
		{"Holders", holdTests},
		{"LastSeen", lastSeenTests},
		{"Clusters", clusterTests},
		{"ClusterLabels", labelTests},
		{"Discovery", discoveryTests},
		{"Store", storeTests},
	}
	for _, s := range suites {
		t.Run(s.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range s.tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					tt.fn(t, newStore)
				})
			}
		})
	}
}

type test struct {
	name string
	fn   func(t *testing.T, newStore func(t *testing.T) store.Store)
}

var storeTests = []test{
	{"Ping", testPing},
	{"Reconnect", testReconnect},
}

func testPing(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	if err := st.Ping(ctx(t)); err != nil {
		t.Errorf("Ping() = %v; want nil", err)
	}
}

// testReconnect: a new client of the same server sees what an earlier,
// closed one wrote.
func testReconnect(t *testing.T, newStore func(t *testing.T) store.Store) {
	c := ctx(t)
	cluster := newCluster()
	first := newStore(t)
	sess := newSession(cluster, time.Minute)
	mustCreate(t, first, sess, time.Minute)
	cmds := enqueueN(t, first, cluster, 3, time.Minute)
	info := newInfo(cluster)
	if err := first.Refresh(c, info, time.Minute); err != nil {
		t.Fatalf("Refresh() = %v; want nil", err)
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}

	second := newStore(t)
	got, err := second.GetSession(c, sess.ID)
	if err != nil {
		t.Fatalf("GetSession() after reconnect = %v; want nil", err)
	}
	if diff := cmp.Diff(active(sess), got); diff != "" {
		t.Errorf("GetSession() after reconnect mismatch (-want +got):\n%s", diff)
	}
	claimed, err := second.Claim(c, cluster, "exec-1", 10)
	if err != nil {
		t.Fatalf("Claim() after reconnect = %v; want nil", err)
	}
	if diff := cmp.Diff(cmds, claimed); diff != "" {
		t.Errorf("Claim() after reconnect mismatch (-want +got):\n%s", diff)
	}
	if owner, err := second.Owner(c, cmds[0].ID); err != nil || owner != cluster {
		t.Errorf("Owner() after reconnect = %q, %v; want %q, nil", owner, err, cluster)
	}
	conns, err := second.Connected(c, cluster)
	if err != nil {
		t.Fatalf("Connected() after reconnect = %v; want nil", err)
	}
	if diff := cmp.Diff([]contracts.ExecutorInfo{info}, conns); diff != "" {
		t.Errorf("Connected() after reconnect mismatch (-want +got):\n%s", diff)
	}
}

// Helpers.

// ctx returns a context that ends with the test (or after 30s).
func ctx(t *testing.T) context.Context {
	t.Helper()
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// waitUntil blocks until the wall clock passes at. It is a precondition
// (a deadline or TTL has run), never an assertion.
func waitUntil(t *testing.T, at time.Time) {
	t.Helper()
	testkit.CheckFor(t, time.Until(at)+5*time.Second, 20*time.Millisecond, func() error {
		if time.Now().After(at) {
			return nil
		}
		return fmt.Errorf("still before %v", at)
	})
}

func newCluster() string { return "c-" + contracts.NewID()[:16] }

func newSession(cluster string, ttl time.Duration) contracts.Session {
	now := time.Now().UTC()
	return contracts.Session{
		ID:            "s-" + contracts.NewID()[:20],
		Cluster:       cluster,
		Owner:         "alice@example.com",
		State:         contracts.SessionActive,
		CreatedAt:     now,
		ExpiresAt:     now.Add(ttl),
		TTLSeconds:    int((ttl + time.Second - 1) / time.Second),
		CorrelationID: contracts.NewID(),
	}
}

func newCommand(cluster string, deadline time.Time) contracts.Command {
	return contracts.Command{
		ID:            contracts.NewID(),
		Cluster:       cluster,
		Argv:          []string{"get", "pods", "-n", "default"},
		Deadline:      deadline.UTC(),
		IssuedAt:      time.Now().UTC(),
		Caller:        "alice@example.com",
		SessionID:     "s-1",
		CorrelationID: contracts.NewID(),
	}
}

func newInfo(cluster string) contracts.ExecutorInfo {
	now := time.Now().UTC()
	return contracts.ExecutorInfo{
		Cluster:     cluster,
		ConnID:      contracts.NewID(),
		ExecutorID:  "executor-" + cluster,
		Version:     "v0.1.0",
		Gateway:     "gateway-0",
		ConnectedAt: now,
		LastSeen:    now,
	}
}

func active(s contracts.Session) contracts.Session {
	s.State = contracts.SessionActive
	return s
}

func mustCreate(t *testing.T, st store.Store, s contracts.Session, ttl time.Duration) {
	t.Helper()
	if err := st.CreateSession(ctx(t), s, ttl); err != nil {
		t.Fatalf("CreateSession(%s) = %v; want nil", s.ID, err)
	}
}

func mustGet(t *testing.T, st store.Store, id string) contracts.Session {
	t.Helper()
	s, err := st.GetSession(ctx(t), id)
	if err != nil {
		t.Fatalf("GetSession(%s) = %v; want nil", id, err)
	}
	return s
}

// enqueueN enqueues n commands on cluster and returns them in order.
func enqueueN(t *testing.T, st store.Store, cluster string, n int, timeout time.Duration) []contracts.Command {
	t.Helper()
	cmds := make([]contracts.Command, n)
	for i := range cmds {
		cmds[i] = newCommand(cluster, time.Now().Add(timeout))
		if err := st.Enqueue(ctx(t), cmds[i]); err != nil {
			t.Fatalf("Enqueue(%d) = %v; want nil", i, err)
		}
	}
	return cmds
}

func ids[T any](xs []T, id func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = id(x)
	}
	return out
}

func sessionID(s contracts.Session) string   { return s.ID }
func commandID(c contracts.Command) string   { return c.ID }
func connID(i contracts.ExecutorInfo) string { return i.ConnID }
func errIs(err, target error) bool           { return errors.Is(err, target) }
func stateErr(got, want contracts.SessionState) error {
	if got == want {
		return nil
	}
	return fmt.Errorf("state %q; want %q", got, want)
}

// parallel runs fns concurrently and waits for all of them.
func parallel(fns ...func()) {
	var wg sync.WaitGroup
	for _, f := range fns {
		wg.Go(f)
	}
	wg.Wait()
}
