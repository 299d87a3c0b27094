// Package settle is the gateway's recovery of execute requests in flight
// after a NATS disruption (docs/architecture.md, *Settle*): a Settler
// tracks each request waiting for a dispatcher's reply and, after the
// gateway's own reconnect or a dispatcher's announced one, fences or reads
// its command in the store, asks the dispatchers to replay a lost reply,
// and ends the wait with the replayed answer or a clear failure.
//
// # Usage
//
//	st := settle.New(store, storeTimeout, log)
//	_ = ops.Register(reg, st.Collector())
//	_ = st.Watch(nc, done)
//	ctx, cancel := context.WithCancelCause(ctx)
//	defer st.Track(id, deadline, cancel)()
//	if err := request(ctx); err != nil {
//		res, err := settle.Result(ctx, err)
//		...
//	}
//
// # Concurrency
//
// A Settler is safe for concurrent use.
package settle

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

// AnswerPending is the answer record (store.Bridge.MarkAnswered) of a
// command whose result reached the gateway but whose hand-over to the
// dispatcher was not confirmed: "tried, never delivered", not an executor.
const AnswerPending = "_undelivered"

// Reasons of the errors a settled request fails with.
const (
	ReasonNotDispatched = contracts.ReasonNotDispatched
	ReasonResultLost    = contracts.ReasonResultLost
	// ReasonDispatcherLost: the command was queued but no dispatcher holds
	// its request any more; it may still run once, its result cannot
	// reach the caller.
	ReasonDispatcherLost = contracts.ReasonDispatcherLost
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

// Settler tracks the execute requests waiting for a dispatcher's reply.
// NATS delivers at most once: a request or reply in flight when a
// connection drops (a NATS node dies, NATS restarts) is gone, and its
// caller would wait out the command's whole timeout. So after any
// disruption — this replica's own reconnect, or a dispatcher announcing
// its reconnect (contracts.BusReconnectedSubject) — the Settler checks
// each request that was in flight through the store (Fencer): one no
// dispatcher queued is fenced and fails at once (not_dispatched: it did
// not and will not run); one whose result reached the dispatcher but
// whose reply does not come fails as result_lost; one still queued or
// running keeps waiting, as its reply will come over the restored
// connection.
type Settler struct {
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

	// Guarded by Settler.mu.
	checksLeft int
	nextCheck  time.Time
	// misses counts checks in a row that no dispatcher answered.
	misses int
	// atRisk: a disruption happened while w was in flight; settled: the
	// Settler ended its wait.
	atRisk, settled bool
}

// New returns a Settler that fences and reads commands through f, each
// store call bounded by timeout.
func New(f Fencer, timeout time.Duration, log *slog.Logger) *Settler {
	return &Settler{
		fence: f, timeout: timeout, log: log,
		kick:  make(chan struct{}, 1),
		calls: map[string]*waiting{},
		settled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_gateway_requests_settled_total",
			Help: "Execute requests in flight across a NATS disruption, by how they were settled: not_dispatched (lost before queueing; fenced and failed at once), replayed (the reply was lost and the dispatcher sent it again), result_lost (ran; the reply was lost and no dispatcher had it; failed), dispatcher_lost (queued, but no dispatcher held it any more; failed), waited (queued; its reply came over the restored connection), unsettled (the store could not be read; kept waiting).",
		}, []string{"outcome"}),
	}
}

// Track registers a request with command id id whose wait ends at end;
// cancel ends the wait with a cause. The returned func unregisters it.
func (st *Settler) Track(id string, end time.Time, cancel context.CancelCauseFunc) func() {
	w := &waiting{id: id, sent: time.Now(), until: end.Add(fenceSlack), cancel: cancel}
	st.mu.Lock()
	st.calls[id] = w
	st.mu.Unlock()
	return func() {
		st.mu.Lock()
		delete(st.calls, id)
		waited := w.atRisk && !w.settled
		st.mu.Unlock()
		if waited {
			st.settled.WithLabelValues("waited").Inc()
		}
	}
}

