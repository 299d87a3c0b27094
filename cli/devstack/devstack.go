// Package devstack assembles Kubently's central services in one process —
// the session service, the dispatcher with its command policy, and the
// gateway serving HTTP — each on the NATS connection and store client of
// its own role, as in production. It is the one builder of both
// `kubently dev` (cli/internal/dev) and the end-to-end test stack
// (tests/stack); each brings its own bus, credentials and executors.
//
// # Usage
//
//	s, err := devstack.Start(ctx, devstack.Config{Connect: connect, Log: log, Gateway: gwCfg, Addr: ":8080"})
//	if err != nil { ... }
//	defer s.Stop()
//	s.RunExecutor(ecfg, rest, log)
//	select { case <-ctx.Done(): case <-s.Ended(): }
//
// # Concurrency
//
// A Stack's methods are safe for concurrent use.
package devstack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/rest"

	"kubently.io/libs/natsutil"
	"kubently.io/libs/policy"
	"kubently.io/libs/store"
	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	gatewayapp "kubently.io/services/gateway/app"
	sessionapp "kubently.io/services/session/app"
)

// flushTimeout bounds the wait for the server to know a service's
// subscriptions before the next service sends it requests.
const flushTimeout = 10 * time.Second

// Config configures Start.
type Config struct {
	// Connect opens the NATS connection and store client of one service
	// (its role's credentials and permissions); required. The caller
	// closes them.
	Connect func(role natsutil.Role) (*nats.Conn, store.Store, error)
	// Log is the services' logger; required. Each service logs with
	// service=<name>.
	Log *slog.Logger
	// Version is the build version the services report.
	Version string
	// PolicyFile is the command policy the dispatcher enforces; empty
	// means the built-in readOnly profile. PolicyReload is how often it
	// is re-read; zero means the policy package's default.
	PolicyFile   string
	PolicyReload time.Duration
	// SessionRegistry and DispatcherRegistry receive the session
	// service's and the dispatcher's (and the policy's) metrics; nil
	// registers none. GatewayRegistry holds the gateway's; nil means a
	// new one.
	SessionRegistry, DispatcherRegistry prometheus.Registerer
	GatewayRegistry                     *prometheus.Registry
	// Dispatcher, when set, adjusts the dispatcher's dependencies before
	// each start (RestartDispatcher too).
	Dispatcher func(*dispatchapp.Deps)
	// Gateway is the gateway's config.
	Gateway gatewayapp.Config
	// Addr is the gateway's listen address.
	Addr string
}

// Stack is the running central services.
type Stack struct {
	// URL is the gateway's base URL, e.g. http://127.0.0.1:8080.
	URL string
	// GatewayConn and GatewayStore are the gateway's connection and store
	// client.
	GatewayConn  *nats.Conn
	GatewayStore store.Store

	cfg     Config
	ctx     context.Context
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	session *sessionapp.App
	policy  *policy.Source

	mu         sync.Mutex
	dispatcher *dispatchapp.App
	errs       []error
	ended      chan struct{}
	endOnce    sync.Once
}

// Start starts the session service, the dispatcher and the gateway, and
// serves the gateway on cfg.Addr. On an error it stops what it started.
func Start(ctx context.Context, cfg Config) (s *Stack, err error) {
	if cfg.Connect == nil || cfg.Log == nil {
		return nil, errors.New("devstack: Connect and Log are required")
	}
	ctx, cancel := context.WithCancel(ctx)
	s = &Stack{cfg: cfg, ctx: ctx, cancel: cancel, ended: make(chan struct{})}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	log := cfg.Log
	ncS, stS, err := cfg.Connect(natsutil.RoleSession)
	if err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	if s.session, err = sessionapp.Start(ctx, sessionapp.Deps{Conn: ncS, Store: stS, Log: log.With("service", "session"), Registerer: cfg.SessionRegistry, Version: cfg.Version}); err != nil {
		return nil, err
	}
	// The services are on separate connections: make sure the server has
	// each one's subscriptions before the gateway sends it requests.
	if err := ncS.FlushTimeout(flushTimeout); err != nil {
		return nil, fmt.Errorf("session: %w", err)
	}
	s.policy, err = policy.NewSource(policy.SourceConfig{Path: cfg.PolicyFile, Interval: cfg.PolicyReload, Log: log.With("service", "dispatcher"), Registerer: cfg.DispatcherRegistry})
	if err != nil {
		return nil, fmt.Errorf("dispatcher policy: %w", err)
	}
	go s.policy.Run(ctx)
	ncD, stD, err := cfg.Connect(natsutil.RoleDispatcher)
	if err != nil {
		return nil, fmt.Errorf("dispatcher: %w", err)
	}
	if err := s.startDispatcher(ncD, stD); err != nil {
		return nil, err
	}
	if s.GatewayConn, s.GatewayStore, err = cfg.Connect(natsutil.RoleGateway); err != nil {
		return nil, fmt.Errorf("gateway: %w", err)
	}
	url, done, err := ServeGateway(ctx, cfg.Gateway, gatewayapp.Deps{Conn: s.GatewayConn, Store: s.GatewayStore, Log: log.With("service", "gateway"), Registry: cfg.GatewayRegistry}, cfg.Addr)
	if err != nil {
		return nil, err
	}
	s.URL = url
	s.wg.Go(func() { s.end(<-done) })
	return s, nil
}

