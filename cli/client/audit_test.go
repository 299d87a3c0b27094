package client_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/cli/client"
	"kubently.io/cli/internal/auditfake"
	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
)

var t0 = time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)

func rec(i int, cluster string, outcome audit.Outcome) audit.Record {
	return audit.Record{
		Type: audit.RecordType, ID: "r" + string(rune('a'+i)), Time: t0.Add(time.Duration(i) * time.Minute),
		Event: audit.EventCommandExecuted, Identity: "alice", Cluster: cluster, Outcome: outcome,
		Argv: []string{"get", "pods"}, CommandID: "cmd" + string(rune('a'+i)),
	}
}

func records() []audit.Record {
	return []audit.Record{
		rec(0, "prod", audit.OutcomeSuccess), rec(1, "dev", audit.OutcomeSuccess),
		rec(2, "prod", audit.OutcomeDenied), rec(3, "prod", audit.OutcomeSuccess),
		rec(4, "dev", audit.OutcomeFailure),
	}
}

func ids(rs []audit.Record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.ID)
	}
	return out
}

func newClient(t testing.TB, url string) *client.Client {
	t.Helper()
	c, err := client.New(url, auditfake.Key, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestAuditPaging(t *testing.T) {
	tests := []struct {
		name  string
		q     client.AuditQuery
		want  []string
		pages int
	}{
		{name: "all", q: client.AuditQuery{}, want: []string{"ra", "rb", "rc", "rd", "re"}, pages: 3},
		{name: "cluster", q: client.AuditQuery{Cluster: "prod"}, want: []string{"ra", "rc", "rd"}, pages: 2},
		{name: "since until", q: client.AuditQuery{Since: t0.Add(time.Minute), Until: t0.Add(3 * time.Minute)}, want: []string{"rb", "rc"}, pages: 2},
		{name: "outcome and limit", q: client.AuditQuery{Outcome: audit.OutcomeSuccess, Limit: 10}, want: []string{"ra", "rb", "rd"}, pages: 1},
		{name: "command id", q: client.AuditQuery{CommandID: "cmde"}, want: []string{"re"}, pages: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{Records: records()})
			c := newClient(t, fake.URL)
			var got []audit.Record
			q, pages := tt.q, 0
			for {
				p, err := c.Audit(context.Background(), q)
				if err != nil {
					t.Fatal(err)
				}
				pages++
				got = append(got, p.Records...)
				if p.NextCursor == "" {
					break
				}
				q.Cursor = p.NextCursor
			}
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if pages != tt.pages {
				t.Errorf("got %d pages; want %d", pages, tt.pages)
			}
		})
	}
}

func TestAuditErrors(t *testing.T) {
	tests := []struct {
		name       string
		fail       auditfake.Failure
		key        string
		wantStatus int
		wantCode   contracts.ErrorCode
		wantRetry  time.Duration
	}{
		{name: "400", fail: auditfake.Failure{Status: 400, Code: contracts.CodeBadRequest}, wantStatus: 400, wantCode: contracts.CodeBadRequest},
		{name: "401 bad key", key: "wrong", wantStatus: 401, wantCode: contracts.CodeUnauthorized},
		{name: "403", fail: auditfake.Failure{Status: 403, Code: contracts.CodeForbidden}, wantStatus: 403, wantCode: contracts.CodeForbidden},
		{name: "429", fail: auditfake.Failure{Status: 429, Code: contracts.CodeRateLimited, RetryAfter: "7"}, wantStatus: 429, wantCode: contracts.CodeRateLimited, wantRetry: 7 * time.Second},
		{name: "503", fail: auditfake.Failure{Status: 503, Code: contracts.CodeUnavailable, RetryAfter: "2"}, wantStatus: 503, wantCode: contracts.CodeUnavailable, wantRetry: 2 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{Records: records(), Fail: func(*http.Request) *auditfake.Failure {
				if tt.fail.Status == 0 {
					return nil
				}
				return &tt.fail
			}})
			key := auditfake.Key
			if tt.key != "" {
				key = tt.key
			}
			c, err := client.New(fake.URL, key, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Audit(context.Background(), client.AuditQuery{})
			var ae *client.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v (%T); want *client.APIError", err, err)
			}
			if ae.Status != tt.wantStatus || ae.RetryAfter != tt.wantRetry {
				t.Errorf("got status %d retry %s; want %d %s", ae.Status, ae.RetryAfter, tt.wantStatus, tt.wantRetry)
			}
			var ce *contracts.Error
			if !errors.As(err, &ce) || ce.Code != tt.wantCode {
				t.Errorf("got %v; want code %s", err, tt.wantCode)
			}
		})
	}
}

