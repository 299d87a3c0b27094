package audit_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"kubently.io/libs/audit"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/testkit"
)

func TestWriteQueryRoundTrip(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	r := e.reader(t, audit.ReaderConfig{})
	want := fullRecord(1)
	mustWrite(t, w, want)

	res, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if diff := cmp.Diff([]audit.Record{want}, res.Records); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if res.NextCursor != "" {
		t.Errorf("NextCursor = %q; want empty", res.NextCursor)
	}
	st, err := e.js.Stream(testCtx(t), audit.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Consumers; n != 0 {
		t.Errorf("%d consumers left after Query; want 0", n)
	}
}

func TestWriteFillsDefaults(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{Source: "dispatcher", Replica: "dispatcher-1"})
	before := time.Now()
	mustWrite(t, w, audit.Record{Event: audit.EventSessionCreated, Cluster: "dev", SessionID: "s1"})
	res, err := e.reader(t, audit.ReaderConfig{}).Query(testCtx(t), audit.Filter{}, audit.Page{})
	if err != nil || len(res.Records) != 1 {
		t.Fatalf("Query = %d records, %v; want 1, nil", len(res.Records), err)
	}
	got := res.Records[0]
	if got.Type != audit.RecordType || len(got.ID) != 32 || got.Time.Before(before) ||
		got.Source != "dispatcher" || got.Replica != "dispatcher-1" {
		t.Errorf("got %+v; want type, 32-hex id, time, source and replica filled", got)
	}
}

func TestWriteRejectsInvalid(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	err := w.Write(testCtx(t), audit.Record{Event: "rm_rf"})
	if !errors.Is(err, audit.ErrInvalid) {
		t.Fatalf("Write(bad event) = %v; want ErrInvalid", err)
	}
	if n := e.stored(t); n != 0 {
		t.Errorf("stored %d; want 0", n)
	}
}

func TestWriteDedupe(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	rec := fullRecord(1)
	for range 3 { // a caller retrying after a lost ack
		mustWrite(t, w, rec)
	}
	if n := e.stored(t); n != 1 {
		t.Fatalf("stored %d messages; want 1", n)
	}
	got, _ := queryAll(t, e.reader(t, audit.ReaderConfig{}), audit.Filter{}, 10)
	if diff := cmp.Diff([]string{rec.ID}, ids(got)); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
}

