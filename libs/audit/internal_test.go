package audit

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCursor(t *testing.T) {
	for _, seq := range []uint64{1, 2, 1 << 40, ^uint64(0)} {
		got, err := decodeCursor(encodeCursor(seq))
		if err != nil || got != seq {
			t.Errorf("decode(encode(%d)) = %d, %v", seq, got, err)
		}
	}
	if got, err := decodeCursor(""); got != 0 || err != nil {
		t.Errorf(`decode("") = %d, %v; want 0, nil`, got, err)
	}
	if _, err := decodeCursor(encodeCursor(0)); !errors.Is(err, ErrBadCursor) {
		t.Errorf("decode(zero sequence) = %v; want ErrBadCursor", err)
	}
}

func TestLimiter(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Minute, 3)
	admit := func(identity, remote string, at time.Time) bool {
		ok, due := l.admit(&Record{Identity: identity, Remote: remote}, at)
		if len(due) != 0 {
			t.Fatalf("admit(%q) at %v returned %d summaries mid-window", identity, at, len(due))
		}
		return ok
	}
	var got []bool
	for _, who := range []string{"a", "a", "a", "b", "c", "d", "e", "d", "e"} {
		got = append(got, admit(who, "", t0))
	}
	got = append(got, admit("", "10.0.0.1:1", t0)) // a new key: overflow, over budget
	want := []bool{true, true, false, true, true, true, true, false, false, false}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("admitted (-want +got):\n%s", diff)
	}
	if len(l.keys) > 4 {
		t.Errorf("tracking %d keys; want at most maxKeys+1", len(l.keys))
	}
	ok, due := l.admit(&Record{Identity: "a"}, t0.Add(time.Minute))
	if !ok {
		t.Error("a not admitted in the next window")
	}
	var sum []string
	for _, r := range due {
		sum = append(sum, r.Identity+":"+r.Message[:len("suppressed 3")])
		if r.Event != EventAuthDenied || r.Reason != ReasonRateLimited || r.Outcome != OutcomeDenied {
			t.Errorf("summary %+v", r)
		}
	}
	if diff := cmp.Diff([]string{":suppressed 3", "a:suppressed 1"}, sum); diff != "" {
		t.Errorf("summaries (-want +got):\n%s", diff)
	}
	if due := l.rotate(t0.Add(time.Minute), true); len(due) != 0 {
		t.Errorf("forced rotate with nothing suppressed = %d summaries", len(due))
	}
}

func TestLimiterSummariesBounded(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1, time.Minute, 10000)
	for i := range 100 {
		for range 2 + i%3 {
			l.admit(&Record{Remote: string(rune('A' + i))}, t0)
		}
	}
	due := l.rotate(t0, true)
	if len(due) != maxSummaries+1 {
		t.Fatalf("%d summaries; want %d", len(due), maxSummaries+1)
	}
	total := 0
	for _, r := range due {
		total += r.Suppressed
		if err := (&Record{Type: RecordType, ID: "x", Time: r.Time, Event: r.Event, Outcome: r.Outcome,
			Reason: r.Reason, Message: r.Message, Remote: r.Remote, Suppressed: r.Suppressed}).Validate(); err != nil {
			t.Errorf("summary invalid: %v", err)
		}
	}
	if want := suppressedIn(100); total != want {
		t.Errorf("summaries suppress %d; want %d", total, want)
	}
}

// suppressedIn is how many records TestLimiterSummariesBounded's loop
// suppresses with n sources and a limit of 1.
func suppressedIn(n int) int {
	s := 0
	for i := range n {
		s += 1 + i%3
	}
	return s
}

func TestSameConfigAfterEnsure(t *testing.T) {
	cfg := StreamConfig{}.stream()
	if !same(cfg, cfg) {
		t.Fatal("same(cfg, cfg) = false")
	}
	other := cfg
	other.MaxAge = time.Hour
	if same(cfg, other) {
		t.Error("same ignores MaxAge")
	}
}
