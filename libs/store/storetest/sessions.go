package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
	"kubently.io/libs/testkit"
)

var sessionTests = []test{
	{"CreateGet", testCreateGet},
	{"CreateDuplicate", testCreateDuplicate},
	{"NotFound", testSessionNotFound},
	{"Expire", testSessionExpire},
	{"TouchExtends", testTouchExtends},
	{"End", testEnd},
	{"TouchEndRace", testTouchEndRace},
	{"List", testList},
	{"BadInput", testSessionBadInput},
}

func testCreateGet(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	s := newSession(newCluster(), time.Minute)
	s.State = "" // the store sets it
	mustCreate(t, st, s, time.Minute)
	if diff := cmp.Diff(active(s), mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession() mismatch (-want +got):\n%s", diff)
	}
	// Another client sees it too.
	if diff := cmp.Diff(active(s), mustGet(t, newStore(t), s.ID)); diff != "" {
		t.Errorf("GetSession() from a second client mismatch (-want +got):\n%s", diff)
	}
}

func testCreateDuplicate(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	s := newSession(newCluster(), time.Minute)
	mustCreate(t, st, s, time.Minute)
	tests := []struct {
		name string
		dup  contracts.Session
	}{
		{name: "same", dup: s},
		{name: "other cluster", dup: func() contracts.Session { d := s; d.Cluster = newCluster(); return d }()},
		{name: "other owner", dup: func() contracts.Session { d := s; d.Owner = "mallory"; return d }()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := st.CreateSession(ctx(t), tt.dup, time.Minute); !errIs(err, store.ErrExists) {
				t.Errorf("CreateSession(duplicate) = %v; want %v", err, store.ErrExists)
			}
		})
	}
	// The original is untouched.
	if diff := cmp.Diff(active(s), mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession() after duplicates mismatch (-want +got):\n%s", diff)
	}
	// Concurrent creates of one id: exactly one wins.
	s2 := newSession(newCluster(), time.Minute)
	var mu sync.Mutex
	var won, lost int
	fns := make([]func(), 8)
	for i := range fns {
		other := newStore(t)
		fns[i] = func() {
			err := other.CreateSession(ctx(t), s2, time.Minute)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errIs(err, store.ErrExists):
				lost++
			default:
				t.Errorf("concurrent CreateSession() = %v; want nil or %v", err, store.ErrExists)
			}
		}
	}
	parallel(fns...)
	if won != 1 || lost != len(fns)-1 {
		t.Errorf("concurrent creates: got %d won, %d lost; want 1, %d", won, lost, len(fns)-1)
	}
}

func testSessionNotFound(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	id := newSession(newCluster(), time.Minute).ID
	tests := []struct {
		name string
		call func() error
	}{
		{"Get", func() error { _, err := st.GetSession(ctx(t), id); return err }},
		{"Touch", func() error { _, err := st.TouchSession(ctx(t), id, time.Minute); return err }},
		{"End", func() error { _, err := st.EndSession(ctx(t), id); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrNotFound) {
				t.Errorf("%s(unknown) = %v; want %v", tt.name, err, store.ErrNotFound)
			}
		})
	}
}