func TestQueryFilters(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	recs := []audit.Record{
		{ID: "a", Event: audit.EventCommandExecuted, Cluster: "prod", Identity: "alice", Outcome: audit.OutcomeSuccess, CommandID: "c1"},
		{ID: "b", Event: audit.EventCommandExecuted, Cluster: "dev", Identity: "bob", Outcome: audit.OutcomeFailure, CommandID: "c2"},
		{ID: "c", Event: audit.EventCommandDenied, Cluster: "prod", Identity: "bob", Outcome: audit.OutcomeDenied, CommandID: "c3"},
		{ID: "d", Event: audit.EventSessionCreated, Cluster: "prod", Identity: "alice", SessionID: "s1"},
		{ID: "e", Event: audit.EventTokenRotated, Identity: "admin", Target: "prod"},
		{ID: "f", Event: audit.EventAuthDenied, Identity: "mallory", Outcome: audit.OutcomeDenied},
		{ID: "g", Event: audit.EventCommandExecuted, Cluster: "prod", Identity: "carol", Outcome: audit.OutcomeTimeout, CommandID: "c4"},
	}
	mustWrite(t, w, recs...)
	r := e.reader(t, audit.ReaderConfig{})

	tests := []struct {
		name   string
		filter audit.Filter
		want   []string
	}{
		{"all", audit.Filter{}, []string{"a", "b", "c", "d", "e", "f", "g"}},
		{"cluster", audit.Filter{Cluster: "prod"}, []string{"a", "c", "d", "g"}},
		{"no cluster", audit.Filter{Cluster: audit.NoCluster}, []string{"e", "f"}},
		{"unknown cluster", audit.Filter{Cluster: "nope"}, nil},
		{"identity", audit.Filter{Identity: "bob"}, []string{"b", "c"}},
		{"outcome", audit.Filter{Outcome: audit.OutcomeDenied}, []string{"c", "f"}},
		{"event", audit.Filter{Event: audit.EventCommandExecuted}, []string{"a", "b", "g"}},
		{"command id", audit.Filter{CommandID: "c3"}, []string{"c"}},
		{"event and cluster", audit.Filter{Event: audit.EventCommandExecuted, Cluster: "prod"}, []string{"a", "g"}},
		{"identity and outcome", audit.Filter{Identity: "alice", Outcome: audit.OutcomeSuccess}, []string{"a"}},
		{"no match", audit.Filter{Identity: "alice", Event: audit.EventAuthDenied}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := queryAll(t, r, tt.filter, 100)
			if diff := cmp.Diff(tt.want, ids(got), cmp.Comparer(func(a, b []string) bool {
				return slices.Equal(a, b) // nil and empty are both "none"
			})); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
}

func TestQueryTimeRange(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	base := time.Now().UTC().Add(-time.Minute).Truncate(time.Second)
	for i := range 6 { // base, +10s, ... +50s; all within ClockSlack of now
		mustWrite(t, w, audit.Record{ID: fmt.Sprintf("t%d", i), Event: audit.EventSessionEnded, Time: base.Add(time.Duration(i) * 10 * time.Second)})
	}
	r := e.reader(t, audit.ReaderConfig{})
	tests := []struct {
		name   string
		filter audit.Filter
		want   []string
	}{
		{"since", audit.Filter{Since: base.Add(30 * time.Second)}, []string{"t3", "t4", "t5"}},
		{"until (exclusive)", audit.Filter{Until: base.Add(20 * time.Second)}, []string{"t0", "t1"}},
		{"between", audit.Filter{Since: base.Add(10 * time.Second), Until: base.Add(35 * time.Second)}, []string{"t1", "t2", "t3"}},
		{"before all", audit.Filter{Until: base.Add(-time.Hour)}, nil},
		{"after all", audit.Filter{Since: base.Add(time.Hour)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _ := queryAll(t, r, tt.filter, 2)
			if !slices.Equal(tt.want, ids(got)) {
				t.Errorf("got %v; want %v", ids(got), tt.want)
			}
		})
	}
	if _, err := r.Query(testCtx(t), audit.Filter{Since: base, Until: base}, audit.Page{}); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("Query(until == since) = %v; want ErrInvalid", err)
	}
}

func TestQueryPaging(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	var want, wantProd []string
	for i := range 25 {
		cluster := "dev"
		if i%2 == 0 {
			cluster = "prod"
		}
		rec := audit.Record{ID: fmt.Sprintf("p%02d", i), Event: audit.EventCommandExecuted, Cluster: cluster, Identity: cluster + "-user"}
		mustWrite(t, w, rec)
		want = append(want, rec.ID)
		if cluster == "prod" {
			wantProd = append(wantProd, rec.ID)
		}
	}
	tests := []struct {
		name      string
		budget    int
		filter    audit.Filter
		limit     int
		want      []string
		wantPages int // 0: don't check
	}{
		{"three pages", 0, audit.Filter{}, 10, want, 3},
		{"exact pages end without an empty page", 0, audit.Filter{}, 5, want, 5},
		{"subject filter", 0, audit.Filter{Cluster: "prod"}, 5, wantProd, 3},
		{"payload filter", 0, audit.Filter{Identity: "prod-user"}, 5, wantProd, 3},
		{"small scan budget", 4, audit.Filter{Identity: "prod-user"}, 5, wantProd, 0},
		{"budget of one", 1, audit.Filter{}, 10, want, 25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.reader(t, audit.ReaderConfig{ScanBudget: tt.budget})
			got, pages := queryAll(t, r, tt.filter, tt.limit)
			if diff := cmp.Diff(tt.want, ids(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if tt.wantPages != 0 && pages != tt.wantPages {
				t.Errorf("got %d pages; want %d", pages, tt.wantPages)
			}
		})
	}
}

func TestQueryPagingSeesLaterRecordsOnLaterPages(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	r := e.reader(t, audit.ReaderConfig{})
	mustWrite(t, w, audit.Record{ID: "x1", Event: audit.EventKeyChanged}, audit.Record{ID: "x2", Event: audit.EventKeyChanged})
	res, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{Limit: 1})
	if err != nil || res.NextCursor == "" {
		t.Fatalf("Query = %v, cursor %q; want a cursor", err, res.NextCursor)
	}
	mustWrite(t, w, audit.Record{ID: "x3", Event: audit.EventKeyChanged})
	res, err = r.Query(testCtx(t), audit.Filter{}, audit.Page{Cursor: res.NextCursor, Limit: 10})
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	if got := ids(res.Records); !slices.Equal(got, []string{"x2", "x3"}) || res.NextCursor != "" {
		t.Errorf("got %v, cursor %q; want [x2 x3], no cursor", got, res.NextCursor)
	}
}

func TestQueryBadCursor(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	mustWrite(t, w, audit.Record{ID: "a", Event: audit.EventKeyChanged}, audit.Record{ID: "b", Event: audit.EventKeyChanged})
	r := e.reader(t, audit.ReaderConfig{})
	res, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{Limit: 1})
	if err != nil || res.NextCursor == "" {
		t.Fatalf("Query = %v, cursor %q; want a cursor", err, res.NextCursor)
	}
	good := res.NextCursor
	flip := []byte(good)
	flip[3] ^= 0x01 // still base64url, but the checksum breaks
	tests := []struct {
		name, cursor string
	}{
		{"garbage", "garbage"},
		{"sql", "' OR 1=1 --"},
		{"not base64", strings.Repeat("!", len(good))},
		{"mangled", string(flip)},
		{"too long", good + "AA"},
		{"truncated", good[:len(good)-1]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{Cursor: tt.cursor})
			if !errors.Is(err, audit.ErrBadCursor) {
				t.Errorf("Query(cursor %q) = %v; want ErrBadCursor", tt.cursor, err)
			}
		})
	}
}

