// Package dispatch implements the dispatcher's execute endpoint: it
// re-checks the caller (the principal the gateway forwarded: role and
// scopes), checks the command against the policy, the cluster registry,
// the caller's session and executor presence — answering at once with a
// distinct error when any check fails — then hands the command to the
// cluster's bridge queue and waits for the executor's result until the
// command's deadline.
//
// # Audit
//
// Every request that carries a valid principal ends in exactly one final
// audit record, written and acknowledged by JetStream before the reply:
// command_denied (invalid input, role or scope, policy, session) or
// command_executed (with the outcome: success, failure, denied by the
// executor, timeout, error, or unavailable for routing failures such as an
// unknown cluster or no executor). A command that reaches the bridge has a
// command_dispatched record before it is enqueued; if that record cannot
// be stored the command is not run (503). Record IDs are
// <command_id>-dispatched, -executed and -denied, so a retried write is
// stored once. A request without a valid principal is refused with 401
// and recorded, best effort, as auth_denied. Output is never recorded, nor
// credentials: the values of credential, target and file flags in argv
// and credential shapes in argv and messages are masked before a record
// is written (policy.ScrubArgv).
//
// # Bus reconnects
//
// The gateway names each command (ExecuteRequest.CommandID), so that after
// a NATS reconnect it can settle a request whose reply never came: it
// fences the id in the store (store.Bridge.Fence), and a request that
// arrives after that is refused (reason fenced) instead of running with
// nobody waiting. When its own connection drops and comes back the
// dispatcher publishes contracts.BusReconnected, so every gateway settles
// the requests it has in flight.
//
// # Concurrency
//
// A Dispatcher is safe for concurrent use. Each execute request runs in its
// own goroutine (bounded by Config.MaxInFlight); replicas share requests
// through micro's queue group.
package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/policy"
	"kubently.io/libs/policy/sensitive"
	"kubently.io/libs/store"
	"kubently.io/libs/telemetry"
)

// keyIdentity is the log key of the caller's principal id.
const keyIdentity = "identity"

// Store is what the dispatcher needs of the state store.
type Store interface {
	store.Bridge
	Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error)
	LastSeen(ctx context.Context, cluster string) (time.Time, error)
	GetCluster(ctx context.Context, id string) (store.ClusterRecord, error)
	DiscoveryHash(ctx context.Context, cluster string) (string, error)
	GetDiscovery(ctx context.Context, cluster string) (contracts.ExecutorDiscovery, error)
}

// Auditor stores audit records; *audit.Writer implements it. Write must
// return nil only once the record is durably stored.
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) error
}

// PolicyFunc returns the command policy in force; it is called once per
// request, so a reloaded policy applies to the next command.
type PolicyFunc func() *policy.Policy

// Config configures New.
type Config struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store holds the registry, presence and bridge queue; required.
	Store Store
	// Log is the logger; required.
	Log *slog.Logger
	// Audit stores the audit records; required.
	Audit Auditor
	// Policy returns the policy commands are checked against; nil means
	// policy.Default (the built-in readOnly profile).
	Policy PolicyFunc
	// Registerer receives the dispatcher's metrics; nil registers nothing.
	// Stop unregisters them, so a new Dispatcher may use the same one.
	Registerer prometheus.Registerer
	// Version is reported in $SRV.INFO; empty means dev.
	Version string
	// MaxInFlight bounds concurrent execute requests; zero means 1024.
	MaxInFlight int
	// MaxQueue refuses a command (503 unavailable) while its cluster's
	// bridge queue holds this many commands not acknowledged by an
	// executor (store.Bridge.Depth); zero means 1000. Concurrent requests
	// may overshoot it by up to MaxInFlight.
	MaxQueue int
	// BridgeGrace is how long after a cluster's last executor stream
	// ended (store.Presence.LastSeen) a command for it is still queued
	// rather than refused: the executor is probably reconnecting, and the
	// bridge queue delivers the command when it is back (or the command
	// times out at its deadline). Past it, or for a cluster never seen, a
	// command with no executor connected is refused at once (503
	// executor_unavailable). Zero (or negative) disables the window.
	BridgeGrace time.Duration
	// ExecutorLostGrace: while a command's caller waits, the dispatcher
	// watches the executor instance that acknowledged it
	// (store.Bridge.Holder): once that instance has had no stream in the
	// presence records (store.Presence.Connected) for this long, the
	// caller is answered at once with 502 executor_lost (the command may
	// have run, at most once, and will not run again) instead of waiting
	// for the deadline. An instance that reconnects within the grace (a
	// gateway restart or hand-off) keeps its commands and posts their
	// results. Zero (or negative) disables the check.
	ExecutorLostGrace time.Duration
	// LostCheckInterval is how often the acknowledging instance is
	// checked; zero means 1s.
	LostCheckInterval time.Duration
	// HandOffTimeout bounds the wait for a gateway replica's answer to a
	// command hand-off (the command goes straight to a stream it holds);
	// zero means 2s. Past it the commands keep their lease (the replica
	// may have written them) and are claimed again when it runs out.
	HandOffTimeout time.Duration
	// StoreTimeout bounds each store or session call; zero means 5s.
	StoreTimeout time.Duration
	// AuditTimeout bounds each audit write, retries included; zero means
	// 5s. A command_dispatched write that does not finish in time stops
	// the command.
	AuditTimeout time.Duration
	// StopTimeout bounds how long Stop waits for requests in flight to
	// finish (and write their records); zero means 10s.
	StopTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Dispatcher is a running dispatch service.
type Dispatcher struct {
	cfg      Config
	svc      micro.Service
	m        *metrics
	inflight sync.WaitGroup
	stopped  atomic.Bool
	// quitting ends the requests still in flight when Stop gave up
	// waiting for them; quit cancels it.
	quitting context.Context
	quit     context.CancelFunc
	// discovery caches each cluster's type resolver for scoped callers.
	discovery discoveryCache
	// replies keeps recent replies for gateways that lost theirs.
	replies  *replayCache
	replySub *nats.Subscription
	// working holds the command ids of requests not answered yet.
	working sync.Map
	// shunned maps a gateway replica whose hand-off went unanswered to
	// the time.Time until which commands are not handed to it.
	shunned sync.Map
}

