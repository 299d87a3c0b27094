// Package backoff slows down callers that fail to authenticate: after
// Config.Failures failed attempts from one client address within
// Config.Window, the address is refused for Config.Base, doubling with
// each further failure up to Config.Max. The gateway answers refused
// requests 429 with Retry-After before it looks at their credentials.
//
// # Keys and memory
//
// Keys are client addresses (Key turns an IP into one: the address for
// IPv4, its /64 network for IPv6, since one host commonly holds a whole
// /64). At most Config.MaxEntries keys are tracked; beyond that the key
// that failed least recently is forgotten, so a flood of addresses costs
// bounded memory. A key whose last failure is older than both Window and
// its refusal is dropped too.
//
// A successful authentication changes nothing: it neither resets the
// address's count (an attacker holding one valid key could otherwise
// interleave it with guesses) nor touches any other address's.
//
// # Concurrency
//
// A Table is safe for concurrent use.
package backoff

import (
	"container/list"
	"errors"
	"net"
	"sync"
	"time"
)

// Defaults of Config's zero values.
const (
	DefaultFailures   = 10
	DefaultWindow     = time.Minute
	DefaultBase       = time.Second
	DefaultMax        = 5 * time.Minute
	DefaultMaxEntries = 10000
)

// Config configures New.
type Config struct {
	// Failures is how many failures within Window an address may have
	// before it is refused; zero means DefaultFailures, negative turns
	// the back-off off.
	Failures int
	// Window is how long a failure counts; zero means DefaultWindow.
	Window time.Duration
	// Base is the first refusal; zero means DefaultBase.
	Base time.Duration
	// Max bounds a refusal; zero means DefaultMax.
	Max time.Duration
	// MaxEntries bounds the tracked addresses; zero means
	// DefaultMaxEntries.
	MaxEntries int
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Table tracks failed authentications per key.
type Table struct {
	cfg Config

	mu      sync.Mutex
	entries map[string]*list.Element
	lru     *list.List // of *entry, most recent failure first
}

type entry struct {
	key   string
	count int       // failures in the current window
	first time.Time // start of the current window
	last  time.Time // last failure
	until time.Time // refused until
}

// New returns a Table.
func New(cfg Config) (*Table, error) {
	if cfg.Window < 0 || cfg.Base < 0 || cfg.Max < 0 || cfg.MaxEntries < 0 {
		return nil, errors.New("backoff: negative Window, Base, Max or MaxEntries")
	}
	if cfg.Failures == 0 {
		cfg.Failures = DefaultFailures
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.Base == 0 {
		cfg.Base = DefaultBase
	}
	if cfg.Max == 0 {
		cfg.Max = DefaultMax
	}
	if cfg.Max < cfg.Base {
		return nil, errors.New("backoff: Max is below Base")
	}
	if cfg.MaxEntries == 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Table{cfg: cfg, entries: map[string]*list.Element{}, lru: list.New()}, nil
}

// Enabled reports whether the table refuses anything at all.
func (t *Table) Enabled() bool { return t != nil && t.cfg.Failures > 0 }

// Refused reports whether key is refused now, and for how much longer.
func (t *Table) Refused(key string) (time.Duration, bool) {
	if !t.Enabled() {
		return 0, false
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	el, ok := t.entries[key]
	if !ok {
		return 0, false
	}
	e := el.Value.(*entry)
	if wait := e.until.Sub(now); wait > 0 {
		return wait, true
	}
	return 0, false
}

// Fail records a failed authentication of key and returns how long key is
// now refused (zero while it is under Config.Failures).
func (t *Table) Fail(key string) time.Duration {
	if !t.Enabled() {
		return 0
	}
	now := t.cfg.Now()
	t.mu.Lock()
	defer t.mu.Unlock()
	var e *entry
	if el, ok := t.entries[key]; ok {
		e = el.Value.(*entry)
		t.lru.MoveToFront(el)
	} else {
		e = &entry{key: key, first: now}
		t.entries[key] = t.lru.PushFront(e)
		for t.lru.Len() > t.cfg.MaxEntries {
			t.remove(t.lru.Back())
		}
	}
	// A window without failures, and no refusal running, starts afresh;
	// a refusal keeps its count so the next one is longer.
	if now.Sub(e.last) > t.cfg.Window && !now.Before(e.until) && now.Sub(e.until) > t.cfg.Window {
		e.count, e.first = 0, now
	}
	e.count++
	e.last = now
	t.sweep(now)
	over := e.count - t.cfg.Failures
	if over < 0 {
		return 0
	}
	wait := t.cfg.Base
	for i := 0; i < over && wait < t.cfg.Max; i++ {
		wait *= 2
	}
	wait = min(wait, t.cfg.Max)
	e.until = now.Add(wait)
	return wait
}

// Len is the number of tracked keys.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lru.Len()
}

// sweep drops stale keys from the least recent end; called with t.mu held.
func (t *Table) sweep(now time.Time) {
	for el := t.lru.Back(); el != nil; el = t.lru.Back() {
		e := el.Value.(*entry)
		if now.Sub(e.last) <= t.cfg.Window || now.Before(e.until) {
			return
		}
		t.remove(el)
	}
}

func (t *Table) remove(el *list.Element) {
	delete(t.entries, el.Value.(*entry).key)
	t.lru.Remove(el)
}

// Key is the table key of a client address: the IP itself for IPv4, the
// /64 network for IPv6, "invalid" for what does not parse.
func Key(ip string) string {
	p := net.ParseIP(ip)
	if p == nil {
		return "invalid"
	}
	if v4 := p.To4(); v4 != nil {
		return v4.String()
	}
	return p.Mask(net.CIDRMask(64, 128)).String() + "/64"
}
