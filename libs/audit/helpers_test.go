package audit_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/audit"
	"kubently.io/libs/natsutil/natstest"
)

// env is one embedded JetStream server with the audit stream.
type env struct {
	srv *server.Server
	nc  *nats.Conn
	js  jetstream.JetStream
}

// newEnv starts a server, connects and ensures the audit stream.
func newEnv(tb testing.TB) *env {
	tb.Helper()
	return newEnvAt(tb, natstest.RunServer(tb))
}

func newEnvAt(tb testing.TB, srv *server.Server) *env {
	tb.Helper()
	nc := natstest.Connect(tb, srv)
	js, err := jetstream.New(nc)
	if err != nil {
		tb.Fatalf("jetstream.New: %v", err)
	}
	if err := audit.Ensure(testCtx(tb), js, audit.StreamConfig{}); err != nil {
		tb.Fatalf("Ensure: %v", err)
	}
	return &env{srv: srv, nc: nc, js: js}
}

func (e *env) writer(tb testing.TB, cfg audit.WriterConfig) *audit.Writer {
	tb.Helper()
	cfg.JS = e.js
	w, err := audit.NewWriter(cfg)
	if err != nil {
		tb.Fatalf("NewWriter: %v", err)
	}
	return w
}

func (e *env) reader(tb testing.TB, cfg audit.ReaderConfig) *audit.Reader {
	tb.Helper()
	cfg.JS = e.js
	r, err := audit.NewReader(cfg)
	if err != nil {
		tb.Fatalf("NewReader: %v", err)
	}
	return r
}

// stored returns how many messages the audit stream holds.
func (e *env) stored(tb testing.TB) uint64 {
	tb.Helper()
	st, err := e.js.Stream(testCtx(tb), audit.StreamName)
	if err != nil {
		tb.Fatalf("Stream: %v", err)
	}
	return st.CachedInfo().State.Msgs
}

// testCtx is a context that ends with the test (or after 30s).
func testCtx(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// mustWrite writes every record or fails the test.
func mustWrite(tb testing.TB, w *audit.Writer, recs ...audit.Record) {
	tb.Helper()
	for _, rec := range recs {
		if err := w.Write(testCtx(tb), rec); err != nil {
			tb.Fatalf("Write(%s): %v", rec.ID, err)
		}
	}
}

// queryAll pages through f with limit, returning every record and the
// number of pages. It fails on a repeated cursor (no progress).
func queryAll(tb testing.TB, r *audit.Reader, f audit.Filter, limit int) ([]audit.Record, int) {
	tb.Helper()
	var all []audit.Record
	seen := map[string]bool{}
	cursor := ""
	for pages := 1; ; pages++ {
		res, err := r.Query(testCtx(tb), f, audit.Page{Cursor: cursor, Limit: limit})
		if err != nil {
			tb.Fatalf("Query page %d: %v", pages, err)
		}
		if len(res.Records) > limit {
			tb.Fatalf("page %d has %d records; want at most %d", pages, len(res.Records), limit)
		}
		all = append(all, res.Records...)
		if res.NextCursor == "" {
			return all, pages
		}
		if seen[res.NextCursor] {
			tb.Fatalf("page %d repeats cursor %q", pages, res.NextCursor)
		}
		seen[res.NextCursor] = true
		cursor = res.NextCursor
		if pages > 10000 {
			tb.Fatalf("more than 10000 pages")
		}
	}
}

func ids(recs []audit.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.ID
	}
	return out
}

// fakeClock is a settable clock for the Writer's rate limit.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: time.Now().UTC()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fullRecord returns a record with every field set.
func fullRecord(i int) audit.Record {
	return audit.Record{
		Type:          audit.RecordType,
		ID:            fmt.Sprintf("rec-%04d", i),
		Time:          time.Now().UTC().Truncate(time.Millisecond),
		Event:         audit.EventCommandExecuted,
		Identity:      "alice",
		Role:          "operator",
		Remote:        "10.0.0.7:51234",
		Cluster:       "prod-eu",
		Namespace:     "payments",
		Argv:          []string{"get", "pods", "-o", "wide"},
		Target:        "pods",
		Outcome:       audit.OutcomeFailure,
		Reason:        "exit_nonzero",
		ExitCode:      1,
		DurationMS:    42,
		Bytes:         1 << 20,
		Truncated:     true,
		CommandID:     fmt.Sprintf("cmd%04d", i),
		SessionID:     "sess-1",
		CorrelationID: "corr-1",
		Gateway:       "gateway-7d9f-abc",
		Source:        "dispatcher",
		Replica:       "dispatcher-0",
		Message:       "ran",
	}
}