// handOffPause is how long a gateway replica that left a hand-off
// unanswered (or answered it with a status this version does not know)
// gets no hand-offs: its streams' commands take the notify
// path meanwhile. It bounds what a replica that is stuck, or that this
// dispatcher may not publish to (a NATS authorization generated before
// hand-offs), costs: one command that waits for its lease to run out per
// replica per pause, not every command.
const handOffPause = 30 * time.Second

// New registers the dispatcher's endpoints on cfg.Conn.
func New(ctx context.Context, cfg Config) (*Dispatcher, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Log == nil || cfg.Audit == nil {
		return nil, errors.New("dispatch: Conn, Store, Log and Audit are required")
	}
	if cfg.Policy == nil {
		cfg.Policy = policy.Default
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.MaxQueue <= 0 {
		cfg.MaxQueue = 1000
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.HandOffTimeout <= 0 {
		cfg.HandOffTimeout = 2 * time.Second
	}
	if cfg.LostCheckInterval <= 0 {
		cfg.LostCheckInterval = time.Second
	}
	if cfg.AuditTimeout <= 0 {
		cfg.AuditTimeout = 5 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 10 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{cfg: cfg, m: newMetrics()}
	d.quitting, d.quit = context.WithCancel(context.Background())
	d.replies = newReplayCache(defaultReplayTTL, defaultReplayBytes, cfg.Now)
	if err := d.m.register(cfg.Registerer); err != nil {
		return nil, err
	}
	svc, err := micro.AddService(cfg.Conn, micro.Config{
		Name:        contracts.DispatchServiceName,
		Version:     natsutil.ServiceVersion(cfg.Version),
		Description: "Kubently command dispatch: policy, routing, results",
	})
	if err != nil {
		d.m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("dispatch: add service: %w", err)
	}
	g := svc.AddGroup(contracts.DispatchSubjectPrefix)
	if err := g.AddEndpoint("execute", natsutil.Concurrent(ctx, cfg.Conn, cfg.MaxInFlight, d.serveExecute)); err != nil {
		_ = svc.Stop()
		d.m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("dispatch: add endpoint: %w", err)
	}
	d.svc = svc
	if d.replySub, err = cfg.Conn.Subscribe(contracts.DispatchReplaySubject, d.serveReplay); err != nil {
		_ = svc.Stop()
		d.m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("dispatch: subscribe %s: %w", contracts.DispatchReplaySubject, err)
	}
	natsutil.OnReconnect(cfg.Conn, d.announceReconnect)
	return d, nil
}

// announceReconnect tells every gateway replica that this dispatcher's
// connection dropped at `at` and is back: requests to it and replies from
// it may have been lost in the gap, and the gateways settle theirs
// (contracts.BusReconnectedSubject). It runs on the connection's callback
// goroutine and only publishes.
func (d *Dispatcher) announceReconnect(at time.Time) {
	if d.stopped.Load() {
		return
	}
	d.cfg.Log.Info("nats reconnected: asking gateways to settle requests in flight", "disconnected_at", at)
	b, err := json.Marshal(contracts.BusReconnected{
		Type: contracts.TypeBusReconnected, Service: "dispatcher", Instance: d.svc.Info().ID, DisconnectedAt: at.UTC(),
	})
	if err == nil {
		err = d.cfg.Conn.Publish(contracts.BusReconnectedSubject, b)
	}
	if err != nil {
		d.m.natsErrors.WithLabelValues("announce").Inc()
		d.cfg.Log.Warn("reconnect announcement failed", logging.KeyErr, err)
	}
}

// Stop deregisters the endpoints, so no new request arrives, and drains:
// requests in flight keep waiting for their results (the service's context
// ending does not end them) for up to Config.StopTimeout. Those still
// waiting then are answered 503 unavailable, reason dispatcher_stopped,
// naming their command (it stays queued and may still run), and audited;
// Stop waits up to Config.AuditTimeout more for that. Then it unregisters
// the metrics.
func (d *Dispatcher) Stop() error {
	d.stopped.Store(true)
	err := d.svc.Stop()
	done := make(chan struct{})
	go func() {
		d.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d.cfg.StopTimeout):
		d.cfg.Log.Warn("dispatcher stopping with requests in flight: answering them", "timeout", d.cfg.StopTimeout)
		d.quit()
		select {
		case <-done:
		case <-time.After(d.cfg.AuditTimeout):
			d.cfg.Log.Warn("dispatcher stopped with requests in flight", "timeout", d.cfg.StopTimeout+d.cfg.AuditTimeout)
		}
	}
	d.quit()
	// Replies stay replayable through the drain; not after.
	_ = d.replySub.Unsubscribe()
	d.m.unregister(d.cfg.Registerer)
	return err
}

// ReasonDispatcherStopped is the reason of a request answered because the
// dispatcher stopped before its command's result came.
const ReasonDispatcherStopped = "dispatcher_stopped"

// detach returns a context with ctx's values that ends only when Stop
// gives up on requests in flight, not when the service's context does, so
// a rolling restart drains rather than fails the commands it is waiting
// on. Each wait inside still has its own deadline.
func (d *Dispatcher) detach(ctx context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(d.quitting, cancel)
	return ctx, func() {
		stop()
		cancel()
	}
}

// ReasonFenced is the reason of a command refused because its id was
// fenced (store.Bridge.Fence) before it could be queued.
const ReasonFenced = "fenced"

// call is one execute request on its way through the dispatcher.
type call struct {
	in    contracts.ExecuteRequest
	start time.Time
	cmdID string
	corr  string
	id    authz.Identity // the request's principal, once validated
	ns    string         // the namespace the scope check used
	// deadline is the command's deadline once it is queued; zero before.
	deadline time.Time
	verb     string
	cluster  string // metrics label: the cluster once known registered
	// conns are the cluster's streams checkTarget found connected.
	conns []contracts.ExecutorInfo
	log   *slog.Logger
}

func (d *Dispatcher) serveExecute(ctx context.Context, req micro.Request) {
	d.inflight.Add(1)
	defer d.inflight.Done()
	start := d.cfg.Now()
	ctx, cancel := d.detach(natsutil.RequestContext(ctx, req))
	defer cancel()
	var in contracts.ExecuteRequest
	derr := natsutil.DecodeRequest(req, &in)
	c := d.newCall(ctx, in, start)
	d.working.Store(c.cmdID, struct{}{})
	defer d.working.Delete(c.cmdID)
	var res contracts.CommandResult
	err := derr
	if err == nil {
		res, err = d.execute(ctx, c)
	}
	elapsed := d.cfg.Now().Sub(start)
	if err != nil {
		e := contracts.AsError(err)
		d.m.commands.WithLabelValues(c.cluster, "rejected", string(e.Code)).Inc()
		d.m.latency.WithLabelValues(c.verb, "rejected", c.cluster).Observe(elapsed.Seconds())
		level := slog.LevelInfo
		if e.Code.Status() >= 500 {
			level = slog.LevelWarn
		}
		c.log.Log(ctx, level, "command rejected", "code", e.Code, "reason", e.Reason, "message", e.Message,
			logging.KeyDuration, elapsed.Milliseconds())
		if b, merr := json.Marshal(contracts.Response{Error: e}); merr == nil {
			d.replies.put(c.cmdID, b)
		}
		if rerr := natsutil.ReplyError(req, e); rerr != nil {
			d.m.natsErrors.WithLabelValues("reply").Inc()
			c.log.Error("reply failed", logging.KeyErr, rerr)
		}
		return
	}
	d.m.commands.WithLabelValues(c.cluster, string(res.Status), "").Inc()
	d.m.latency.WithLabelValues(c.verb, string(res.Status), c.cluster).Observe(elapsed.Seconds())
	c.log.Info("command finished", logging.KeyStatus, res.Status, "exit_code", res.ExitCode,
		"bytes", len(res.Output), "truncated", res.Truncated, logging.KeyDuration, elapsed.Milliseconds())
	b, rerr := natsutil.ReplyEncoded(req, contracts.TypeCommandResult, res)
	if b != nil {
		d.replies.put(c.cmdID, b)
	}
	if rerr != nil {
		d.m.natsErrors.WithLabelValues("reply").Inc()
		c.log.Error("reply failed", logging.KeyErr, rerr)
	}
}

// newCall starts a call: a fresh command id, the correlation id, and a
// logger carrying correlation_id, command_id, cluster and identity.
func (d *Dispatcher) newCall(ctx context.Context, in contracts.ExecuteRequest, start time.Time) *call {
	c := &call{in: in, start: start, cmdID: in.CommandID, cluster: unknownCluster}
	if contracts.ValidateCommandID(c.cmdID) != nil {
		c.cmdID = contracts.NewID() // run refuses a bad one; its records need an id
	}
	c.corr = contracts.CorrelationIDFrom(ctx)
	if c.corr == "" {
		c.corr = in.CorrelationID
	}
	if len(in.Argv) > 0 && len(in.Argv[0]) <= 32 {
		c.verb = in.Argv[0]
	}
	identity := in.Caller
	if id, err := authz.FromPrincipal(in.Principal); err == nil {
		identity = id.Principal()
	}
	c.log = d.cfg.Log.With(logging.KeyCorrelationID, c.corr, logging.KeyCommandID, c.cmdID,
		logging.KeyCluster, in.Cluster, keyIdentity, identity, logging.KeyVerb, c.verb)
	return c
}

// Execute runs one command end to end, auditing it (see the package
// documentation). Rejections come back as *contracts.Error; a command that
// was handed to an executor yields a CommandResult (status timeout if no
// result came before the deadline), unless its final audit record could
// not be stored.
func (d *Dispatcher) Execute(ctx context.Context, in contracts.ExecuteRequest) (contracts.CommandResult, error) {
	d.inflight.Add(1)
	defer d.inflight.Done()
	return d.execute(ctx, d.newCall(ctx, in, d.cfg.Now()))
}

// execute runs the call under the dispatcher's span.
func (d *Dispatcher) execute(ctx context.Context, c *call) (contracts.CommandResult, error) {
	ctx, span := otel.Tracer(telemetry.ScopeName).Start(ctx, telemetry.SpanDispatchExecute, trace.WithAttributes(
		telemetry.AttrCluster.String(c.in.Cluster), telemetry.AttrVerb.String(telemetry.Verb(c.in.Argv)),
		telemetry.AttrCorrelationID.String(c.corr), telemetry.AttrCommandID.String(c.cmdID)))
	defer span.End()
	res, err := d.run(ctx, c)
	if err != nil {
		code := string(contracts.AsError(err).Code)
		span.SetAttributes(telemetry.AttrErrorCode.String(code))
		span.SetStatus(codes.Error, code)
		return res, err
	}
	span.SetAttributes(telemetry.AttrStatus.String(string(res.Status)))
	return res, nil
}

// run checks, audits, dispatches and awaits one call, phase by phase:
// authenticate, validate, authorize, checkTarget, dispatch, await and
// conclude. A phase that ends the call returns its verdict.
func (d *Dispatcher) run(ctx context.Context, c *call) (contracts.CommandResult, error) {
	if v := d.authenticate(ctx, c); v != nil {
		return v.res, v.err
	}
	// From here on every outcome has one final record.
	timeout, v := d.validate(ctx, c)
	if v != nil {
		return v.res, v.err
	}
	scope, v := d.authorize(ctx, c)
	if v != nil {
		return v.res, v.err
	}
	if err := d.checkTarget(ctx, c); err != nil {
		return d.reject(ctx, c, err)
	}
	command := d.command(c, timeout, scope)
	rs, v := d.dispatch(ctx, c, &command)
	if v != nil {
		return v.res, v.err
	}
	defer func() { _ = rs.sub.Unsubscribe() }()
	res, err := d.await(ctx, c, rs, c.deadline, timeout)
	if err != nil {
		if e := contracts.AsError(err); e.Reason != ReasonDispatcherStopped && e.Code != contracts.CodeExecutorLost {
			d.m.natsErrors.WithLabelValues("result_wait").Inc()
		}
		return d.unavailable(ctx, c, err)
	}
	return d.conclude(ctx, c, res)
}

// verdict is how a phase of run ends the call early.
type verdict struct {
	res contracts.CommandResult
	err error
}

func end(res contracts.CommandResult, err error) *verdict { return &verdict{res: res, err: err} }

// authenticate checks the principal is present, valid and matches Caller,
// and sets c.id. A failure is audited best effort as auth_denied.
func (d *Dispatcher) authenticate(ctx context.Context, c *call) *verdict {
	in := c.in
	id, err := authz.FromPrincipal(in.Principal)
	if err == nil && id.Principal() != in.Caller {
		err = fmt.Errorf("caller %q is not the principal's id %q", in.Caller, id.Principal())
	}
	if err != nil {
		d.m.decisions.WithLabelValues("authz", "unauthenticated").Inc()
		d.auditAuthDenied(ctx, c, err)
		return end(contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnauthorized, "no valid principal on the request: %v", err))
	}
	c.id = id
	return nil
}

// validate checks the request's fields and returns its timeout.
func (d *Dispatcher) validate(ctx context.Context, c *call) (time.Duration, *verdict) {
	in := c.in
	if err := contracts.ValidateID("cluster", in.Cluster); err != nil {
		return 0, end(d.deny(ctx, c, err))
	}
	if err := contracts.ValidateArgv(in.Argv); err != nil {
		return 0, end(d.deny(ctx, c, err))
	}
	if in.CommandID != "" {
		if err := contracts.ValidateCommandID(in.CommandID); err != nil {
			return 0, end(d.deny(ctx, c, err))
		}
	}
	timeout, err := contracts.ValidateTimeout(in.TimeoutSeconds)
	if err != nil {
		return 0, end(d.deny(ctx, c, err))
	}
	if in.SessionID != "" {
		if err := contracts.ValidateID("session", in.SessionID); err != nil {
			return 0, end(d.deny(ctx, c, err))
		}
	}
	return timeout, nil
}

// authorize checks the caller's role, the command's reading by the policy,
// the caller's scope for the namespace it touches and the policy in force,
// and returns the scope the executor enforces.
func (d *Dispatcher) authorize(ctx context.Context, c *call) (*contracts.CommandScope, *verdict) {
	in, id := c.in, c.id
	// The role first, so a viewer learns that before anything about argv.
	if err := id.Authorize(authz.ActionExecute, "", "", false); err != nil {
		return nil, end(d.denyAuthz(ctx, c, err))
	}
	cmd, dec, ok := policy.Parse(in.Argv)
	if !ok {
		return nil, end(d.denyPolicy(ctx, c, dec))
	}
	ns, all, scope, err := d.commandScope(ctx, id, in.Cluster, cmd)
	if err != nil {
		return nil, end(d.denyAuthz(ctx, c, err))
	}
	c.ns = ns
	if err := id.Authorize(authz.ActionExecute, in.Cluster, ns, all); err != nil {
		return nil, end(d.denyAuthz(ctx, c, err))
	}
	d.m.decisions.WithLabelValues("authz", "allowed").Inc()
	// argv was parsed once, above; the profile judges that reading.
	if dec := d.cfg.Policy().CheckCommand(ctx, in.Cluster, cmd, policy.StaticResolver); !dec.Allowed {
		return nil, end(d.denyPolicy(ctx, c, dec))
	}
	d.m.decisions.WithLabelValues("policy", string(policy.ReasonAllowed)).Inc()
	return scope, nil
}

// command builds the bridge command of c and sets c.deadline.
func (d *Dispatcher) command(c *call, timeout time.Duration, scope *contracts.CommandScope) contracts.Command {
	in := c.in
	c.deadline = d.cfg.Now().Add(timeout)
	return contracts.Command{
		ID:            c.cmdID,
		Cluster:       in.Cluster,
		Argv:          in.Argv,
		Deadline:      c.deadline.UTC(),
		IssuedAt:      d.cfg.Now().UTC(),
		Caller:        in.Caller,
		SessionID:     in.SessionID,
		CorrelationID: c.corr,
		Scope:         scope,
	}
}

// resultQueue is how many messages a command's result subscription
// buffers. One result is expected, a repeat or a malformed one now and
// then; more are dropped (their sender's request times out), which a
// result never needs. A sync subscription would buffer nats.go's default
// 65,536 (a 512 KiB channel per command, most of the dispatcher's
// garbage).
const resultQueue = 8

// resultSub is a command's subscription to its result subject.
type resultSub struct {
	sub  *nats.Subscription
	ch   chan *nats.Msg
	subj string
}

// dispatch subscribes to the command's result subject, stores the
// dispatched audit record and enqueues the command: leased to one of the
// cluster's connected streams and handed straight to the gateway replica
// holding it, when the store can lease as it queues (store.HandOff);
// otherwise, or when the hand-off fails, queued for any stream to claim,
// with a notify to the gateways. The caller unsubscribes the result
// subscription.
func (d *Dispatcher) dispatch(ctx context.Context, c *call, command *contracts.Command) (*resultSub, *verdict) {
	resultSubj, err := contracts.ResultSubject(command.Cluster, command.ID)
	if err != nil {
		return nil, end(d.deny(ctx, c, err))
	}
	// Subscribe before enqueuing, so a fast result cannot be missed.
	rs := &resultSub{ch: make(chan *nats.Msg, resultQueue), subj: resultSubj}
	rs.sub, err = d.cfg.Conn.ChanSubscribe(resultSubj, rs.ch)
	if err != nil {
		d.m.natsErrors.WithLabelValues("subscribe").Inc()
		return nil, end(d.unavailable(ctx, c, natsutil.MapError(err, resultSubj)))
	}
	fail := func(res contracts.CommandResult, err error) (*resultSub, *verdict) {
		_ = rs.sub.Unsubscribe()
		return nil, end(res, err)
	}
	// The command carries the trace to the gateway's delivery and the
	// executor's run.
	telemetry.InjectCommand(ctx, command)
	cmd := *command
	// A store that enqueues in two steps records the owner (Reserve:
	// the fence check, nothing an executor can claim) while the audit
	// record is written: one round trip of latency, not two.
	reserver, split := d.cfg.Store.(store.Reserver)
	var (
		reserveErr error
		wg         sync.WaitGroup
	)
	if split {
		wg.Go(func() {
			reserveErr = d.withStore(ctx, func(ctx context.Context) error { return reserver.Reserve(ctx, cmd) })
		})
	}
	// The dispatched record is stored before the command can run: no
	// command runs unaudited. Without it, refuse. Its JetStream publish
	// goes over the same connection as the SUB above and the server
	// handles a connection's protocol in order, so once the publish is
	// acknowledged the subscription is in place: no separate flush
	// round trip is needed before enqueuing.
	err = d.write(ctx, c, d.record(c, audit.EventCommandDispatched, "-dispatched"))
	wg.Wait()
	if err != nil {
		d.m.outcomes.WithLabelValues(string(audit.OutcomeUnavailable), "audit_unavailable").Inc()
		return fail(contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnavailable,
			"audit log unavailable, so the command was not run (command %s): %v", c.cmdID, err))
	}
	c.log.Debug("command dispatched")
	// With a store that can lease as it queues and a stream connected,
	// the command goes straight to that stream (handOff); otherwise it is
	// queued and the gateways are notified, and a stream claims it.
	handOff, fast := d.cfg.Store.(store.HandOff)
	target, fast := d.pickStream(c.conns, fast && split)
	var leased []contracts.Command
	err = reserveErr
	if err == nil {
		err = d.withStore(ctx, func(ctx context.Context) error {
			switch {
			case fast:
				var err error
				leased, err = handOff.AppendLeased(ctx, cmd, target.ConnID, handOffBatch)
				return err
			case split:
				return reserver.Append(ctx, cmd)
			}
			return d.cfg.Store.Enqueue(ctx, cmd)
		})
	}
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			// The gateway gave up on this request (it was lost in a bus
			// reconnect, so it fenced the id) or the id is taken: it
			// must not run, and nobody waits for it.
			return fail(d.unavailable(ctx, c, &contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonFenced,
				Message: fmt.Sprintf("command %s was not queued: its id was abandoned by the gateway or is already in use", c.cmdID)}))
		}
		d.m.storeErrors.WithLabelValues("enqueue").Inc()
		return fail(d.unavailable(ctx, c, storeError("bridge queue", err)))
	}
	if fast && d.handOff(ctx, c, handOff, target, leased) {
		return rs, nil
	}
	d.notify(c, command.Cluster, command.ID)
	return rs, nil
}

