package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/store"
)

// Reasons of the errors a settled request fails with.
const (
	ReasonNotDispatched = contracts.ReasonNotDispatched
	ReasonResultLost    = contracts.ReasonResultLost
)

// Settling schedule: after a bus disruption each execute request in flight
// is checked settleChecks times, the first settleFirst after the event (so
// messages buffered across the gap arrive first), then every settleEvery.
// A request seen answered at one check and still without a reply at a
// later one (at least settleEvery apart) lost its reply.
const (
	settleFirst  = time.Second
	settleEvery  = 2 * time.Second
	settleChecks = 4
	// fenceSlack is how long a fence outlives the request's own wait, so
	// a request delivered very late still finds it.
	fenceSlack = time.Minute
	// replayWait bounds the wait for a dispatcher to send a lost reply
	// again; only the replica that has it answers.
	replayWait = time.Second
)

// Fencer settles a command id's fate; store.Bridge.Fence implements it.
type Fencer interface {
	Fence(ctx context.Context, commandID string, until time.Time) (store.CommandState, error)
}

// settler tracks the execute requests waiting for a dispatcher's reply.
// NATS delivers at most once: a request or reply in flight when a
// connection drops (a NATS node dies, NATS restarts) is gone, and its
// caller would wait out the command's whole timeout. So after any
// disruption — this replica's own reconnect, or a dispatcher announcing
// its reconnect (contracts.BusReconnectedSubject) — the settler checks
// each request that was in flight through the store (Fencer): one no
// dispatcher queued is fenced and fails at once (not_dispatched: it did
// not and will not run); one whose result reached the dispatcher but
// whose reply does not come fails as result_lost; one still queued or
// running keeps waiting, as its reply will come over the restored
// connection.
type settler struct {
	fence Fencer
	// replay asks the dispatchers for a command's reply again; nil: none.
	replay  func(commandID string) ([]byte, error)
	timeout time.Duration // per store call
	log     *slog.Logger
	settled *prometheus.CounterVec

	kick chan struct{}

	mu    sync.Mutex
	calls map[string]*waiting
}

// waiting is one request in flight.
type waiting struct {
	id     string
	sent   time.Time
	until  time.Time // the fence's horizon
	cancel context.CancelCauseFunc

	// Guarded by settler.mu.
	checksLeft int
	nextCheck  time.Time
	answeredAt time.Time // when a check first saw the result delivered
}

func newSettler(f Fencer, timeout time.Duration, log *slog.Logger) *settler {
	return &settler{
		fence: f, timeout: timeout, log: log,
		kick:  make(chan struct{}, 1),
		calls: map[string]*waiting{},
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_requests_settled_total",
			Help: "Execute requests in flight across a NATS disruption, by how they were settled: not_dispatched (lost before queueing; fenced and failed at once), replayed (the reply was lost and the dispatcher sent it again), result_lost (ran; the reply was lost and no dispatcher had it; failed at once), waited (queued; kept waiting for the reply), unsettled (the store could not be read; kept waiting).",
		}, []string{"outcome"}),
	}
}

// track registers a request with command id id whose wait ends at end;
// cancel ends the wait with a cause. The returned func unregisters it.
func (st *settler) track(id string, end time.Time, cancel context.CancelCauseFunc) func() {
	w := &waiting{id: id, sent: time.Now(), until: end.Add(fenceSlack), cancel: cancel}
	st.mu.Lock()
	st.calls[id] = w
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		delete(st.calls, id)
		st.mu.Unlock()
	}
}

// disrupted marks every request sent before now as at risk and wakes the
// settling loop. It never blocks (it runs on NATS callback goroutines).
func (st *settler) disrupted(why string) {
	now := time.Now()
	n := 0
	st.mu.Lock()
	for _, w := range st.calls {
		if w.sent.After(now) {
			continue
		}
		w.checksLeft = settleChecks
		w.nextCheck = now.Add(settleFirst)
		w.answeredAt = time.Time{}
		n++
	}
	st.mu.Unlock()
	if n == 0 {
		return
	}
	st.log.Warn("nats disruption: settling execute requests in flight", "cause", why, "requests", n)
	select {
	case st.kick <- struct{}{}:
	default:
	}
}