func TestQueryLimit(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	for i := range audit.DefaultLimit + 5 {
		mustWrite(t, w, audit.Record{ID: fmt.Sprintf("l%03d", i), Event: audit.EventSessionEnded})
	}
	r := e.reader(t, audit.ReaderConfig{})
	tests := []struct {
		name    string
		limit   int
		wantLen int
		wantErr error
	}{
		{"default", 0, audit.DefaultLimit, nil},
		{"one", 1, 1, nil},
		{"max", audit.MaxLimit, audit.DefaultLimit + 5, nil},
		{"negative", -1, 0, audit.ErrInvalid},
		{"over max", audit.MaxLimit + 1, 0, audit.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{Limit: tt.limit})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Query = %v; want %v", err, tt.wantErr)
			}
			if len(res.Records) != tt.wantLen {
				t.Errorf("got %d records; want %d", len(res.Records), tt.wantLen)
			}
		})
	}
}

func TestQueryInvalidFilter(t *testing.T) {
	r := newEnv(t).reader(t, audit.ReaderConfig{})
	tests := []struct {
		name   string
		filter audit.Filter
	}{
		{"event", audit.Filter{Event: "nope"}},
		{"cluster", audit.Filter{Cluster: "Prod.*"}},
		{"outcome", audit.Filter{Outcome: "meh"}},
		{"command id", audit.Filter{CommandID: "a b"}},
		{"identity", audit.Filter{Identity: strings.Repeat("x", audit.MaxFieldLen+1)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := r.Query(testCtx(t), tt.filter, audit.Page{}); !errors.Is(err, audit.ErrInvalid) {
				t.Errorf("Query = %v; want ErrInvalid", err)
			}
		})
	}
}

func TestQueryEmptyAndBounded(t *testing.T) {
	e := newEnv(t)
	r := e.reader(t, audit.ReaderConfig{ScanBudget: 100})
	start := time.Now()
	res, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{})
	if err != nil || len(res.Records) != 0 || res.NextCursor != "" {
		t.Fatalf("Query(empty stream) = %d records, cursor %q, %v; want none", len(res.Records), res.NextCursor, err)
	}
	// Prompt: below the reader's 5 s fetch timeout, which a Query
	// waiting for records that never come would sit out.
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("Query(empty stream) took %v; want prompt", d)
	}

	w := e.writer(t, audit.WriterConfig{})
	for i := range 250 {
		mustWrite(t, w, audit.Record{ID: fmt.Sprintf("n%03d", i), Event: audit.EventCommandExecuted, Cluster: "dev", Identity: "bob"})
	}
	// Nothing matches: each call examines at most the budget and says
	// where to go on.
	f := audit.Filter{Identity: "nobody"}
	res, err = r.Query(testCtx(t), f, audit.Page{})
	if err != nil || len(res.Records) != 0 || res.NextCursor == "" {
		t.Fatalf("Query(no match) = %d records, cursor %q, %v; want none and a cursor", len(res.Records), res.NextCursor, err)
	}
	if _, pages := queryAll(t, r, f, 10); pages != 3 {
		t.Errorf("got %d pages over 250 records with budget 100; want 3", pages)
	}
}