// notify tells the gateways that the cluster's queue holds a command to
// claim (contracts.BridgeNotifySubject).
func (d *Dispatcher) notify(c *call, cluster, commandID string) {
	subj, _ := contracts.BridgeNotifySubject(cluster)
	if err := d.cfg.Conn.Publish(subj, []byte(commandID)); err != nil {
		// The gateway also polls its queues, so a lost notify only delays.
		d.m.natsErrors.WithLabelValues("notify").Inc()
		c.log.Warn("bridge notify failed", logging.KeyErr, err)
	}
}

// handOffBatch is the most commands one hand-off leases: the command and
// any older ones waiting (as many as a stream claims at once).
const handOffBatch = 16

// pickStream picks the stream a command is handed to, at random among the
// cluster's connected streams that name their gateway replica and whose
// replica is not paused (handOffPause); ok is false when there is none or
// when can is false.
func (d *Dispatcher) pickStream(conns []contracts.ExecutorInfo, can bool) (contracts.ExecutorInfo, bool) {
	if !can || len(conns) == 0 {
		return contracts.ExecutorInfo{}, false
	}
	now := d.cfg.Now()
	start := rand.IntN(len(conns))
	for i := range conns {
		info := conns[(start+i)%len(conns)]
		if contracts.ValidateGatewayName(info.Gateway) != nil || contracts.ValidateConnID(info.ConnID) != nil {
			continue
		}
		if until, ok := d.shunned.Load(info.Gateway); ok {
			if now.Before(until.(time.Time)) {
				continue
			}
			d.shunned.CompareAndDelete(info.Gateway, until)
		}
		return info, true
	}
	return contracts.ExecutorInfo{}, false
}

