package dispatch

import (
	"context"
	"errors"
	"fmt"

	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/store"
)

// holderWatch watches, while a command's caller waits, whether the
// executor instance that acknowledged the command is still connected; ctx
// ends when it is declared lost (or when the wait's own context ends).
type holderWatch struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	done   chan struct{}
}

// errExecutorLost is the cause of a watch that found its holder gone.
type errExecutorLost struct{ err *contracts.Error }

func (e *errExecutorLost) Error() string { return e.err.Error() }

// lost returns the executor_lost answer if the watch declared the holder
// gone, else nil.
func (w *holderWatch) lost() *contracts.Error {
	var el *errExecutorLost
	if errors.As(context.Cause(w.ctx), &el) {
		return el.err
	}
	return nil
}

func (w *holderWatch) stop() {
	w.cancel(nil)
	<-w.done
}

// watchHolder starts the watch of c's holder under ctx (the wait until the
// command's deadline). The rule (docs/delivery.md, "Executor lost"): once
// an instance acknowledged the command (store.Bridge.Holder), it is lost
// when no stream of that instance has been present
// (store.Presence.Connected) for Config.ExecutorLostGrace, judged on
// checks every Config.LostCheckInterval. A store error skips a check. An
// executor that sends no instance is never declared lost.
func (d *Dispatcher) watchHolder(ctx context.Context, c *call) *holderWatch {
	wctx, cancel := context.WithCancelCause(ctx)
	w := &holderWatch{ctx: wctx, cancel: cancel, done: make(chan struct{})}
	if d.cfg.ExecutorLostGrace <= 0 {
		close(w.done)
		return w
	}
	go func() {
		defer close(w.done)
		t := time.NewTicker(d.cfg.LostCheckInterval)
		defer t.Stop()
		var (
			holder    contracts.CommandHolder
			goneSince time.Time
		)
		for {
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
			if holder.Instance == "" {
				h, err := d.holder(wctx, c.cmdID)
				if err != nil {
					continue
				}
				holder = h
			}
			present, err := d.instancePresent(wctx, c.in.Cluster, holder)
			switch {
			case err != nil:
				continue
			case present:
				goneSince = time.Time{}
				continue
			case goneSince.IsZero():
				goneSince = d.cfg.Now()
			}
			if gone := d.cfg.Now().Sub(goneSince); gone >= d.cfg.ExecutorLostGrace {
				d.m.executorLost.Inc()
				c.log.Warn("executor lost holding the command: answering the caller", logging.KeyExecutorID, holder.ExecutorID,
					"instance", holder.Instance, "gone_ms", gone.Milliseconds())
				cancel(&errExecutorLost{err: &contracts.Error{Code: contracts.CodeExecutorLost, Message: fmt.Sprintf(
					"executor %s (instance %s) acknowledged command %s and then went away (no stream for %s): the command may have run, at most once, and will not run again; do not retry blindly; its outcome, if any, is in the audit log (kubently audit --command-id %s)",
					holder.ExecutorID, holder.Instance, c.cmdID, gone.Round(time.Second), c.cmdID)}})
				return
			}
		}
	}()
	return w
}

// holder reads the command's holder within the store timeout.
func (d *Dispatcher) holder(ctx context.Context, id string) (contracts.CommandHolder, error) {
	var h contracts.CommandHolder
	err := d.withStore(ctx, func(ctx context.Context) error {
		var err error
		h, err = d.cfg.Store.Holder(ctx, id)
		return err
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		d.m.storeErrors.WithLabelValues("holder").Inc()
	}
	return h, err
}

// instancePresent reports whether a stream of the holding executor
// instance is in the cluster's presence records. A record of the same
// executor id without an instance (written by a gateway older than
// instances, during a rolling upgrade) counts as present: it cannot be
// told apart.
func (d *Dispatcher) instancePresent(ctx context.Context, cluster string, holder contracts.CommandHolder) (bool, error) {
	var conns []contracts.ExecutorInfo
	err := d.withStore(ctx, func(ctx context.Context) error {
		var err error
		conns, err = d.cfg.Store.Connected(ctx, cluster)
		return err
	})
	if err != nil {
		d.m.storeErrors.WithLabelValues("executor_presence").Inc()
		return false, err
	}
	for _, cn := range conns {
		if cn.Instance == holder.Instance || (cn.Instance == "" && cn.ExecutorID == holder.ExecutorID) {
			return true, nil
		}
	}
	return false, nil
}
