package audit

import (
	"cmp"
	"fmt"
	"slices"
	"time"
)

// maxSummaries is how many per-source summary records one window ends
// with at most; the sources beyond it share one more.
const maxSummaries = 32

// overflowKey collects sources seen once the limiter tracks maxKeys: they
// share one budget, so a flood of made-up names stays bounded too.
const overflowKey = "\x00overflow"

// limiter is a fixed-window counter per source (identity, else remote
// address) for auth_denied records. Its memory is bounded by maxKeys and
// it forgets everything at the end of each window. It is not safe for
// concurrent use; the Writer holds a lock around it.
type limiter struct {
	limit   int
	window  time.Duration
	maxKeys int

	start time.Time // of the current window; zero when none is open
	keys  map[string]*source
}

type source struct {
	identity, remote string
	seen             int // records in this window, written or not
	suppressed       int
}

func newLimiter(limit int, window time.Duration, maxKeys int) *limiter {
	return &limiter{limit: limit, window: window, maxKeys: maxKeys, keys: map[string]*source{}}
}

// admit counts one auth_denied record of rec's source at now and reports
// whether it may be written. It also returns the summaries of a window
// that ended before now, to be written first.
func (l *limiter) admit(rec *Record, now time.Time) (ok bool, due []Record) {
	due = l.rotate(now, false)
	if l.start.IsZero() {
		l.start = now
	}
	key := rec.Identity
	if key == "" {
		key = "remote:" + rec.Remote
	} else {
		key = "identity:" + key
	}
	s := l.keys[key]
	if s == nil {
		if len(l.keys) >= l.maxKeys {
			key = overflowKey
			s = l.keys[key]
		}
		if s == nil {
			s = &source{identity: rec.Identity, remote: rec.Remote}
			if key == overflowKey {
				s.identity, s.remote = "", ""
			}
			l.keys[key] = s
		}
	}
	s.seen++
	if s.seen > l.limit {
		s.suppressed++
		return false, due
	}
	return true, due
}

// rotate ends the current window if it is over at now (or if force is
// set) and returns its summary records, at most maxSummaries+1.
func (l *limiter) rotate(now time.Time, force bool) []Record {
	if l.start.IsZero() || (!force && now.Before(l.start.Add(l.window))) {
		return nil
	}
	start := l.start
	var hit []*source
	for _, s := range l.keys {
		if s.suppressed > 0 {
			hit = append(hit, s)
		}
	}
	l.start = time.Time{}
	clear(l.keys)
	if len(hit) == 0 {
		return nil
	}
	slices.SortFunc(hit, func(a, b *source) int {
		return cmp.Or(cmp.Compare(b.suppressed, a.suppressed),
			cmp.Compare(a.identity, b.identity), cmp.Compare(a.remote, b.remote))
	})
	var out []Record
	for i, s := range hit {
		if i == maxSummaries {
			rest, n := 0, 0
			for _, s := range hit[i:] {
				rest += s.suppressed
				n++
			}
			out = append(out, summary(now, "", "", rest,
				fmt.Sprintf("suppressed %d auth_denied records from %d more sources since %s", rest, n, start.UTC().Format(time.RFC3339))))
			break
		}
		out = append(out, summary(now, s.identity, s.remote, s.suppressed,
			fmt.Sprintf("suppressed %d auth_denied records since %s", s.suppressed, start.UTC().Format(time.RFC3339))))
	}
	return out
}

func summary(now time.Time, identity, remote string, n int, msg string) Record {
	return Record{
		Event:      EventAuthDenied,
		Time:       now,
		Identity:   identity,
		Remote:     remote,
		Outcome:    OutcomeDenied,
		Reason:     ReasonRateLimited,
		Suppressed: n,
		Message:    msg,
	}.Clamp()
}