// handOff sends the commands AppendLeased leased to stream target (c's
// command, and any older ones that were waiting) to the gateway replica
// holding it, and waits for its answer: the replica writes them to the
// stream before it answers, so the wait is not on the command's path.
// It reports whether c's command is on its way to that stream; if not,
// the caller notifies the gateways so that a stream claims it.
//
// The leases are released (store.HandOff.Release: claimable again at
// once) only when the replica cannot have written them: it answered
// no_stream (the stream ended, or its inbox is full) or nobody listens
// on its subject (it is gone, or predates hand-offs). After a timeout or
// another NATS error the replica may have written them, so they keep
// their lease and are claimed again when it runs out: one stream at a
// time, as every lease promises.
func (d *Dispatcher) handOff(ctx context.Context, c *call, h store.HandOff, target contracts.ExecutorInfo, leased []contracts.Command) bool {
	if len(leased) == 0 {
		// Nothing leased (more older commands waited than one hand-off
		// takes, or the command expired): the queue has it.
		d.m.handOffs.WithLabelValues("not_leased").Inc()
		return false
	}
	handed := slices.ContainsFunc(leased, func(cmd contracts.Command) bool { return cmd.ID == c.cmdID })
	subj, _ := contracts.HandOffSubject(target.Gateway) // pickStream checked the name
	body, err := json.Marshal(contracts.CommandHandOff{
		Type: contracts.TypeCommandHandOff, Cluster: target.Cluster, ConnID: target.ConnID, Commands: leased,
	})
	if err != nil {
		d.release(ctx, c, h, target, leased, "error", err)
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, min(d.cfg.HandOffTimeout, c.deadline.Sub(d.cfg.Now())))
	defer cancel()
	msg := nats.NewMsg(subj)
	msg.Data = body
	natsutil.InjectTrace(ctx, msg)
	var rep contracts.CommandHandOffReply
	m, err := d.cfg.Conn.RequestMsgWithContext(hctx, msg)
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		d.release(ctx, c, h, target, leased, "no_responders", nil)
		return false
	case err != nil:
		// Maybe written: the leases stand. The replica gets no hand-offs
		// for a while.
		d.shunned.Store(target.Gateway, d.cfg.Now().Add(handOffPause))
		d.m.handOffs.WithLabelValues("error").Inc()
		d.m.natsErrors.WithLabelValues("handoff").Inc()
		c.log.Warn("command hand-off unanswered; the commands are claimed again when their lease runs out, and the gateway replica gets no hand-offs for a while (if every hand-off times out, check that the dispatcher may publish to kubently.gateway.v1.handoff.>)",
			"gateway", target.Gateway, "conn_id", target.ConnID, "commands", len(leased), "pause", handOffPause, logging.KeyErr, err)
		return false
	case json.Unmarshal(m.Data, &rep) != nil || rep.Type != contracts.TypeCommandHandOffReply:
	case rep.Status == contracts.HandOffDelivered:
		d.m.handOffs.WithLabelValues(contracts.HandOffDelivered).Inc()
		return handed
	case rep.Status == contracts.HandOffNoStream:
		d.release(ctx, c, h, target, leased, contracts.HandOffNoStream, nil)
		return false
	}
	// Malformed, or a status this version does not know: maybe written.
	d.shunned.Store(target.Gateway, d.cfg.Now().Add(handOffPause))
	d.m.handOffs.WithLabelValues("error").Inc()
	c.log.Warn("unexpected hand-off reply; the commands are claimed again when their lease runs out", "gateway", target.Gateway)
	return false
}