// run checks at-risk requests when they are due, until done closes.
func (st *settler) run(done <-chan struct{}) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		select {
		case <-done:
			return
		case <-st.kick:
		case <-timer.C:
		}
		next := st.checkDue(done)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		if next.IsZero() {
			timer.Reset(time.Hour)
		} else {
			timer.Reset(max(time.Until(next), 10*time.Millisecond))
		}
	}
}

// checkDue checks the requests whose check is due and returns when the
// next one is (zero: none at risk).
func (st *settler) checkDue(done <-chan struct{}) time.Time {
	now := time.Now()
	var due []*waiting
	st.mu.Lock()
	for _, w := range st.calls {
		if w.checksLeft > 0 && !w.nextCheck.After(now) {
			due = append(due, w)
		}
	}
	st.mu.Unlock()
	for _, w := range due {
		select {
		case <-done:
			return time.Time{}
		default:
		}
		st.check(w)
	}
	var next time.Time
	st.mu.Lock()
	defer st.mu.Unlock()
	for _, w := range st.calls {
		if w.checksLeft > 0 && (next.IsZero() || w.nextCheck.Before(next)) {
			next = w.nextCheck
		}
	}
	return next
}

// check settles one request as far as the store allows.
func (st *settler) check(w *waiting) {
	ctx, cancel := context.WithTimeout(context.Background(), st.timeout)
	state, err := st.fence.Fence(ctx, w.id, w.until)
	cancel()
	now := time.Now()
	log := st.log.With(logging.KeyCommandID, w.id)
	answered := state.AnsweredBy != "" && state.AnsweredBy != answerPending
	st.mu.Lock()
	if st.calls[w.id] != w {
		st.mu.Unlock()
		return // answered meanwhile
	}
	w.checksLeft--
	w.nextCheck = now.Add(settleEvery)
	if err == nil && answered && !w.answeredAt.IsZero() && now.Sub(w.answeredAt) >= settleEvery {
		// The reply is lost: ask the dispatchers for it again.
		w.checksLeft = 0
		st.mu.Unlock()
		st.recover(w, state.AnsweredBy, log)
		return
	}
	defer st.mu.Unlock()
	switch {
	case err != nil:
		log.Warn("cannot settle an execute request: store unavailable; it keeps waiting", logging.KeyErr, err)
		if w.checksLeft == 0 {
			st.settled.WithLabelValues("unsettled").Inc()
		}
	case !state.Queued:
		w.checksLeft = 0
		st.settled.WithLabelValues(ReasonNotDispatched).Inc()
		log.Warn("execute request lost in a nats reconnect before it was queued: fenced and failed")
		w.cancel(&contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonNotDispatched, Message: fmt.Sprintf(
			"the request for command %s was lost when a NATS connection dropped; it did not run and will not run; retry it", w.id)})
	case answered:
		if w.answeredAt.IsZero() {
			w.answeredAt = now
		}
		if w.checksLeft == 0 {
			st.settled.WithLabelValues("waited").Inc()
		}
	default:
		if w.checksLeft == 0 {
			st.settled.WithLabelValues("waited").Inc()
		}
	}
}