// Disrupted marks every request sent before now as at risk and wakes the
// settling loop. It never blocks (it runs on NATS callback goroutines).
func (st *Settler) Disrupted(why string) {
	now := time.Now()
	n := 0
	st.mu.Lock()
	for _, w := range st.calls {
		if w.sent.After(now) {
			continue
		}
		w.checksLeft = settleChecks
		w.nextCheck = now.Add(settleFirst)
		w.misses = 0
		w.atRisk = true
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
func (st *Settler) run(done <-chan struct{}) {
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

// settleParallel bounds the checks (a store call and a replay request
// each) run at once.
const settleParallel = 16

// checkDue checks the requests whose check is due and returns when the
// next one is (zero: none at risk).
func (st *Settler) checkDue(done <-chan struct{}) time.Time {
	now := time.Now()
	var due []*waiting
	st.mu.Lock()
	for _, w := range st.calls {
		if w.checksLeft > 0 && !w.nextCheck.After(now) {
			due = append(due, w)
		}
	}
	st.mu.Unlock()
	sem := make(chan struct{}, settleParallel)
	var wg sync.WaitGroup
	for _, w := range due {
		select {
		case <-done:
			wg.Wait()
			return time.Time{}
		case sem <- struct{}{}:
		}
		wg.Go(func() {
			defer func() { <-sem }()
			st.check(w)
		})
	}
	wg.Wait()
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

// check settles one request as far as the store and the dispatchers
// allow. A request no dispatcher queued is fenced and fails
// (not_dispatched). For one that was queued the dispatchers are asked for
// its reply (contracts.DispatchReplaySubject), whatever the store says of
// its result: a reply can be lost while the result's hand-over to the
// dispatcher looked failed to the gateway (the dispatcher took it, its
// "accepted" was lost), so the answer record is no guide to whether a
// reply exists. The request is checked again every settleEvery until it is
// settled or its wait ends; only settleChecks checks in a row that no
// dispatcher answers (the one holding it is gone) settle it as lost.
func (st *Settler) check(w *waiting) {
	ctx, cancel := context.WithTimeout(context.Background(), st.timeout)
	state, err := st.fence.Fence(ctx, w.id, w.until)
	cancel()
	log := st.log.With(logging.KeyCommandID, w.id)
	st.mu.Lock()
	if st.calls[w.id] != w {
		st.mu.Unlock()
		return // answered meanwhile
	}
	w.nextCheck = time.Now().Add(settleEvery)
	switch {
	case err != nil:
		w.checksLeft--
		last := w.checksLeft == 0
		st.mu.Unlock()
		log.Warn("cannot settle an execute request: store unavailable; it keeps waiting", logging.KeyErr, err)
		if last {
			st.settled.WithLabelValues("unsettled").Inc()
		}
		return
	case !state.Queued:
		w.checksLeft, w.settled = 0, true
		st.mu.Unlock()
		st.settled.WithLabelValues(ReasonNotDispatched).Inc()
		log.Warn("execute request lost in a nats reconnect before it was queued: fenced and failed")
		w.cancel(&contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonNotDispatched, Message: fmt.Sprintf(
			"the request for command %s was lost when a NATS connection dropped; it did not run and will not run; retry it", w.id)})
		return
	}
	st.mu.Unlock()
	answeredBy := state.AnsweredBy
	if answeredBy == AnswerPending {
		answeredBy = ""
	}
	st.recover(w, answeredBy, log)
}

// recover asks the dispatcher replicas for a queued command's reply
// (contracts.DispatchReplaySubject) and ends the wait with it. A replica
// still working on the command says so and the request keeps waiting
// (checked again later). If none answers settleChecks checks in a row
// (the dispatcher holding the request is gone), the request fails:
// result_lost if an executor answered, dispatcher_lost otherwise.
func (st *Settler) recover(w *waiting, executor string, log *slog.Logger) {
	if st.replay != nil {
		if reply, err := st.replay(w.id); err == nil {
			var env contracts.Response
			var res contracts.CommandResult
			perr := json.Unmarshal(reply, &env)
			switch {
			case perr == nil && env.Type == contracts.TypeReplayPending:
				// Not lost: its dispatcher is still on it (the command
				// runs, or a slow audit write). Keep waiting, and look
				// again later in case that dispatcher goes too.
				log.Debug("execute reply not out yet: the dispatcher is still working on it")
				st.mu.Lock()
				w.checksLeft, w.misses = max(w.checksLeft, 1), 0
				st.mu.Unlock()
				return
			case perr == nil && env.Error != nil:
				// The dispatcher's answer was an error: that is the answer.
				st.finish(w)
				st.settled.WithLabelValues("replayed").Inc()
				log.Info("execute reply lost in a nats reconnect: replayed by the dispatcher", logging.KeyErr, env.Error)
				w.cancel(&replayed{err: env.Error})
				return
			case contracts.Decode(reply, contracts.TypeCommandResult, &res) == nil && res.CommandID == w.id:
				st.finish(w)
				st.settled.WithLabelValues("replayed").Inc()
				log.Info("execute reply lost in a nats reconnect: replayed by the dispatcher")
				w.cancel(&replayed{res: res})
				return
			default:
				log.Warn("replayed reply unusable: not a command result for this command")
			}
		}
	}
	st.mu.Lock()
	w.misses++
	if w.misses < settleChecks {
		// The dispatcher may not be back on the bus yet.
		w.checksLeft = max(w.checksLeft, 1)
		st.mu.Unlock()
		return
	}
	w.checksLeft, w.settled = 0, true
	st.mu.Unlock()
	if executor != "" {
		st.settled.WithLabelValues(ReasonResultLost).Inc()
		log.Warn("execute reply lost in a nats reconnect after the command ran, and no dispatcher has it: failed", logging.KeyExecutorID, executor)
		w.cancel(&contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonResultLost, Message: fmt.Sprintf(
			"command %s ran on executor %s, but its result was lost when a NATS connection dropped; its outcome is in the audit log (kubently audit --command-id %s)",
			w.id, executor, w.id)})
		return
	}
	st.settled.WithLabelValues(ReasonDispatcherLost).Inc()
	log.Warn("execute request queued, but no dispatcher holds it any more after a nats disruption: failed")
	w.cancel(&contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonDispatcherLost, Message: fmt.Sprintf(
		"command %s was queued, but the dispatcher waiting for it is gone; it may still run once and its result cannot reach this request; its outcome will be in the audit log (kubently audit --command-id %s)",
		w.id, w.id)})
}

// finish stops checking w: the Settler ends its wait.
func (st *Settler) finish(w *waiting) {
	st.mu.Lock()
	w.checksLeft, w.settled = 0, true
	st.mu.Unlock()
}

// replayed is the cause a recovered request's wait ends with.
type replayed struct {
	res contracts.CommandResult
	err *contracts.Error
}

func (r *replayed) Error() string { return "reply replayed" }

// Collector is the Settler's metric (kubently_gateway_requests_settled_total),
// for the caller to register.
func (st *Settler) Collector() prometheus.Collector { return st.settled }

// Watch starts settling after nc's own reconnects and after dispatchers
// announce theirs (contracts.BusReconnectedSubject), asking the
// dispatchers for lost replies over nc; it stops when done closes.
func (st *Settler) Watch(nc *nats.Conn, done <-chan struct{}) error {
	st.replay = func(id string) ([]byte, error) {
		b, err := json.Marshal(contracts.ReplayRequest{CommandID: id})
		if err != nil {
			return nil, err
		}
		m, err := nc.Request(contracts.DispatchReplaySubject, b, replayWait)
		if err != nil {
			return nil, err
		}
		return m.Data, nil
	}
	natsutil.OnReconnect(nc, func(at time.Time) {
		select {
		case <-done:
		default:
			st.Disrupted("gateway reconnected (dropped at " + at.UTC().Format(time.RFC3339Nano) + ")")
		}
	})
	sub, err := nc.Subscribe(contracts.BusReconnectedSubject, func(m *nats.Msg) {
		var ev contracts.BusReconnected
		if err := json.Unmarshal(m.Data, &ev); err != nil || ev.Type != contracts.TypeBusReconnected {
			st.log.Warn("malformed bus reconnect announcement ignored")
			return
		}
		st.Disrupted(ev.Service + " reconnected")
	})
	if err != nil {
		return fmt.Errorf("settle: subscribe %s: %w", contracts.BusReconnectedSubject, err)
	}
	go func() {
		<-done
		_ = sub.Unsubscribe()
	}()
	go st.run(done)
	return nil
}

// Result returns the Settler's verdict on a tracked request whose wait
// (ctx) ended with err — a replayed reply, or a settled failure — or err.
func Result(ctx context.Context, err error) (contracts.CommandResult, error) {
	var r *replayed
	if errors.As(context.Cause(ctx), &r) {
		if r.err != nil {
			return contracts.CommandResult{}, r.err
		}
		return r.res, nil
	}
	var ce *contracts.Error
	if cause := context.Cause(ctx); cause != nil && errors.As(cause, &ce) &&
		(ce.Reason == ReasonNotDispatched || ce.Reason == ReasonResultLost || ce.Reason == ReasonDispatcherLost) {
		return contracts.CommandResult{}, ce
	}
	return contracts.CommandResult{}, err
}