// collector gathers records from FollowAudit and cancels after want.
type collector struct {
	mu     sync.Mutex
	got    []string
	want   int
	cancel context.CancelFunc
}

func (c *collector) fn(r audit.Record) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, r.ID)
	if len(c.got) == c.want {
		c.cancel()
	}
	return nil
}

func fastFollow() client.FollowOptions {
	return client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StaleAfter: 2 * time.Second}
}

func TestFollowAuditPingsAndSplitFrames(t *testing.T) {
	rs := records()
	fake := auditfake.New(t, auditfake.Config{Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
		w.Raw(": ping\n\n")
		w.Record("", rs[0])
		// A record split across writes, a comment in between events and a
		// multi-line data field (JSON allows the line break).
		w.Raw("event: rec")
		w.Raw("ord\ndata: {\"type\":\"" + audit.RecordType + "\",")
		w.Raw("\ndata: \"id\":\"rb\",\"time\":\"2026-05-01T10:01:00Z\",\"event\":\"command_executed\"}\n")
		w.Raw("\n: ping\n\n")
		w.Raw("event: unknown_future_event\ndata: {}\n\n")
		w.Record("", rs[2])
		<-r.Context().Done()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	col := &collector{want: 3, cancel: cancel}
	if err := newClient(t, fake.URL).FollowAuditWith(ctx, client.AuditQuery{}, fastFollow(), col.fn); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ra", "rb", "rc"}, col.got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestFollowAuditReconnects(t *testing.T) {
	rs := records()
	var mu sync.Mutex
	var lastIDs, sinces []string
	fake := auditfake.New(t, auditfake.Config{Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
		mu.Lock()
		lastIDs = append(lastIDs, r.Header.Get(contracts.HeaderLastEventID))
		sinces = append(sinces, r.URL.Query().Get("since"))
		mu.Unlock()
		switch conn {
		case 0:
			w.Record("1", rs[0])
			w.Record("2", rs[1])
			// Drop the stream mid-frame.
			w.Raw("event: record\ndata: {\"id\":")
		case 1:
			// A replay from since: rb again, then new records.
			w.Record("2", rs[1])
			w.Record("3", rs[2])
			// End cleanly: still a drop for a follower.
		default:
			w.Record("4", rs[3])
			<-r.Context().Done()
		}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	col := &collector{want: 4, cancel: cancel}
	opt := fastFollow()
	var reconnects int
	opt.OnReconnect = func(error, time.Duration) { reconnects++ }
	if err := newClient(t, fake.URL).FollowAuditWith(ctx, client.AuditQuery{Cluster: ""}, opt, col.fn); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ra", "rb", "rc", "rd"}, col.got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if reconnects != 2 {
		t.Errorf("got %d reconnects; want 2", reconnects)
	}
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{"", "2", "3"}, lastIDs); diff != "" {
		t.Errorf("Last-Event-ID (-want +got):\n%s", diff)
	}
	// The reconnect asks from ClockSlack before the newest record seen.
	wantSince := rs[1].Time.Add(-audit.ClockSlack).UTC().Format(time.RFC3339Nano)
	if len(sinces) < 2 || sinces[0] != "" || sinces[1] != wantSince {
		t.Errorf("got since params %q; want [\"\" %q ...]", sinces, wantSince)
	}
}

func TestFollowAuditStale(t *testing.T) {
	rs := records()
	fake := auditfake.New(t, auditfake.Config{Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
		if conn == 0 {
			w.Record("", rs[0])
			<-r.Context().Done() // silent: no pings
			return
		}
		w.Record("", rs[1])
		<-r.Context().Done()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	col := &collector{want: 2, cancel: cancel}
	opt := fastFollow()
	opt.StaleAfter = 100 * time.Millisecond
	var why error
	opt.OnReconnect = func(err error, _ time.Duration) { why = err }
	if err := newClient(t, fake.URL).FollowAuditWith(ctx, client.AuditQuery{}, opt, col.fn); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(why, client.ErrStreamStale) {
		t.Errorf("got reconnect reason %v; want ErrStreamStale", why)
	}
}

func TestFollowAuditErrors(t *testing.T) {
	tests := []struct {
		name     string
		fail     auditfake.Failure
		firstOK  bool // the first connection succeeds, then the failure starts
		wantCode contracts.ErrorCode
	}{
		{name: "401 at start", fail: auditfake.Failure{Status: 401, Code: contracts.CodeUnauthorized}, wantCode: contracts.CodeUnauthorized},
		{name: "403 at start", fail: auditfake.Failure{Status: 403, Code: contracts.CodeForbidden}, wantCode: contracts.CodeForbidden},
		{name: "400 at start", fail: auditfake.Failure{Status: 400, Code: contracts.CodeBadRequest}, wantCode: contracts.CodeBadRequest},
		{name: "503 at start", fail: auditfake.Failure{Status: 503, Body: "upstream down"}, wantCode: contracts.CodeUnavailable},
		{name: "403 after a drop", fail: auditfake.Failure{Status: 403, Code: contracts.CodeForbidden}, firstOK: true, wantCode: contracts.CodeForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			n := 0
			fake := auditfake.New(t, auditfake.Config{
				Fail: func(*http.Request) *auditfake.Failure {
					mu.Lock()
					defer mu.Unlock()
					n++
					if tt.firstOK && n == 1 {
						return nil
					}
					return &tt.fail
				},
				Stream: func(int, *auditfake.Writer, *http.Request) {}, // drops at once
			})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := newClient(t, fake.URL).FollowAuditWith(ctx, client.AuditQuery{}, fastFollow(), func(audit.Record) error { return nil })
			var ce *contracts.Error
			if !errors.As(err, &ce) || ce.Code != tt.wantCode {
				t.Fatalf("got %v; want code %s", err, tt.wantCode)
			}
		})
	}
}

func TestFollowAuditRetriesRateLimit(t *testing.T) {
	rs := records()
	var mu sync.Mutex
	n := 0
	fake := auditfake.New(t, auditfake.Config{
		Fail: func(*http.Request) *auditfake.Failure {
			mu.Lock()
			defer mu.Unlock()
			n++
			if n == 2 {
				return &auditfake.Failure{Status: 429, Code: contracts.CodeRateLimited, RetryAfter: "1"}
			}
			return nil
		},
		Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
			w.Record("", rs[conn])
			if conn > 0 {
				<-r.Context().Done()
			}
		},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	col := &collector{want: 2, cancel: cancel}
	var waits []time.Duration
	opt := fastFollow()
	opt.OnReconnect = func(_ error, d time.Duration) { waits = append(waits, d) }
	if err := newClient(t, fake.URL).FollowAuditWith(ctx, client.AuditQuery{}, opt, col.fn); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"ra", "rb"}, col.got); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if len(waits) != 2 || waits[1] != time.Second {
		t.Errorf("got waits %v; want the second to be the Retry-After, 1s", waits)
	}
}

func TestFollowAuditCallbackErrorAndCancel(t *testing.T) {
	fake := auditfake.New(t, auditfake.Config{Records: records()})
	c := newClient(t, fake.URL)
	stop := errors.New("stop")
	err := c.FollowAuditWith(context.Background(), client.AuditQuery{}, fastFollow(), func(audit.Record) error { return stop })
	if !errors.Is(err, stop) {
		t.Errorf("got %v; want the callback's error", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- c.FollowAuditWith(ctx, client.AuditQuery{Cluster: "none-such"}, fastFollow(), func(audit.Record) error { return nil })
	}()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("got %v; want nil on cancel", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("FollowAudit did not return after cancel")
	}
}
