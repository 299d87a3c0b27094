// Package worker runs the commands an executor receives: a bounded queue
// feeding a fixed pool of workers, so one slow command never blocks others
// and a burst cannot grow memory without bound. Each command is checked
// against the policy again (the executor is authoritative), skipped if its
// deadline passed, run under that deadline, and its result handed to a
// poster. Duplicate deliveries of one command id run once.
//
// Each command runs under an "executor.run" span whose parent is the trace
// context the command carries (contracts.Command.TraceParent); the result
// is posted with that span in ctx, so the post continues the trace.
//
// With Config.Registerer set, the pool exports kubently_executor_* metrics
// (see metrics.go): results by verb and status, run time, queue depth,
// and commands refused as busy, ignored as duplicates, skipped as expired
// or whose result could not be delivered.
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

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
	"kubently.io/libs/telemetry"
)

// Outcome is what running a command produced.
type Outcome struct {
	Output    string
	Error     string
	ExitCode  int
	Truncated bool
	// Structured is the command's objects as one JSON document, or nil.
	Structured json.RawMessage
	// DeniedReason is set when the runner refused the command by policy
	// after resolving its types (a reason code such as
	// restricted_resource); the result then has status denied.
	DeniedReason string
	// Continue is the token that reads the next page of a list cut at the
	// byte cap, or "".
	Continue string
}

// Runner runs one command, as policy.Parse read it, against the cluster.
type Runner interface {
	Run(ctx context.Context, cmd *policy.Command) Outcome
}

// RunnerFunc adapts a function to Runner.
type RunnerFunc func(ctx context.Context, cmd *policy.Command) Outcome

// Run implements Runner.
func (f RunnerFunc) Run(ctx context.Context, cmd *policy.Command) Outcome { return f(ctx, cmd) }

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
	// Policy re-checks commands before they run, as policy.Parse read
	// them (the pool parses argv once; a line Parse refuses is denied
	// without a call); nil means policy.Default's CheckCommand (the
	// built-in readOnly profile, static type resolution) and
	// policy.CheckCommandScope. A command with a scope
	// (contracts.Command.Scope) runs, and is checked, with the scope in
	// ctx (policy.WithScope).
	Policy func(ctx context.Context, cmd *policy.Command) policy.Decision
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
	// Registerer receives the pool's metrics (kubently_executor_commands_total,
	// ..._command_duration_seconds, ..._queue_depth, ..._busy_total,
	// ..._duplicates_total, ..._expired_total and
	// ..._result_post_errors_total); nil registers none.
	Registerer prometheus.Registerer
}