func testSessionExpire(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	s := newSession(newCluster(), time.Second)
	mustCreate(t, st, s, time.Second)
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		return stateErr(mustGet(t, st, s.ID).State, contracts.SessionExpired)
	})
	want := s
	want.State = contracts.SessionExpired
	if diff := cmp.Diff(want, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession(expired) mismatch (-want +got):\n%s", diff)
	}
	// Touch and End return it unchanged, without error, and do not revive it.
	got, err := st.TouchSession(c, s.ID, time.Minute)
	if err != nil {
		t.Fatalf("TouchSession(expired) = %v; want nil", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("TouchSession(expired) mismatch (-want +got):\n%s", diff)
	}
	got, err = st.EndSession(c, s.ID)
	if err != nil {
		t.Fatalf("EndSession(expired) = %v; want nil", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("EndSession(expired) mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession(expired) after touch and end mismatch (-want +got):\n%s", diff)
	}
	list, err := st.ListSessions(c, s.Cluster)
	if err != nil {
		t.Fatalf("ListSessions() = %v; want nil", err)
	}
	if len(list) != 0 {
		t.Errorf("ListSessions() = %v; want none", ids(list, sessionID))
	}
	// The id stays taken while the record is kept.
	if err := st.CreateSession(c, s, time.Minute); !errIs(err, store.ErrExists) {
		t.Errorf("CreateSession(expired id) = %v; want %v", err, store.ErrExists)
	}
}

func testTouchExtends(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	const ttl = 2 * time.Second
	s := newSession(newCluster(), ttl)
	mustCreate(t, st, s, ttl)
	last := s
	// Keep it alive until well past its original TTL.
	for time.Now().Before(s.ExpiresAt.Add(1500 * time.Millisecond)) {
		time.Sleep(300 * time.Millisecond)
		got, err := st.TouchSession(c, s.ID, ttl)
		if err != nil {
			t.Fatalf("TouchSession() = %v; want nil", err)
		}
		if got.State != contracts.SessionActive {
			t.Fatalf("TouchSession() state = %q; want %q", got.State, contracts.SessionActive)
		}
		if !got.ExpiresAt.After(last.ExpiresAt) {
			t.Errorf("TouchSession() ExpiresAt = %v; want after %v", got.ExpiresAt, last.ExpiresAt)
		}
		if got.TTLSeconds != 2 {
			t.Errorf("TouchSession() TTLSeconds = %d; want 2", got.TTLSeconds)
		}
		last = got
	}
	if diff := cmp.Diff(last, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession() past the original TTL mismatch (-want +got):\n%s", diff)
	}
	// A longer TTL on touch is kept too.
	got, err := st.TouchSession(c, s.ID, time.Hour)
	if err != nil {
		t.Fatalf("TouchSession(1h) = %v; want nil", err)
	}
	if got.TTLSeconds != 3600 {
		t.Errorf("TouchSession(1h) TTLSeconds = %d; want 3600", got.TTLSeconds)
	}
	if d := time.Until(got.ExpiresAt); d < 59*time.Minute || d > time.Hour {
		t.Errorf("TouchSession(1h) ExpiresAt in %v; want about 1h", d)
	}
	if diff := cmp.Diff(got, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession() after 1h touch mismatch (-want +got):\n%s", diff)
	}
}

func testEnd(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	cluster := newCluster()
	s := newSession(cluster, time.Second)
	witness := newSession(cluster, time.Second)
	mustCreate(t, st, s, time.Second)
	mustCreate(t, st, witness, time.Second)

	ended, err := st.EndSession(c, s.ID)
	if err != nil {
		t.Fatalf("EndSession() = %v; want nil", err)
	}
	if ended.State != contracts.SessionEnded || ended.EndedAt == nil {
		t.Fatalf("EndSession() = state %q, ended at %v; want %q and a time", ended.State, ended.EndedAt, contracts.SessionEnded)
	}
	want := s
	want.State, want.EndedAt = contracts.SessionEnded, ended.EndedAt
	if diff := cmp.Diff(want, ended); diff != "" {
		t.Errorf("EndSession() mismatch (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession(ended) mismatch (-want +got):\n%s", diff)
	}
	again, err := st.EndSession(c, s.ID)
	if err != nil {
		t.Fatalf("EndSession(ended) = %v; want nil", err)
	}
	if diff := cmp.Diff(want, again); diff != "" {
		t.Errorf("EndSession(ended) mismatch (-want +got):\n%s", diff)
	}
	touched, err := st.TouchSession(c, s.ID, time.Minute)
	if err != nil {
		t.Fatalf("TouchSession(ended) = %v; want nil", err)
	}
	if diff := cmp.Diff(want, touched); diff != "" {
		t.Errorf("TouchSession(ended) mismatch (-want +got):\n%s", diff)
	}
	// It stays ended (not expired) once its TTL has run out, which the
	// witness shows.
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		return stateErr(mustGet(t, st, witness.ID).State, contracts.SessionExpired)
	})
	if diff := cmp.Diff(want, mustGet(t, st, s.ID)); diff != "" {
		t.Errorf("GetSession(ended) after its TTL mismatch (-want +got):\n%s", diff)
	}
}

// testTouchEndRace: a touch racing an end never brings the session back.
func testTouchEndRace(t *testing.T, newStore func(t *testing.T) store.Store) {
	a, b := newStore(t), newStore(t)
	c := ctx(t)
	cluster := newCluster()
	for range 10 {
		s := newSession(cluster, time.Minute)
		mustCreate(t, a, s, time.Minute)
		var endErr error
		touchErrs := make([]error, 4)
		var mu sync.Mutex
		endReturned := false
		var revived []contracts.SessionState
		fns := []func(){func() {
			_, endErr = b.EndSession(c, s.ID)
			mu.Lock()
			endReturned = true
			mu.Unlock()
		}}
		for i := range touchErrs {
			fns = append(fns, func() {
				for range 5 {
					mu.Lock()
					afterEnd := endReturned
					mu.Unlock()
					got, err := a.TouchSession(c, s.ID, time.Minute)
					if err != nil {
						touchErrs[i] = err
						return
					}
					if afterEnd && got.State != contracts.SessionEnded {
						mu.Lock()
						revived = append(revived, got.State)
						mu.Unlock()
					}
				}
			})
		}
		parallel(fns...)
		if endErr != nil {
			t.Fatalf("EndSession() = %v; want nil", endErr)
		}
		for i, err := range touchErrs {
			if err != nil {
				t.Fatalf("TouchSession() #%d = %v; want nil", i, err)
			}
		}
		if len(revived) > 0 {
			t.Errorf("TouchSession() started after EndSession() returned: states %v; want %q", revived, contracts.SessionEnded)
		}
		if got := mustGet(t, a, s.ID).State; got != contracts.SessionEnded {
			t.Fatalf("GetSession() after racing touch and end: state %q; want %q", got, contracts.SessionEnded)
		}
		list, err := a.ListSessions(c, cluster)
		if err != nil {
			t.Fatalf("ListSessions() = %v; want nil", err)
		}
		if len(list) != 0 {
			t.Fatalf("ListSessions() after end = %v; want none", ids(list, sessionID))
		}
	}
}