// release ends the leases of commands a hand-off could not deliver and
// counts the hand-off's outcome; the caller then notifies the gateways.
func (d *Dispatcher) release(ctx context.Context, c *call, h store.HandOff, target contracts.ExecutorInfo, leased []contracts.Command, outcome string, cause error) {
	d.m.handOffs.WithLabelValues(outcome).Inc()
	ids := make([]string, len(leased))
	for i, cmd := range leased {
		ids[i] = cmd.ID
	}
	err := d.withStore(ctx, func(ctx context.Context) error {
		_, err := h.Release(ctx, target.Cluster, target.ConnID, ids)
		return err
	})
	if err != nil {
		d.m.storeErrors.WithLabelValues("release").Inc()
		c.log.Warn("hand-off failed and its leases could not be released; the commands are claimed again when their lease runs out",
			"outcome", outcome, "gateway", target.Gateway, logging.KeyErr, err, "cause", cause)
		return
	}
	c.log.Debug("hand-off failed; leases released", "outcome", outcome, "gateway", target.Gateway, "conn_id", target.ConnID, "cause", cause)
}

// conclude stores the command_executed record of a result and releases
// the result only once that record is stored.
func (d *Dispatcher) conclude(ctx context.Context, c *call, res contracts.CommandResult) (contracts.CommandResult, error) {
	rec := d.record(c, audit.EventCommandExecuted, "-executed")
	rec.Outcome, rec.Reason = outcomeOf(res)
	rec.ExitCode = res.ExitCode
	rec.DurationMS = res.DurationMS
	rec.Bytes = int64(len(res.Output))
	rec.Truncated = res.Truncated
	if res.Status != contracts.StatusSuccess {
		rec.Message = res.Error
	}
	if err := d.final(ctx, c, rec); err != nil {
		// The command ran but its outcome is not on record: do not
		// release the output. Its dispatched record is stored.
		return contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnavailable,
			"audit log unavailable: command %s ran but its result is withheld because it could not be audited: %v", c.cmdID, err)
	}
	return res, nil
}

