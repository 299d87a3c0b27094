// Package dispatch implements the dispatcher's execute endpoint: it checks a
// command against the policy, the cluster registry, the caller's session and
// executor presence — answering at once with a distinct error when any check
// fails — then hands the command to the cluster's bridge queue and waits for
// the executor's result until the command's deadline.
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
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/policy"
	"kubently.io/libs/store"
)

// Store is what the dispatcher needs of the state store.
type Store interface {
	store.Bridge
	Connected(ctx context.Context, cluster string) ([]contracts.ExecutorInfo, error)
	GetCluster(ctx context.Context, id string) (store.ClusterRecord, error)
}

// PolicyFunc decides whether argv may run. policy.Check is the default; the
// full policy engine replaces it behind this one function.
type PolicyFunc func(argv []string) policy.Decision

// Config configures New.
type Config struct {
	// Conn is the NATS connection; required.
	Conn *nats.Conn
	// Store holds the registry, presence and bridge queue; required.
	Store Store
	// Log is the logger; required.
	Log *slog.Logger
	// Policy checks commands; nil means policy.Check.
	Policy PolicyFunc
	// Registerer receives the dispatcher's metrics; nil registers nothing.
	Registerer prometheus.Registerer
	// Version is reported in $SRV.INFO; empty means dev.
	Version string
	// MaxInFlight bounds concurrent execute requests; zero means 1024.
	MaxInFlight int
	// StoreTimeout bounds each store or session call; zero means 5s.
	StoreTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// Dispatcher is a running dispatch service.
type Dispatcher struct {
	cfg      Config
	svc      micro.Service
	commands *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New registers the dispatcher's endpoints on cfg.Conn.
func New(ctx context.Context, cfg Config) (*Dispatcher, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Log == nil {
		return nil, errors.New("dispatch: Conn, Store and Log are required")
	}
	if cfg.Policy == nil {
		cfg.Policy = policy.Check
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 1024
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	d := &Dispatcher{
		cfg: cfg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kubently_dispatcher_commands_total",
			Help: "Commands handled by the dispatcher, by cluster, outcome and error code.",
		}, []string{"cluster", "status", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubently_dispatcher_command_duration_seconds",
			Help:    "Time from execute request to reply, by verb and outcome.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"verb", "status"}),
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{d.commands, d.latency} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("dispatch: register metrics: %w", err)
			}
		}
	}
	svc, err := micro.AddService(cfg.Conn, micro.Config{
		Name:        contracts.DispatchServiceName,
		Version:     natsutil.ServiceVersion(cfg.Version),
		Description: "Kubently command dispatch: policy, routing, results",
	})
	if err != nil {
		return nil, fmt.Errorf("dispatch: add service: %w", err)
	}
	g := svc.AddGroup(contracts.DispatchSubjectPrefix)
	if err := g.AddEndpoint("execute", natsutil.Concurrent(ctx, cfg.Conn, cfg.MaxInFlight, d.serveExecute)); err != nil {
		_ = svc.Stop()
		return nil, fmt.Errorf("dispatch: add endpoint: %w", err)
	}
	d.svc = svc
	return d, nil
}

// Stop deregisters the endpoints.
func (d *Dispatcher) Stop() error { return d.svc.Stop() }

func (d *Dispatcher) serveExecute(ctx context.Context, req micro.Request) {
	start := d.cfg.Now()
	ctx = natsutil.RequestContext(ctx, req)
	var in contracts.ExecuteRequest
	var res contracts.CommandResult
	err := natsutil.DecodeRequest(req, &in)
	if err == nil {
		res, err = d.Execute(ctx, in)
	}
	verb := ""
	if len(in.Argv) > 0 && len(in.Argv[0]) <= 32 {
		verb = in.Argv[0]
	}
	log := d.cfg.Log.With(logging.KeyCorrelationID, contracts.CorrelationIDFrom(ctx), logging.KeyCluster, in.Cluster,
		logging.KeyCaller, in.Caller, logging.KeyVerb, verb)
	if err != nil {
		e := contracts.AsError(err)
		d.commands.WithLabelValues(in.Cluster, "rejected", string(e.Code)).Inc()
		d.latency.WithLabelValues(verb, "rejected").Observe(time.Since(start).Seconds())
		log.Info("command rejected", "code", e.Code, "reason", e.Reason, "message", e.Message)
		if rerr := natsutil.ReplyError(req, e); rerr != nil {
			log.Error("reply failed", logging.KeyErr, rerr)
		}
		return
	}
	d.commands.WithLabelValues(in.Cluster, string(res.Status), "").Inc()
	d.latency.WithLabelValues(verb, string(res.Status)).Observe(time.Since(start).Seconds())
	log.Info("command finished", logging.KeyCommandID, res.CommandID, logging.KeyStatus, res.Status,
		"exit_code", res.ExitCode, logging.KeyDuration, time.Since(start).Milliseconds())
	if rerr := natsutil.Reply(req, contracts.TypeCommandResult, res); rerr != nil {
		log.Error("reply failed", logging.KeyErr, rerr)
	}
}

// Execute runs one command end to end. Rejections come back as *contracts.Error;
// a command that was handed to an executor always yields a CommandResult
// (status timeout if no result came before the deadline).
func (d *Dispatcher) Execute(ctx context.Context, in contracts.ExecuteRequest) (contracts.CommandResult, error) {
	if err := contracts.ValidateID("cluster", in.Cluster); err != nil {
		return contracts.CommandResult{}, err
	}
	if in.Caller == "" {
		return contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnauthorized, "no caller identity on the request")
	}
	if err := contracts.ValidateArgv(in.Argv); err != nil {
		return contracts.CommandResult{}, err
	}
	timeout, err := contracts.ValidateTimeout(in.TimeoutSeconds)
	if err != nil {
		return contracts.CommandResult{}, err
	}
	if dec := d.cfg.Policy(in.Argv); !dec.Allowed {
		return contracts.CommandResult{}, &contracts.Error{Code: contracts.CodeCommandDenied, Reason: string(dec.Reason), Message: dec.Message}
	}
	deadline := d.cfg.Now().Add(timeout)
	if err := d.checkTarget(ctx, in); err != nil {
		return contracts.CommandResult{}, err
	}

	cmd := contracts.Command{
		ID:            contracts.NewID(),
		Cluster:       in.Cluster,
		Argv:          in.Argv,
		Deadline:      deadline.UTC(),
		IssuedAt:      d.cfg.Now().UTC(),
		Caller:        in.Caller,
		SessionID:     in.SessionID,
		CorrelationID: contracts.CorrelationIDFrom(ctx),
	}
	resultSubj, err := contracts.ResultSubject(cmd.Cluster, cmd.ID)
	if err != nil {
		return contracts.CommandResult{}, err
	}
	// Subscribe before enqueuing, so a fast result cannot be missed.
	sub, err := d.cfg.Conn.SubscribeSync(resultSubj)
	if err != nil {
		return contracts.CommandResult{}, natsutil.MapError(err, resultSubj)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := d.cfg.Conn.Flush(); err != nil {
		return contracts.CommandResult{}, natsutil.MapError(err, resultSubj)
	}
	if err := d.withStore(ctx, func(ctx context.Context) error { return d.cfg.Store.Enqueue(ctx, cmd) }); err != nil {
		return contracts.CommandResult{}, storeError("bridge queue", err)
	}
	notify, _ := contracts.BridgeNotifySubject(cmd.Cluster)
	if err := d.cfg.Conn.Publish(notify, []byte(cmd.ID)); err != nil {
		// The gateway also polls its queues, so a lost notify only delays.
		d.cfg.Log.Warn("bridge notify failed", logging.KeyErr, err, logging.KeyCommandID, cmd.ID)
	}

	wctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	base := contracts.CommandResult{
		CommandID: cmd.ID, Cluster: cmd.Cluster, SessionID: in.SessionID, CorrelationID: cmd.CorrelationID,
	}
	for {
		msg, err := sub.NextMsgWithContext(wctx)
		if err != nil {
			if wctx.Err() != nil && ctx.Err() == nil {
				base.Status = contracts.StatusTimeout
				base.Error = fmt.Sprintf("no result from cluster %s within %s", cmd.Cluster, timeout)
				base.ExitCode = 1
				base.DurationMS = timeout.Milliseconds()
				return base, nil
			}
			return contracts.CommandResult{}, natsutil.MapError(err, resultSubj)
		}
		var r contracts.ExecutorResult
		if err := json.Unmarshal(msg.Data, &r); err != nil || r.CommandID != cmd.ID {
			d.cfg.Log.Warn("malformed result ignored", logging.KeyCommandID, cmd.ID)
			_ = msg.Respond([]byte(`{"accepted":false}`))
			continue
		}
		_ = msg.Respond([]byte(`{"accepted":true}`))
		base.Status = r.Status
		base.Output = r.Output
		base.Error = r.Error
		base.ExitCode = r.ExitCode
		base.Truncated = r.Truncated
		base.Structured = r.Structured
		base.DurationMS = r.DurationMS
		base.ExecutedAt = r.ExecutedAt
		base.Reason = r.Reason
		return base, nil
	}
}

// checkTarget verifies the cluster is registered, the session (if any) is
// live, owned by the caller and on this cluster, and an executor is
// connected — in that order, each failing fast with its own code.
func (d *Dispatcher) checkTarget(ctx context.Context, in contracts.ExecuteRequest) error {
	err := d.withStore(ctx, func(ctx context.Context) error {
		_, err := d.cfg.Store.GetCluster(ctx, in.Cluster)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return contracts.Errorf(contracts.CodeUnknownCluster, "cluster %q is not registered", in.Cluster)
	}
	if err != nil {
		return storeError("cluster registry", err)
	}
	if in.SessionID != "" {
		if err := contracts.ValidateID("session", in.SessionID); err != nil {
			return err
		}
		sctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
		defer cancel()
		var sess contracts.Session
		err := natsutil.Request(sctx, d.cfg.Conn, contracts.SessionKeepaliveSubject, contracts.TypeSessionRequest,
			contracts.SessionRequest{ID: in.SessionID, Caller: in.Caller}, contracts.TypeSession, &sess)
		if err != nil {
			return err
		}
		if sess.Cluster != in.Cluster {
			return contracts.Errorf(contracts.CodeSessionMismatch, "session %s belongs to cluster %q, not %q", sess.ID, sess.Cluster, in.Cluster)
		}
	}
	var conns []contracts.ExecutorInfo
	err = d.withStore(ctx, func(ctx context.Context) error {
		var err error
		conns, err = d.cfg.Store.Connected(ctx, in.Cluster)
		return err
	})
	if err != nil {
		return storeError("executor presence", err)
	}
	if len(conns) == 0 {
		return contracts.Errorf(contracts.CodeExecutorUnavailable, "no executor is connected for cluster %q", in.Cluster)
	}
	return nil
}

func (d *Dispatcher) withStore(ctx context.Context, f func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d.cfg.StoreTimeout)
	defer cancel()
	return f(ctx)
}

func storeError(what string, err error) error {
	return contracts.Errorf(contracts.CodeUnavailable, "%s unavailable: %v", what, err)
}