// recover asks the dispatcher replicas to send a lost reply again
// (contracts.DispatchReplaySubject) and ends the wait with it; if none has
// it (that dispatcher is gone too), the request fails with result_lost.
func (st *settler) recover(w *waiting, executor string, log *slog.Logger) {
	if st.replay != nil {
		if reply, err := st.replay(w.id); err == nil {
			var env contracts.Response
			var res contracts.CommandResult
			perr := json.Unmarshal(reply, &env)
			switch {
			case perr == nil && env.Type == contracts.TypeReplayPending:
				// Not lost: its dispatcher is still on it (a slow audit
				// write, say). Keep waiting, and ask again later.
				log.Info("execute reply not out yet: the dispatcher is still working on it")
				st.mu.Lock()
				w.checksLeft, w.nextCheck = 1, time.Now().Add(settleEvery)
				st.mu.Unlock()
				return
			case perr == nil && env.Error != nil:
				// The dispatcher's answer was an error: that is the answer.
				st.settled.WithLabelValues("replayed").Inc()
				log.Info("execute reply lost in a nats reconnect: replayed by the dispatcher", logging.KeyErr, env.Error)
				w.cancel(&replayed{err: env.Error})
				return
			case contracts.Decode(reply, contracts.TypeCommandResult, &res) == nil && res.CommandID == w.id:
				st.settled.WithLabelValues("replayed").Inc()
				log.Info("execute reply lost in a nats reconnect: replayed by the dispatcher")
				w.cancel(&replayed{res: res})
				return
			default:
				log.Warn("replayed reply unusable: not a command result for this command")
			}
		}
	}
	st.settled.WithLabelValues(ReasonResultLost).Inc()
	log.Warn("execute reply lost in a nats reconnect after the command ran, and no dispatcher has it: failed", logging.KeyExecutorID, executor)
	w.cancel(&contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonResultLost, Message: fmt.Sprintf(
		"command %s ran on executor %s, but its result was lost when a NATS connection dropped; its outcome is in the audit log (kubently audit --command-id %s)",
		w.id, executor, w.id)})
}

// replayed is the cause a recovered request's wait ends with.
type replayed struct {
	res contracts.CommandResult
	err *contracts.Error
}

func (r *replayed) Error() string { return "reply replayed" }

// watchBus starts settling after this server's own NATS reconnects and
// after dispatchers announce theirs; it stops when done closes.
func (s *Server) watchBus(done <-chan struct{}) error {
	st := s.settler
	st.replay = func(id string) ([]byte, error) {
		b, err := json.Marshal(contracts.ReplayRequest{CommandID: id})
		if err != nil {
			return nil, err
		}
		m, err := s.cfg.Conn.Request(contracts.DispatchReplaySubject, b, replayWait)
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	natsutil.OnReconnect(s.cfg.Conn, func(at time.Time) {
		select {
		case <-done:
		default:
			st.disrupted("gateway reconnected (dropped at " + at.UTC().Format(time.RFC3339Nano) + ")")
		}
	})
	sub, err := s.cfg.Conn.Subscribe(contracts.BusReconnectedSubject, func(m *nats.Msg) {
		var ev contracts.BusReconnected
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Type != contracts.TypeBusReconnected {
			s.log.Warn("malformed bus reconnect announcement ignored")
			return
		}
		st.disrupted(ev.Service + " reconnected")
	})
	if err != nil {
		return fmt.Errorf("httpapi: subscribe %s: %w", contracts.BusReconnectedSubject, err)
	}
	go func() {
		<-done
		_ = sub.Unsubscribe()
	}()
	go st.run(done)
	return nil
}

// settledError returns the settler's verdict on a request whose wait
// ended with err — a replayed reply, or a settled failure — or err.
func settledError(ctx context.Context, err error) (contracts.CommandResult, error) {
	var r *replayed
	if errors.As(context.Cause(ctx), &r) {
		if r.err != nil {
			return contracts.CommandResult{}, r.err
		}
		return r.res, nil
	}
	var ce *contracts.Error
	if cause := context.Cause(ctx); cause != nil && errors.As(cause, &ce) &&
		(ce.Reason == ReasonNotDispatched || ce.Reason == ReasonResultLost) {
		return contracts.CommandResult{}, ce
	}
	return contracts.CommandResult{}, err
}