func TestQueryStreamMissing(t *testing.T) {
	srv := natstest.RunServer(t)
	js, err := jetstream.New(natstest.Connect(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Query(testCtx(t), audit.Filter{}, audit.Page{}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Query without stream = %v; want ErrUnavailable", err)
	}
}

func TestFollow(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	r := e.reader(t, audit.ReaderConfig{})
	mustWrite(t, w, audit.Record{ID: "old", Event: audit.EventCommandExecuted, Cluster: "prod"})

	ctx, cancel := context.WithCancel(testCtx(t))
	got := make(chan audit.Record, 10)
	done := make(chan error, 1)
	// Since pins the start: the goroutine may subscribe after the writes
	// below have begun.
	since := time.Now()
	go func() {
		done <- r.Follow(ctx, audit.Filter{Cluster: "prod", Outcome: audit.OutcomeDenied, Since: since}, func(rec audit.Record) error {
			got <- rec
			return nil
		})
	}()
	mustWrite(t, w,
		audit.Record{ID: "n1", Event: audit.EventCommandDenied, Cluster: "prod", Outcome: audit.OutcomeDenied},
		audit.Record{ID: "n2", Event: audit.EventCommandDenied, Cluster: "dev", Outcome: audit.OutcomeDenied},
		audit.Record{ID: "n3", Event: audit.EventCommandExecuted, Cluster: "prod", Outcome: audit.OutcomeSuccess},
		audit.Record{ID: "n4", Event: audit.EventCommandDenied, Cluster: "prod", Outcome: audit.OutcomeDenied},
	)
	var seen []string
	for len(seen) < 2 {
		select {
		case rec := <-got:
			seen = append(seen, rec.ID)
		case <-time.After(10 * time.Second):
			t.Fatalf("Follow delivered %v within 10s; want [n1 n4]", seen)
		}
	}
	if !slices.Equal(seen, []string{"n1", "n4"}) {
		t.Errorf("Follow delivered %v; want [n1 n4]", seen)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Follow after cancel = %v; want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Follow did not return after cancel")
	}
	select {
	case rec := <-got:
		t.Errorf("Follow delivered %s; want nothing more", rec.ID)
	default:
	}
}

func TestFollowSinceAndCallbackError(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{})
	r := e.reader(t, audit.ReaderConfig{})
	since := time.Now().Add(-time.Second)
	mustWrite(t, w, audit.Record{ID: "s1", Event: audit.EventSessionCreated, Cluster: "dev"},
		audit.Record{ID: "s2", Event: audit.EventSessionEnded, Cluster: "dev"})
	stop := errors.New("stop")
	var seen []string
	err := r.Follow(testCtx(t), audit.Filter{Since: since}, func(rec audit.Record) error {
		seen = append(seen, rec.ID)
		if len(seen) == 2 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || !slices.Equal(seen, []string{"s1", "s2"}) {
		t.Errorf("Follow = %v, saw %v; want stop, [s1 s2]", err, seen)
	}
	if err := r.Follow(testCtx(t), audit.Filter{Event: "bad"}, func(audit.Record) error { return nil }); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("Follow(bad filter) = %v; want ErrInvalid", err)
	}
}

func TestAuthDeniedFlood(t *testing.T) {
	const limit, flood = 5, 10000
	tests := []struct {
		name        string
		identity    func(i int) string
		maxKeys     int
		wantStored  int // before the window ends
		wantSummary int // suppressed records summed over the summaries
	}{
		{"one identity", func(int) string { return "mallory" }, 0, limit, flood - limit},
		{"made-up identities", func(i int) string { return fmt.Sprintf("user%d", i) }, 50, 50 + limit, flood - 50 - limit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			clock := newFakeClock()
			w := e.writer(t, audit.WriterConfig{AuthDeniedLimit: limit, MaxTrackedKeys: tt.maxKeys, Now: clock.Now})
			for i := range flood {
				mustWrite(t, w, audit.Record{Event: audit.EventAuthDenied, Identity: tt.identity(i), Remote: "192.0.2.1:4000", Outcome: audit.OutcomeDenied})
			}
			if n := e.stored(t); n != uint64(tt.wantStored) {
				t.Fatalf("stored %d during the flood; want %d", n, tt.wantStored)
			}
			// The window ends; the next write (of anything) brings the summaries.
			clock.Advance(audit.DefaultAuthDeniedWindow)
			mustWrite(t, w, audit.Record{Event: audit.EventKeyChanged, Identity: "admin"})
			res, err := e.reader(t, audit.ReaderConfig{}).Query(testCtx(t),
				audit.Filter{Event: audit.EventAuthDenied}, audit.Page{Limit: audit.MaxLimit})
			if err != nil {
				t.Fatal(err)
			}
			suppressed, summaries := 0, 0
			for _, rec := range res.Records {
				if rec.Reason == audit.ReasonRateLimited {
					summaries++
					suppressed += rec.Suppressed
					if !strings.HasPrefix(rec.Message, fmt.Sprintf("suppressed %d auth_denied records", rec.Suppressed)) {
						t.Errorf("summary message %q", rec.Message)
					}
				}
			}
			if suppressed != tt.wantSummary || summaries == 0 || summaries > 33 {
				t.Errorf("%d summaries suppressing %d; want 1-33 suppressing %d", summaries, suppressed, tt.wantSummary)
			}
			// A new window admits the source again.
			mustWrite(t, w, audit.Record{Event: audit.EventAuthDenied, Identity: tt.identity(0)})
			if n, want := e.stored(t), uint64(tt.wantStored+summaries+2); n != want {
				t.Errorf("stored %d after the window; want %d", n, want)
			}
		})
	}
}

func TestFlushWritesSummary(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{AuthDeniedLimit: 1})
	for range 3 {
		mustWrite(t, w, audit.Record{Event: audit.EventAuthDenied, Remote: "198.51.100.9:1"})
	}
	if err := w.Flush(testCtx(t)); err != nil {
		t.Fatalf("Flush: %v", err)
	}
	res, err := e.reader(t, audit.ReaderConfig{}).Query(testCtx(t), audit.Filter{}, audit.Page{})
	if err != nil || len(res.Records) != 2 {
		t.Fatalf("Query = %d records, %v; want 2", len(res.Records), err)
	}
	if got := res.Records[1]; got.Suppressed != 2 || got.Remote != "198.51.100.9:1" {
		t.Errorf("summary = %+v; want Suppressed 2 for the remote", got)
	}
}