// startDispatcher starts a dispatcher on nc and st and makes it the
// stack's.
func (s *Stack) startDispatcher(nc *nats.Conn, st store.Store) error {
	deps := dispatchapp.Deps{Conn: nc, Store: st, Log: s.cfg.Log.With("service", "dispatcher"), Registerer: s.cfg.DispatcherRegistry,
		Version: s.cfg.Version, Policy: s.policy}
	if s.cfg.Dispatcher != nil {
		s.cfg.Dispatcher(&deps)
	}
	app, err := dispatchapp.Start(s.ctx, deps)
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	s.mu.Lock()
	s.dispatcher = app
	s.mu.Unlock()
	if err := nc.FlushTimeout(flushTimeout); err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	return nil
}

// RestartDispatcher stops the dispatcher as a process shutdown would
// (requests in flight finish), then starts a new one on the connection and
// store client reconnect opens (closing the old ones is the caller's).
func (s *Stack) RestartDispatcher(reconnect func() (*nats.Conn, store.Store, error)) error {
	s.mu.Lock()
	old := s.dispatcher
	s.mu.Unlock()
	if err := old.Stop(); err != nil {
		s.cfg.Log.Warn("stop dispatcher", "err", err)
	}
	nc, st, err := reconnect()
	if err != nil {
		return fmt.Errorf("dispatcher: %w", err)
	}
	return s.startDispatcher(nc, st)
}

// RunExecutor runs an executor with cfg against rc until the stack stops;
// an error it ends with ends the stack (Ended, Errs).
func (s *Stack) RunExecutor(cfg executorapp.Config, rc *rest.Config, log *slog.Logger) {
	s.wg.Go(func() {
		if err := executorapp.RunWith(s.ctx, cfg, rc, log); err != nil {
			s.end(fmt.Errorf("executor %s: %w", cfg.ExecutorID, err))
		}
	})
}

// end records that the stack ended with err (nil: the gateway stopped
// serving on its own); what ends after Stop began is not recorded.
func (s *Stack) end(err error) {
	if s.ctx.Err() != nil {
		return
	}
	if err != nil {
		s.mu.Lock()
		s.errs = append(s.errs, err)
		s.mu.Unlock()
	}
	s.endOnce.Do(func() { close(s.ended) })
}

// Ended is closed when the gateway stops serving or an executor fails.
func (s *Stack) Ended() <-chan struct{} { return s.ended }

// Errs returns the errors the stack's parts ended with before Stop.
func (s *Stack) Errs() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.errs...)
}

// Stop stops the stack: the gateway and the executors end while the
// dispatcher drains its commands in flight (stopped one after the other,
// the gateway would wait out its own shutdown first), then the session
// service stops. It does not close the connections Connect opened.
func (s *Stack) Stop() {
	s.cancel()
	s.mu.Lock()
	disp := s.dispatcher
	s.mu.Unlock()
	drained := make(chan struct{})
	go func() {
		if disp != nil {
			_ = disp.Stop()
		}
		close(drained)
	}()
	s.wg.Wait()
	<-drained
	if s.session != nil {
		_ = s.session.Stop()
	}
}

// ServeGateway starts a gateway with cfg and deps and serves it on addr
// until ctx ends; done receives what serving ended with.
func ServeGateway(ctx context.Context, cfg gatewayapp.Config, deps gatewayapp.Deps, addr string) (url string, done <-chan error, err error) {
	gw, err := gatewayapp.Start(ctx, cfg, deps)
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", nil, fmt.Errorf("gateway listen %s: %w", addr, err)
	}
	ch := make(chan error, 1)
	go func() { ch <- gw.Serve(ctx, ln) }()
	return "http://" + hostPort(ln.Addr()), ch, nil
}

func hostPort(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok {
		return a.String()
	}
	if tcp.IP.IsUnspecified() {
		return fmt.Sprintf("127.0.0.1:%d", tcp.Port)
	}
	return tcp.String()
}