// await waits for the command's result until deadline. No result in time
// is a CommandResult with status timeout; ctx ending first is an error.
func (d *Dispatcher) await(ctx context.Context, c *call, rs *resultSub, deadline time.Time, timeout time.Duration) (contracts.CommandResult, error) {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	base := contracts.CommandResult{
		CommandID: c.cmdID, Cluster: c.in.Cluster, SessionID: c.in.SessionID, CorrelationID: c.corr,
	}
	watch := d.watchHolder(wctx, c)
	defer watch.stop()
	for {
		var msg *nats.Msg
		var err error
		select {
		case msg = <-rs.ch:
		case <-watch.ctx.Done():
			err = watch.ctx.Err()
		}
		if err != nil {
			if lost := watch.lost(); lost != nil {
				return contracts.CommandResult{}, lost
			}
			if d.quitting.Err() != nil {
				return contracts.CommandResult{}, &contracts.Error{Code: contracts.CodeUnavailable, Reason: ReasonDispatcherStopped, Message: fmt.Sprintf(
					"the dispatcher stopped before command %s's result came; the command stays queued and may still run once, but its result cannot reach this request (kubently audit --command-id %s)",
					c.cmdID, c.cmdID)}
			}
			if wctx.Err() != nil && ctx.Err() == nil {
				base.Status = contracts.StatusTimeout
				base.Error = fmt.Sprintf("no result from cluster %s within %s", c.in.Cluster, timeout)
				base.ExitCode = 1
				base.DurationMS = timeout.Milliseconds()
				return base, nil
			}
			return contracts.CommandResult{}, natsutil.MapError(err, rs.subj)
		}
		var r contracts.ExecutorResult
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.CommandID != c.cmdID {
			c.log.Warn("malformed result ignored")
			_ = msg.Respond([]byte(`{"accepted":false}`))
			continue
		}
		// Stop listening before answering: once the gateway has our
		// reply, any repeat of this result finds no responders (the
		// server handles our UNSUB before our reply) and is told
		// "duplicate" at once instead of waiting on a dead subscription.
		_ = rs.sub.Unsubscribe()
		_ = msg.Respond([]byte(`{"accepted":true}`))
		base.Outcome = r.Outcome
		base.ExecutedAt, base.Reason, base.Structured, base.Continue = r.ExecutedAt, r.Reason, r.Structured, r.Continue
		return base, nil
	}
}

