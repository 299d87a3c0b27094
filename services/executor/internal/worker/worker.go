// Package worker runs the commands an executor receives: a bounded queue
// feeding a fixed pool of workers, so one slow command never blocks others
// and a burst cannot grow memory without bound. Each command is checked
// against the policy again (the executor is authoritative), skipped if its
// deadline passed, run under that deadline, and its result handed to a
// poster. Duplicate deliveries of one command id run once.
//
// # Concurrency
//
// Submit is safe from any goroutine; Run starts the workers and returns
// when ctx ends and in-flight commands finished.
package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
)

// Outcome is what running a command produced.
type Outcome struct {
	Output    string
	Error     string
	ExitCode  int
	Truncated bool
	// Structured is the command's objects as one JSON document, or nil.
	Structured json.RawMessage
}

// Runner runs one command against the cluster.
type Runner interface {
	Run(ctx context.Context, argv []string) Outcome
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, argv []string) Outcome

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context, argv []string) Outcome { return f(ctx, argv) }

// PostFunc delivers a result; giveUp is when retrying stops mattering.
type PostFunc func(ctx context.Context, r contracts.ExecutorResult, giveUp time.Time) error

// Config configures New.
type Config struct {
	// Runner executes commands; required.
	Runner Runner
	// Post delivers results; required.
	Post PostFunc
	// Log is the logger; required.
	Log *slog.Logger
	// Policy re-checks commands; nil means policy.Check.
	Policy func([]string) policy.Decision
	// Workers is how many commands run at once; zero means 8.
	Workers int
	// Queue is how many received commands may wait; zero means 64. A
	// command that finds the queue full is answered "busy" at once.
	Queue int
	// ExecutorID is put in every result.
	ExecutorID string
	// ResultGrace is how long after a deadline a result is still posted;
	// zero means 30s.
	ResultGrace time.Duration
	// Now returns the time; nil means time.Now.
	Now func() time.Time
}

// Pool is the executor's command pool.
type Pool struct {
	cfg   Config
	queue chan contracts.Command
	mu    sync.Mutex
	seen  map[string]time.Time
	order []string
}

// dedupeWindow is how many recent command ids are remembered.
const dedupeWindow = 4096

// New validates cfg and returns a Pool.
func New(cfg Config) (*Pool, error) {
	if cfg.Runner == nil || cfg.Post == nil || cfg.Log == nil {
		return nil, errors.New("worker: Runner, Post and Log are required")
	}
	if cfg.Policy == nil {
		cfg.Policy = policy.Check
	}
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 64
	}
	if cfg.ResultGrace <= 0 {
		cfg.ResultGrace = 30 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Pool{cfg: cfg, queue: make(chan contracts.Command, cfg.Queue), seen: map[string]time.Time{}}, nil
}

// firstTime records id and reports whether it was new.
func (p *Pool) firstTime(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, dup := p.seen[id]; dup {
		return false
	}
	p.seen[id] = p.cfg.Now()
	p.order = append(p.order, id)
	if len(p.order) > dedupeWindow {
		delete(p.seen, p.order[0])
		p.order = p.order[1:]
	}
	return true
}

// Submit queues cmd without blocking. A duplicate is dropped; a full queue
// answers the command with status error at once.
func (p *Pool) Submit(ctx context.Context, cmd contracts.Command) {
	if !p.firstTime(cmd.ID) {
		p.cfg.Log.Info("duplicate command ignored", logging.KeyCommandID, cmd.ID)
		return
	}
	select {
	case p.queue <- cmd:
	default:
		p.cfg.Log.Warn("executor busy; command refused", logging.KeyCommandID, cmd.ID, "queue", cap(p.queue))
		go p.post(ctx, cmd, contracts.ExecutorResult{
			CommandID: cmd.ID, Status: contracts.StatusError, ExitCode: 1,
			Error: fmt.Sprintf("executor busy: %d commands already queued; retry shortly", cap(p.queue)),
		})
	}
}

// Run starts the workers and blocks until ctx ends and they finished.
func (p *Pool) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range p.cfg.Workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case cmd := <-p.queue:
					p.execute(ctx, cmd)
				}
			}
		})
	}
	wg.Wait()
}

func (p *Pool) execute(ctx context.Context, cmd contracts.Command) {
	log := p.cfg.Log.With(logging.KeyCommandID, cmd.ID, logging.KeyCorrelationID, cmd.CorrelationID, logging.KeyCluster, cmd.Cluster)
	start := p.cfg.Now()
	if cmd.Expired(start) {
		log.Warn("command past its deadline; not executed", "deadline", cmd.Deadline)
		return
	}
	res := contracts.ExecutorResult{CommandID: cmd.ID, ExecutedAt: start.UTC()}
	if d := p.cfg.Policy(cmd.Argv); !d.Allowed {
		res.Status, res.ExitCode, res.Reason = contracts.StatusDenied, 1, string(d.Reason)
		res.Error = "denied by executor policy: " + d.Message
		log.Warn("command denied by executor policy", "reason", d.Reason)
		p.post(ctx, cmd, res)
		return
	}
	rctx, cancel := context.WithDeadline(ctx, cmd.Deadline)
	out := p.safeRun(rctx, cmd.Argv)
	timedOut := rctx.Err() == context.DeadlineExceeded
	cancel()
	res.Output, res.Error, res.ExitCode, res.Truncated = out.Output, out.Error, out.ExitCode, out.Truncated
	res.Structured = out.Structured
	res.DurationMS = p.cfg.Now().Sub(start).Milliseconds()
	switch {
	case timedOut:
		res.Status = contracts.StatusTimeout
		if res.ExitCode == 0 {
			res.ExitCode = 1
		}
		if res.Error == "" {
			res.Error = "command did not finish before its deadline"
		}
	case out.ExitCode == 0:
		res.Status = contracts.StatusSuccess
	default:
		res.Status = contracts.StatusFailure
	}
	log.Info("command executed", logging.KeyVerb, verb(cmd.Argv), logging.KeyStatus, res.Status, "exit_code", res.ExitCode, logging.KeyDuration, res.DurationMS)
	p.post(ctx, cmd, res)
}

// safeRun turns a panic in the runner into a failed result.
func (p *Pool) safeRun(ctx context.Context, argv []string) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			p.cfg.Log.Error("runner panicked", "panic", r)
			out = Outcome{Error: "internal executor error", ExitCode: 1}
		}
	}()
	return p.cfg.Runner.Run(ctx, argv)
}

func (p *Pool) post(ctx context.Context, cmd contracts.Command, res contracts.ExecutorResult) {
	res.ExecutorID = p.cfg.ExecutorID
	if err := p.cfg.Post(ctx, res, cmd.Deadline.Add(p.cfg.ResultGrace)); err != nil {
		p.cfg.Log.Warn("result not delivered", logging.KeyCommandID, cmd.ID, logging.KeyErr, err)
	}
}

func verb(argv []string) string {
	if len(argv) == 0 || len(argv[0]) > 32 {
		return ""
	}
	return argv[0]
}