// Pool is the executor's command pool.
type Pool struct {
	cfg   Config
	m     *metrics
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
		cfg.Policy = func(ctx context.Context, cmd *policy.Command) policy.Decision {
			if d := policy.Default().CheckCommand(ctx, "", cmd, policy.StaticResolver); !d.Allowed {
				return d
			}
			return policy.CheckCommandScope(ctx, cmd, nil)
		}
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
	p := &Pool{cfg: cfg, queue: make(chan contracts.Command, cfg.Queue), seen: map[string]time.Time{}}
	p.m = newMetrics(func() int { return len(p.queue) })
	if cfg.Registerer != nil {
		if err := p.m.register(cfg.Registerer); err != nil {
			return nil, fmt.Errorf("worker: register metrics: %w", err)
		}
	}
	return p, nil
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
		p.m.duplicates.Inc()
		p.cfg.Log.Info("duplicate command ignored", logging.KeyCommandID, cmd.ID)
		return
	}
	select {
	case p.queue <- cmd:
	default:
		p.m.busy.Inc()
		p.m.answered(policy.VerbLabel(cmd.Argv), contracts.StatusError, false, 0)
		p.cfg.Log.Warn("executor busy; command refused", logging.KeyCommandID, cmd.ID, "queue", cap(p.queue))
		go p.post(telemetry.ContextFromCommand(ctx, cmd), cmd, contracts.ExecutorResult{
			CommandID: cmd.ID, Outcome: contracts.Outcome{Status: contracts.StatusError, ExitCode: 1,
				Error: fmt.Sprintf("executor busy: %d commands already queued; retry shortly", cap(p.queue))},
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
	ctx, span := otel.Tracer(telemetry.ScopeName).Start(telemetry.ContextFromCommand(ctx, cmd), telemetry.SpanExecutorRun,
		trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(telemetry.CommandAttributes(cmd)...))
	defer span.End()
	log := p.cfg.Log.With(logging.KeyCommandID, cmd.ID, logging.KeyCorrelationID, cmd.CorrelationID, logging.KeyCluster, cmd.Cluster, "identity", cmd.Caller)
	start := p.cfg.Now()
	if cmd.Expired(start) {
		p.m.expired.Inc()
		log.Warn("command past its deadline; not executed", "deadline", cmd.Deadline)
		span.SetStatus(codes.Error, "deadline passed before the command ran")
		return
	}
	res := contracts.ExecutorResult{CommandID: cmd.ID, ExecutedAt: start.UTC()}
	if cmd.Scope != nil {
		// The caller is limited to namespaces: the policy check and the
		// runner read the scope from ctx.
		ctx = policy.WithScope(ctx, &policy.Scope{Namespaces: cmd.Scope.Namespaces})
	}
	// argv is parsed here, once: the policy checks and the runner runs
	// the same reading of it.
	parsed, d, ok := policy.Parse(cmd.Argv)
	if ok {
		d = p.cfg.Policy(ctx, parsed)
	}
	if !d.Allowed {
		res.Status, res.ExitCode, res.Reason = contracts.StatusDenied, 1, string(d.Reason)
		res.Error = "denied by executor policy: " + d.Message
		log.Warn("command denied by executor policy", "reason", d.Reason)
		p.m.answered(policy.VerbLabel(cmd.Argv), res.Status, true, p.cfg.Now().Sub(start).Seconds())
		endRun(span, res)
		p.post(ctx, cmd, res)
		return
	}
	rctx, cancel := context.WithDeadline(ctx, cmd.Deadline)
	out := p.safeRun(rctx, parsed)
	timedOut := rctx.Err() == context.DeadlineExceeded
	cancel()
	res.Output, res.Error, res.ExitCode, res.Truncated = out.Output, out.Error, out.ExitCode, out.Truncated
	res.Structured, res.Continue = out.Structured, out.Continue
	elapsed := p.cfg.Now().Sub(start)
	res.DurationMS = elapsed.Milliseconds()
	switch {
	case out.DeniedReason != "":
		res.Status, res.Reason = contracts.StatusDenied, out.DeniedReason
		res.Error = "denied by executor policy: " + res.Error
		log.Warn("command denied by executor policy after resolving its types", "reason", out.DeniedReason)
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
	log.Info("command executed", logging.KeyVerb, parsed.Verb, logging.KeyStatus, res.Status, "exit_code", res.ExitCode, logging.KeyDuration, res.DurationMS)
	p.m.answered(policy.VerbLabel(cmd.Argv), res.Status, true, elapsed.Seconds())
	endRun(span, res)
	p.post(ctx, cmd, res)
}

// endRun records a result's outcome on the executor.run span. Only
// outcomes that are the system's fault (timeout, error) mark it failed; a
// denied or failing kubectl command is a normal answer.
func endRun(span trace.Span, res contracts.ExecutorResult) {
	span.SetAttributes(telemetry.AttrStatus.String(string(res.Status)), telemetry.AttrExitCode.Int(res.ExitCode))
	if res.Reason != "" {
		span.SetAttributes(telemetry.AttrReason.String(res.Reason))
	}
	if res.Status == contracts.StatusTimeout || res.Status == contracts.StatusError {
		span.SetStatus(codes.Error, string(res.Status))
	}
}

// safeRun turns a panic in the runner into a failed result.
func (p *Pool) safeRun(ctx context.Context, cmd *policy.Command) (out Outcome) {
	defer func() {
		if r := recover(); r != nil {
			p.cfg.Log.Error("runner panicked", "panic", r)
			out = Outcome{Error: "internal executor error", ExitCode: 1}
		}
	}()
	return p.cfg.Runner.Run(ctx, cmd)
}

func (p *Pool) post(ctx context.Context, cmd contracts.Command, res contracts.ExecutorResult) {
	res.ExecutorID = p.cfg.ExecutorID
	res.Deadline = cmd.Deadline
	if err := p.cfg.Post(ctx, res, cmd.Deadline.Add(p.cfg.ResultGrace)); err != nil {
		p.m.postErrors.Inc()
		p.cfg.Log.Warn("result not delivered", logging.KeyCommandID, cmd.ID, logging.KeyErr, err)
	}
}
