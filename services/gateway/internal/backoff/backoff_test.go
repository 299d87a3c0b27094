package backoff

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newTable(t *testing.T, cfg Config) (*Table, *clock) {
	t.Helper()
	c := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	cfg.Now = c.Now
	tb, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return tb, c
}

func TestBackoffExponential(t *testing.T) {
	tb, c := newTable(t, Config{Failures: 3, Window: time.Minute, Base: time.Second, Max: 8 * time.Second})
	for i := range 2 {
		if w := tb.Fail("a"); w != 0 {
			t.Fatalf("failure %d refused for %s; want 0 under the threshold", i+1, w)
		}
	}
	if _, refused := tb.Refused("a"); refused {
		t.Fatal("refused after 2 failures; want 3 first")
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 8 * time.Second}
	for i, w := range want {
		if got := tb.Fail("a"); got != w {
			t.Errorf("refusal %d = %s; want %s", i+1, got, w)
		}
		if left, refused := tb.Refused("a"); !refused || left != w {
			t.Errorf("Refused after refusal %d = %s %v; want %s true", i+1, left, refused, w)
		}
		c.Advance(w)
		if _, refused := tb.Refused("a"); refused {
			t.Errorf("still refused after %s", w)
		}
	}
	// Other addresses are untouched.
	if _, refused := tb.Refused("b"); refused {
		t.Error("b refused for a's failures")
	}
	// A quiet window starts afresh.
	c.Advance(2 * time.Minute)
	if w := tb.Fail("a"); w != 0 {
		t.Errorf("first failure after a quiet window refused for %s; want 0", w)
	}
}

func TestBackoffBoundedMemory(t *testing.T) {
	tb, c := newTable(t, Config{Failures: 2, MaxEntries: 100})
	for i := range 10000 {
		tb.Fail(fmt.Sprintf("10.0.%d.%d", i/256, i%256))
	}
	if n := tb.Len(); n != 100 {
		t.Errorf("Len after 10000 addresses = %d; want the bound 100", n)
	}
	// The most recent ones are kept.
	tb.Fail("10.0.39.15") // the 10000th address, failing a second time
	if _, refused := tb.Refused("10.0.39.15"); !refused {
		t.Error("most recent address forgotten")
	}
	// Stale entries go on the next failure.
	c.Advance(time.Hour)
	tb.Fail("x")
	if n := tb.Len(); n != 1 {
		t.Errorf("Len after an hour = %d; want 1", n)
	}
}

func TestBackoffDisabled(t *testing.T) {
	tb, _ := newTable(t, Config{Failures: -1})
	for range 100 {
		tb.Fail("a")
	}
	if _, refused := tb.Refused("a"); refused || tb.Enabled() {
		t.Error("disabled table refuses")
	}
	var nilTable *Table
	if _, refused := nilTable.Refused("a"); refused || nilTable.Fail("a") != 0 {
		t.Error("nil table refuses")
	}
}

func TestNewErrors(t *testing.T) {
	for _, cfg := range []Config{{Window: -1}, {Base: time.Minute, Max: time.Second}, {MaxEntries: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) = nil error", cfg)
		}
	}
}

func TestKey(t *testing.T) {
	tests := []struct{ ip, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"2001:db8:1:2:ffff::1", "2001:db8:1:2::/64"},
		{"not-an-ip", "invalid"},
	}
	for _, tt := range tests {
		if got := Key(tt.ip); got != tt.want {
			t.Errorf("Key(%q) = %q; want %q", tt.ip, got, tt.want)
		}
	}
}

func TestBackoffConcurrent(t *testing.T) {
	tb, _ := newTable(t, Config{Failures: 5, MaxEntries: 50})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 500 {
				k := fmt.Sprintf("k%d", (g*500+i)%80)
				tb.Fail(k)
				tb.Refused(k)
			}
		})
	}
	wg.Wait()
	if n := tb.Len(); n > 50 {
		t.Errorf("Len = %d; want at most 50", n)
	}
}