// checkTarget verifies the cluster is registered, the session (if any) is
// live, usable by the caller (its owner or an admin) and on this cluster,
// its token is not revoked, an executor is connected (or one dropped less
// than Config.BridgeGrace ago) and its queue has room — in that order,
// each failing fast with its own code.
func (d *Dispatcher) checkTarget(ctx context.Context, c *call) error {
	in := c.in
	// The registry, presence and queue depth reads are independent: make
	// them at once (one store round trip of latency, not three), then
	// judge them in order.
	var (
		conns    []contracts.ExecutorInfo
		connErr  error
		depth    int
		depthErr error
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		connErr = d.withStore(ctx, func(ctx context.Context) error {
			var err error
			conns, err = d.cfg.Store.Connected(ctx, in.Cluster)
			return err
		})
	})
	wg.Go(func() {
		depthErr = d.withStore(ctx, func(ctx context.Context) error {
			var err error
			depth, err = d.cfg.Store.Depth(ctx, in.Cluster)
			return err
		})
	})
	var rec store.ClusterRecord
	err := d.withStore(ctx, func(ctx context.Context) error {
		var err error
		rec, err = d.cfg.Store.GetCluster(ctx, in.Cluster)
		return err
	})
	wg.Wait()
	if errors.Is(err, store.ErrNotFound) {
		return contracts.Errorf(contracts.CodeUnknownCluster, "cluster %q is not registered", in.Cluster)
	}
	if err != nil {
		d.m.storeErrors.WithLabelValues("cluster_registry").Inc()
		return storeError("cluster registry", err)
	}
	c.cluster = in.Cluster
	if in.SessionID != "" {
		sctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
		defer cancel()
		sess, err := natsutil.Request(contracts.WithCorrelationID(sctx, c.corr), d.cfg.Conn, contracts.KeepSessionAlive,
			contracts.SessionRequest{ID: in.SessionID, Caller: in.Caller, Principal: in.Principal})
		if err != nil {
			if e := contracts.AsError(err); e.Code == contracts.CodeUnavailable || e.Code == contracts.CodeTimeout {
				d.m.natsErrors.WithLabelValues("session_request").Inc()
			}
			return err
		}
		if sess.Cluster != in.Cluster {
			return contracts.Errorf(contracts.CodeSessionMismatch, "session %s belongs to cluster %q, not %q", sess.ID, sess.Cluster, in.Cluster)
		}
	}
	if err := connErr; err != nil {
		d.m.storeErrors.WithLabelValues("executor_presence").Inc()
		return storeError("executor presence", err)
	}
	if rec.Revoked() {
		// No executor can connect with a revoked token: never wait.
		return contracts.Errorf(contracts.CodeExecutorUnavailable, "the executor token of cluster %q is revoked", in.Cluster)
	}
	c.conns = conns
	if len(conns) == 0 {
		if err := d.checkGrace(ctx, c); err != nil {
			return err
		}
	}
	if err := depthErr; err != nil {
		d.m.storeErrors.WithLabelValues("bridge_depth").Inc()
		return storeError("bridge queue", err)
	}
	if depth >= d.cfg.MaxQueue {
		d.m.queueFull.Inc()
		return contracts.Errorf(contracts.CodeUnavailable, "queue for cluster %s is full (%d commands waiting)", in.Cluster, depth)
	}
	return nil
}

// checkGrace decides for a cluster with no executor connected: within
// Config.BridgeGrace of its last stream ending the command is queued
// (nil), otherwise it is refused with executor_unavailable.
func (d *Dispatcher) checkGrace(ctx context.Context, c *call) error {
	cluster := c.in.Cluster
	if d.cfg.BridgeGrace <= 0 {
		return contracts.Errorf(contracts.CodeExecutorUnavailable, "no executor is connected for cluster %q", cluster)
	}
	var seen time.Time
	err := d.withStore(ctx, func(ctx context.Context) error {
		var err error
		seen, err = d.cfg.Store.LastSeen(ctx, cluster)
		return err
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		return contracts.Errorf(contracts.CodeExecutorUnavailable, "no executor is connected for cluster %q", cluster)
	case err != nil:
		d.m.storeErrors.WithLabelValues("executor_presence").Inc()
		return storeError("executor presence", err)
	}
	gone := d.cfg.Now().Sub(seen)
	if gone >= d.cfg.BridgeGrace {
		return contracts.Errorf(contracts.CodeExecutorUnavailable, "no executor is connected for cluster %q (last seen %s ago)",
			cluster, gone.Round(time.Second))
	}
	d.m.graceQueued.Inc()
	c.log.Info("no executor connected; queued within the reconnect grace", "last_seen_ago_ms", gone.Milliseconds(),
		"grace_ms", d.cfg.BridgeGrace.Milliseconds())
	return nil
}

// outcomeOf maps a command result to its audit outcome and reason code.
func outcomeOf(res contracts.CommandResult) (audit.Outcome, string) {
	switch res.Status {
	case contracts.StatusSuccess:
		return audit.OutcomeSuccess, ""
	case contracts.StatusFailure:
		return audit.OutcomeFailure, orDefault(res.Reason, "command_failed")
	case contracts.StatusDenied:
		return audit.OutcomeDenied, orDefault(res.Reason, "denied_by_executor")
	case contracts.StatusTimeout:
		return audit.OutcomeTimeout, orDefault(res.Reason, string(contracts.CodeTimeout))
	}
	return audit.OutcomeError, orDefault(res.Reason, "executor_error")
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// denyAuthz answers a role or scope denial: 403 forbidden with the authz
// reason, recorded as command_denied.
func (d *Dispatcher) denyAuthz(ctx context.Context, c *call, err error) (contracts.CommandResult, error) {
	var den *authz.Denial
	if !errors.As(err, &den) {
		return d.deny(ctx, c, err)
	}
	d.m.decisions.WithLabelValues("authz", string(den.Reason)).Inc()
	return d.deny(ctx, c, &contracts.Error{Code: contracts.CodeForbidden, Reason: string(den.Reason), Message: den.Message})
}

// denyPolicy answers a policy denial: 403 command_denied with the policy
// reason, recorded as command_denied.
func (d *Dispatcher) denyPolicy(ctx context.Context, c *call, dec policy.Decision) (contracts.CommandResult, error) {
	d.m.decisions.WithLabelValues("policy", string(dec.Reason)).Inc()
	return d.deny(ctx, c, &contracts.Error{Code: contracts.CodeCommandDenied, Reason: string(dec.Reason), Message: dec.Message})
}

// deny records a command refused before it was dispatched as
// command_denied (reason: the error's reason, else its code) and returns
// the error. If the record cannot be stored, the reply is 503 instead.
func (d *Dispatcher) deny(ctx context.Context, c *call, err error) (contracts.CommandResult, error) {
	e := contracts.AsError(err)
	rec := d.record(c, audit.EventCommandDenied, "-denied")
	rec.Outcome = audit.OutcomeDenied
	rec.Reason = orDefault(e.Reason, string(e.Code))
	rec.Message = e.Message
	if werr := d.final(ctx, c, rec); werr != nil {
		return contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnavailable,
			"audit log unavailable; the command was refused (%s) but could not be audited: %v", rec.Reason, werr)
	}
	return contracts.CommandResult{}, e
}

// reject records a failed target check: routing failures (unknown
// cluster, no executor, store down) as command_executed with outcome
// unavailable, session failures as command_denied.
func (d *Dispatcher) reject(ctx context.Context, c *call, err error) (contracts.CommandResult, error) {
	e := contracts.AsError(err)
	switch e.Code {
	case contracts.CodeUnknownCluster, contracts.CodeExecutorUnavailable, contracts.CodeUnavailable,
		contracts.CodeTimeout, contracts.CodeInternal:
		return d.unavailable(ctx, c, e)
	}
	return d.deny(ctx, c, e)
}

// unavailable records a command that could not be routed or whose result
// could not be awaited as command_executed with outcome unavailable
// (reason: the error code) and returns the error.
func (d *Dispatcher) unavailable(ctx context.Context, c *call, err error) (contracts.CommandResult, error) {
	e := contracts.AsError(err)
	rec := d.record(c, audit.EventCommandExecuted, "-executed")
	rec.Outcome = audit.OutcomeUnavailable
	rec.Reason = orDefault(e.Reason, string(e.Code))
	rec.Message = e.Message
	rec.DurationMS = max(d.cfg.Now().Sub(c.start).Milliseconds(), 0)
	if werr := d.final(ctx, c, rec); werr != nil {
		return contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnavailable,
			"%s; and the audit log is unavailable: %v", e.Message, werr)
	}
	return contracts.CommandResult{}, e
}