func TestEnsure(t *testing.T) {
	e := newEnv(t) // Ensure ran once
	ctx := testCtx(t)
	info := func() jetstream.StreamConfig {
		t.Helper()
		st, err := e.js.Stream(ctx, audit.StreamName)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().Config
	}
	cfg := info()
	if cfg.MaxAge != audit.DefaultMaxAge || cfg.Storage != jetstream.FileStorage || cfg.Replicas != 1 ||
		cfg.Duplicates != audit.DefaultDuplicates || !cfg.DenyDelete || !cfg.DenyPurge {
		t.Errorf("stream config %+v; want defaults", cfg)
	}
	if err := audit.Ensure(ctx, e.js, audit.StreamConfig{}); err != nil {
		t.Fatalf("Ensure again: %v", err)
	}
	w := e.writer(t, audit.WriterConfig{})
	mustWrite(t, w, audit.Record{ID: "kept", Event: audit.EventKeyChanged})
	if err := audit.Ensure(ctx, e.js, audit.StreamConfig{MaxAge: time.Hour, Duplicates: time.Minute}); err != nil {
		t.Fatalf("Ensure(MaxAge 1h): %v", err)
	}
	if got := info(); got.MaxAge != time.Hour || got.Duplicates != time.Minute {
		t.Errorf("after update MaxAge %v, Duplicates %v; want 1h, 1m", got.MaxAge, got.Duplicates)
	}
	if n := e.stored(t); n != 1 {
		t.Errorf("stored %d after update; want 1", n)
	}
	if err := audit.Ensure(ctx, e.js, audit.StreamConfig{Storage: jetstream.MemoryStorage}); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("Ensure(storage change) = %v; want ErrInvalid", err)
	}
}

func TestStreamConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  audit.StreamConfig
		ok   bool
	}{
		{"zero", audit.StreamConfig{}, true},
		{"memory", audit.StreamConfig{Storage: jetstream.MemoryStorage, Replicas: 3}, true},
		{"negative age", audit.StreamConfig{MaxAge: -time.Hour}, false},
		{"replicas", audit.StreamConfig{Replicas: 6}, false},
		{"storage", audit.StreamConfig{Storage: 7}, false},
		{"dupes beyond age", audit.StreamConfig{MaxAge: time.Minute, Duplicates: time.Hour}, false},
		{"negative bytes", audit.StreamConfig{MaxBytes: -1}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, audit.ErrInvalid)) {
				t.Errorf("Validate = %v; want ok %v", err, tt.ok)
			}
		})
	}
	if err := audit.Ensure(context.Background(), nil, audit.StreamConfig{}); !errors.Is(err, audit.ErrInvalid) {
		t.Errorf("Ensure(nil) = %v; want ErrInvalid", err)
	}
}

func TestRecordsSurviveRestart(t *testing.T) {
	dir := t.TempDir()
	srv := natstest.RunServerAt(t, -1, dir)
	port := srv.Addr().(*net.TCPAddr).Port
	e := newEnvAt(t, srv)
	w := e.writer(t, audit.WriterConfig{})
	want := []audit.Record{fullRecord(1), fullRecord(2), fullRecord(3)}
	mustWrite(t, w, want...)
	srv.Shutdown()
	srv.WaitForShutdown()

	e2 := newEnvAt(t, natstest.RunServerAt(t, port, dir))
	got, _ := queryAll(t, e2.reader(t, audit.ReaderConfig{}), audit.Filter{}, 2)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("records after restart (-want +got):\n%s", diff)
	}
	// The first client reconnects and writes on.
	testkit.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if !e.nc.IsConnected() {
			return errors.New("not reconnected")
		}
		return nil
	})
	mustWrite(t, w, fullRecord(4))
	if n := e2.stored(t); n != 4 {
		t.Errorf("stored %d; want 4", n)
	}
}

func TestWriteServerDown(t *testing.T) {
	e := newEnv(t)
	w := e.writer(t, audit.WriterConfig{AttemptTimeout: 100 * time.Millisecond})
	e.srv.Shutdown()
	e.srv.WaitForShutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := w.Write(ctx, fullRecord(1))
	if !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Write with server down = %v; want ErrUnavailable and DeadlineExceeded", err)
	}
	t.Logf("Write with server down: %v", err)
	// About the ctx's 500ms, not the retries' own pace: the bound leaves
	// room for a busy machine.
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Write took %v; want about the ctx timeout", d)
	}
	r := e.reader(t, audit.ReaderConfig{})
	if _, err := r.Query(ctx, audit.Filter{}, audit.Page{}); !errors.Is(err, audit.ErrUnavailable) {
		t.Errorf("Query with server down = %v; want ErrUnavailable", err)
	}
}

func TestConfigValidate(t *testing.T) {
	js, err := jetstream.New(natstest.Connect(t, natstest.RunServer(t)))
	if err != nil {
		t.Fatal(err)
	}
	writers := []struct {
		name string
		cfg  audit.WriterConfig
		ok   bool
	}{
		{"zero but js", audit.WriterConfig{JS: js}, true},
		{"nil js", audit.WriterConfig{}, false},
		{"negative limit", audit.WriterConfig{JS: js, AuthDeniedLimit: -1}, false},
		{"negative window", audit.WriterConfig{JS: js, AuthDeniedWindow: -1}, false},
		{"negative keys", audit.WriterConfig{JS: js, MaxTrackedKeys: -1}, false},
		{"negative timeout", audit.WriterConfig{JS: js, AttemptTimeout: -1}, false},
		{"long source", audit.WriterConfig{JS: js, Source: strings.Repeat("s", 300)}, false},
	}
	for _, tt := range writers {
		t.Run("writer/"+tt.name, func(t *testing.T) {
			_, err := audit.NewWriter(tt.cfg)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, audit.ErrInvalid)) {
				t.Errorf("NewWriter = %v; want ok %v", err, tt.ok)
			}
		})
	}
	readers := []struct {
		name string
		cfg  audit.ReaderConfig
		ok   bool
	}{
		{"zero but js", audit.ReaderConfig{JS: js}, true},
		{"nil js", audit.ReaderConfig{}, false},
		{"negative budget", audit.ReaderConfig{JS: js, ScanBudget: -1}, false},
	}
	for _, tt := range readers {
		t.Run("reader/"+tt.name, func(t *testing.T) {
			_, err := audit.NewReader(tt.cfg)
			if (err == nil) != tt.ok || (err != nil && !errors.Is(err, audit.ErrInvalid)) {
				t.Errorf("NewReader = %v; want ok %v", err, tt.ok)
			}
		})
	}
}