func testList(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	c := ctx(t)
	clusterA, clusterB := newCluster(), newCluster()
	base := time.Now().UTC().Add(-time.Minute)
	var a [5]contracts.Session
	for i := range a {
		a[i] = newSession(clusterA, time.Minute)
		a[i].CreatedAt = base.Add(time.Duration(i) * time.Second)
	}
	// Created out of order: the list is by creation time.
	for _, i := range []int{2, 0, 3, 1} {
		mustCreate(t, st, a[i], time.Minute)
	}
	mustCreate(t, st, a[4], time.Second) // expires
	b := newSession(clusterB, time.Minute)
	mustCreate(t, st, b, time.Minute)
	if _, err := st.EndSession(c, a[3].ID); err != nil {
		t.Fatalf("EndSession() = %v; want nil", err)
	}
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		return stateErr(mustGet(t, st, a[4].ID).State, contracts.SessionExpired)
	})

	tests := []struct {
		name    string
		cluster string
		want    []contracts.Session
	}{
		{name: "active only, oldest first", cluster: clusterA, want: []contracts.Session{a[0], a[1], a[2]}},
		{name: "other cluster", cluster: clusterB, want: []contracts.Session{b}},
		{name: "unknown cluster", cluster: newCluster(), want: []contracts.Session{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.ListSessions(c, tt.cluster)
			if err != nil {
				t.Fatalf("ListSessions() = %v; want nil", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ListSessions() mismatch (-want +got):\n%s", diff)
			}
		})
	}
	// A touch keeps the order and shows the new expiry.
	touched, err := st.TouchSession(c, a[0].ID, 2*time.Minute)
	if err != nil {
		t.Fatalf("TouchSession() = %v; want nil", err)
	}
	got, err := st.ListSessions(c, clusterA)
	if err != nil {
		t.Fatalf("ListSessions() = %v; want nil", err)
	}
	if diff := cmp.Diff([]contracts.Session{touched, a[1], a[2]}, got); diff != "" {
		t.Errorf("ListSessions() after touch mismatch (-want +got):\n%s", diff)
	}
}

func testSessionBadInput(t *testing.T, newStore func(t *testing.T) store.Store) {
	st := newStore(t)
	good := newSession(newCluster(), time.Minute)
	with := func(f func(*contracts.Session)) contracts.Session { s := good; f(&s); return s }
	tests := []struct {
		name string
		call func() error
	}{
		{"create empty id", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.ID = "" }), time.Minute)
		}},
		{"create upper-case id", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.ID = "ABC" }), time.Minute)
		}},
		{"create id with dot", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.ID = "a.b" }), time.Minute)
		}},
		{"create id with wildcard", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.ID = "a*" }), time.Minute)
		}},
		{"create id too long", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.ID = fmt.Sprintf("%064d", 1) }), time.Minute)
		}},
		{"create empty cluster", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.Cluster = "" }), time.Minute)
		}},
		{"create cluster with space", func() error {
			return st.CreateSession(ctx(t), with(func(s *contracts.Session) { s.Cluster = "a b" }), time.Minute)
		}},
		{"create zero ttl", func() error { return st.CreateSession(ctx(t), good, 0) }},
		{"create negative ttl", func() error { return st.CreateSession(ctx(t), good, -time.Second) }},
		{"get empty id", func() error { _, err := st.GetSession(ctx(t), ""); return err }},
		{"get bad id", func() error { _, err := st.GetSession(ctx(t), "x}{"); return err }},
		{"touch empty id", func() error { _, err := st.TouchSession(ctx(t), "", time.Minute); return err }},
		{"touch zero ttl", func() error { _, err := st.TouchSession(ctx(t), good.ID, 0); return err }},
		{"end empty id", func() error { _, err := st.EndSession(ctx(t), ""); return err }},
		{"list empty cluster", func() error { _, err := st.ListSessions(ctx(t), ""); return err }},
		{"list wildcard cluster", func() error { _, err := st.ListSessions(ctx(t), "*"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.call(); !errIs(err, store.ErrInvalid) {
				t.Errorf("got %v; want %v", err, store.ErrInvalid)
			}
		})
	}
	// Nothing was written.
	if _, err := st.GetSession(ctx(t), good.ID); !errIs(err, store.ErrNotFound) {
		t.Errorf("GetSession() after bad input = %v; want %v", err, store.ErrNotFound)
	}
}