// record returns a record of event for c with the fields every command
// record shares; its ID is the command id plus suffix.
func (d *Dispatcher) record(c *call, event audit.Event, suffix string) audit.Record {
	rec := audit.Record{
		ID:        c.cmdID + suffix,
		Time:      d.cfg.Now().UTC(),
		Event:     event,
		Identity:  c.id.Principal(),
		Role:      string(c.id.Role),
		Namespace: c.ns,
		Argv:      c.in.Argv,
		CommandID: c.cmdID,
		Gateway:   c.in.Gateway,
		Tool:      c.in.Tool,
	}
	if contracts.ValidateID("cluster", c.in.Cluster) == nil {
		rec.Cluster = c.in.Cluster
	}
	if contracts.ValidateID("session", c.in.SessionID) == nil {
		rec.SessionID = c.in.SessionID
	}
	if contracts.IsID(c.corr) {
		rec.CorrelationID = c.corr
	}
	if contracts.IsID(c.in.FanoutID) {
		rec.FanoutID = c.in.FanoutID
	}
	return rec.Clamp()
}

// final writes a command's final record and counts its outcome.
func (d *Dispatcher) final(ctx context.Context, c *call, rec audit.Record) error {
	d.m.outcomes.WithLabelValues(string(rec.Outcome), rec.Reason).Inc()
	return d.writeWithin(ctx, c, rec, d.finalTimeout(c))
}

// finalWriteSlack is how long past its command's deadline a final record
// may still be written; the gateway waits its RequestMargin (5s) longer.
const finalWriteSlack = 2 * time.Second

// finalTimeout bounds the write of a command's final record: AuditTimeout,
// or longer when its caller waits longer anyway. A command that ran must
// not lose its result to a short audit outage (a JetStream leader
// election takes seconds): the caller would get "result withheld" for
// work that was done.
func (d *Dispatcher) finalTimeout(c *call) time.Duration {
	if c.deadline.IsZero() {
		return d.cfg.AuditTimeout
	}
	return max(d.cfg.AuditTimeout, c.deadline.Add(finalWriteSlack).Sub(d.cfg.Now()))
}

// write stores rec, waiting for the acknowledgement, on a context that
// the request's (or the service's) end does not cancel: a record due is
// written even while the dispatcher shuts down.
func (d *Dispatcher) write(ctx context.Context, c *call, rec audit.Record) error {
	return d.writeWithin(ctx, c, rec, d.cfg.AuditTimeout)
}

// writeWithin is write with its own bound.
func (d *Dispatcher) writeWithin(ctx context.Context, c *call, rec audit.Record, timeout time.Duration) error {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := d.cfg.Audit.Write(wctx, scrub(rec).Clamp()); err != nil {
		d.m.auditErrors.WithLabelValues(string(rec.Event)).Inc()
		c.log.Error("audit write failed", "event", rec.Event, "record_id", rec.ID, logging.KeyErr, err)
		return err
	}
	return nil
}

// scrub masks what an audit record must not keep, for 90 days or at all:
// the values of credential, target and file flags in argv, in every
// spelling, and whatever the redactor would mask (policy.ScrubArgv), and
// credential shapes in the message.
func scrub(rec audit.Record) audit.Record {
	if argv, ok := policy.ScrubArgv(rec.Argv); ok {
		rec.Argv = argv
	}
	if msg, ok := sensitive.Shapes(rec.Message); ok {
		rec.Message = msg
	}
	return rec
}

// auditAuthDenied records, best effort, a request refused for want of a
// valid principal. Its identity is the unverified Caller, clamped.
func (d *Dispatcher) auditAuthDenied(ctx context.Context, c *call, cause error) {
	rec := audit.Record{
		ID:        c.cmdID + "-auth",
		Time:      d.cfg.Now().UTC(),
		Event:     audit.EventAuthDenied,
		Identity:  c.in.Caller,
		Outcome:   audit.OutcomeDenied,
		Reason:    string(contracts.CodeUnauthorized),
		Argv:      c.in.Argv,
		CommandID: c.cmdID,
		Gateway:   c.in.Gateway,
		Message:   cause.Error(),
	}
	if contracts.ValidateID("cluster", c.in.Cluster) == nil {
		rec.Cluster = c.in.Cluster
	}
	if contracts.IsID(c.corr) {
		rec.CorrelationID = c.corr
	}
	if contracts.IsID(c.in.FanoutID) {
		rec.FanoutID = c.in.FanoutID
	}
	_ = d.write(ctx, c, rec.Clamp())
}

func (d *Dispatcher) withStore(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
	defer cancel()
	return f(ctx)
}

func storeError(what string, err error) error {
	return contracts.Errorf(contracts.CodeUnavailable, "%s unavailable: %v", what, err)
}
