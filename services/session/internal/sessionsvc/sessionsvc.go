// Package sessionsvc implements the session service's NATS endpoints:
// create, get, keepalive, end and list, on top of a store.
//
// # Access
//
// A session is usable (get, keepalive, end, and running commands in it
// through the dispatcher) by its owner, and by any admin: a request whose
// Principal is a valid admin identity may act on anyone's session. A
// request with a Principal must name its id as Caller (else 401); a
// request without one is treated as Caller, owner-only (callers that
// predate roles). Another identity's session is reported as not found.
//
// # Audit
//
// Creating and ending a session write session_created and session_ended
// records (IDs <session_id>-created and -ended, so a retried end is
// stored once), acknowledged before the reply. If the created record
// cannot be stored the new session is ended again and the reply is 503.
//
// # Concurrency
//
// A Service is safe for concurrent use; micro runs handlers concurrently and
// replicas share the load through micro's default queue group.
package sessionsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/store"
)

// Store is what the service needs of the state store.
type Store interface {
	store.Sessions
	GetCluster(ctx context.Context, id string) (store.ClusterRecord, error)
}

// Auditor stores audit records; *audit.Writer implements it. Write must
// return nil only once the record is durably stored.
type Auditor interface {
	Write(ctx context.Context, rec audit.Record) error
}

// Config configures New.
type Config struct {
	// Conn is the NATS connection to serve on; required.
	Conn *nats.Conn
	// Store keeps the sessions; required.
	Store Store
	// Log is the service's logger; required.
	Log *slog.Logger
	// Audit stores session_created and session_ended records; required.
	Audit Auditor
	// Registerer receives the service's metrics; nil registers none. Stop
	// unregisters them.
	Registerer prometheus.Registerer
	// AuditTimeout bounds each audit write, retries included; zero means
	// 5s.
	AuditTimeout time.Duration
	// Version is reported in $SRV.INFO; empty means "dev".
	Version string
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// StoreTimeout bounds each store call; zero means 5s.
	StoreTimeout time.Duration
	// MaxInFlight bounds concurrent requests per endpoint; zero means 256.
	MaxInFlight int
}

// Service is a running session service.
type Service struct {
	cfg Config
	svc micro.Service
	m   *metrics
}

// New registers the session endpoints on cfg.Conn. Stop ends them.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Log == nil || cfg.Audit == nil {
		return nil, errors.New("sessionsvc: Conn, Store, Log and Audit are required")
	}
	if cfg.AuditTimeout <= 0 {
		cfg.AuditTimeout = 5 * time.Second
	}
	if cfg.Version == "" {
		cfg.Version = "0.0.0-dev"
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.StoreTimeout <= 0 {
		cfg.StoreTimeout = 5 * time.Second
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 256
	}
	s := &Service{cfg: cfg, m: newMetrics()}
	if err := s.m.register(cfg.Registerer); err != nil {
		return nil, err
	}
	svc, err := micro.AddService(cfg.Conn, micro.Config{
		Name:        contracts.SessionServiceName,
		Version:     natsutil.ServiceVersion(cfg.Version),
		Description: "Kubently debugging sessions with TTLs",
	})
	if err != nil {
		s.m.unregister(cfg.Registerer)
		return nil, fmt.Errorf("sessionsvc: add service: %w", err)
	}
	g := svc.AddGroup(contracts.SessionSubjectPrefix)
	endpoints := []struct {
		name string
		h    func(context.Context, micro.Request) (string, any, error)
	}{
		{"create", s.create},
		{"get", s.get},
		{"keepalive", s.keepalive},
		{"end", s.end},
		{"list", s.list},
	}
	for _, ep := range endpoints {
		h := ep.h
		if err := g.AddEndpoint(ep.name, natsutil.Concurrent(ctx, cfg.Conn, cfg.MaxInFlight, func(ctx context.Context, req micro.Request) {
			s.serve(ctx, req, h)
		})); err != nil {
			_ = svc.Stop()
			s.m.unregister(cfg.Registerer)
			return nil, fmt.Errorf("sessionsvc: add endpoint %s: %w", ep.name, err)
		}
	}
	s.svc = svc
	return s, nil
}

// Stop deregisters the service's endpoints and its metrics.
func (s *Service) Stop() error {
	err := s.svc.Stop()
	s.m.unregister(s.cfg.Registerer)
	return err
}

func (s *Service) serve(ctx context.Context, req micro.Request, h func(context.Context, micro.Request) (string, any, error)) {
	ctx = natsutil.RequestContext(ctx, req)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	log := s.cfg.Log.With(logging.KeyCorrelationID, contracts.CorrelationIDFrom(ctx))
	typ, v, err := h(ctx, req)
	if err != nil {
		e := mapStoreError(err)
		if errors.Is(err, store.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) {
			s.m.storeErrors.WithLabelValues(req.Subject()).Inc()
		}
		if e.Code.Status() >= 500 {
			log.Error("session request failed", "subject", req.Subject(), logging.KeyErr, err)
		}
		if rerr := natsutil.ReplyError(req, e); rerr != nil {
			log.Error("reply failed", logging.KeyErr, rerr)
		}
		return
	}
	if rerr := natsutil.Reply(req, typ, v); rerr != nil {
		log.Error("reply failed", logging.KeyErr, rerr)
	}
}

func mapStoreError(err error) *contracts.Error {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return contracts.Errorf(contracts.CodeUnavailable, "session store unavailable: %v", err)
	case errors.Is(err, context.DeadlineExceeded):
		return contracts.Errorf(contracts.CodeUnavailable, "session store did not answer in time")
	}
	return contracts.AsError(err)
}

func (s *Service) create(ctx context.Context, req micro.Request) (string, any, error) {
	var in contracts.CreateSessionRequest
	if err := natsutil.DecodeRequest(req, &in); err != nil {
		return "", nil, err
	}
	if err := contracts.ValidateID("cluster", in.Cluster); err != nil {
		return "", nil, err
	}
	w, err := caller(in.Caller, in.Principal)
	if err != nil {
		return "", nil, err
	}
	if w.principal {
		if !w.id.Can(authz.ActionSessionWrite) || !w.id.AllowsCluster(in.Cluster) {
			reason := authz.ReasonRoleForbidden
			if w.id.Can(authz.ActionSessionWrite) {
				reason = authz.ReasonClusterOutOfScope
			}
			return "", nil, &contracts.Error{Code: contracts.CodeForbidden, Reason: string(reason),
				Message: fmt.Sprintf("%s may not open a session on cluster %q", in.Caller, in.Cluster)}
		}
	}
	ttl, err := contracts.ValidateSessionTTL(in.TTLSeconds)
	if err != nil {
		return "", nil, err
	}
	if _, err := s.cfg.Store.GetCluster(ctx, in.Cluster); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil, contracts.Errorf(contracts.CodeUnknownCluster, "cluster %q is not registered", in.Cluster)
		}
		return "", nil, err
	}
	now := s.cfg.Now().UTC()
	sess := contracts.Session{
		ID:            contracts.NewID(),
		Cluster:       in.Cluster,
		Owner:         in.Caller,
		State:         contracts.SessionActive,
		CreatedAt:     now,
		ExpiresAt:     now.Add(ttl),
		TTLSeconds:    int(ttl / time.Second),
		CorrelationID: contracts.CorrelationIDFrom(ctx),
	}
	if err := s.cfg.Store.CreateSession(ctx, sess, ttl); err != nil {
		return "", nil, err
	}
	if err := s.audit(ctx, w, sess, audit.EventSessionCreated, "-created"); err != nil {
		// Not on record, so it must not exist: end it again.
		if _, eerr := s.cfg.Store.EndSession(context.WithoutCancel(ctx), sess.ID); eerr != nil {
			s.cfg.Log.Error("ending an unaudited session failed", logging.KeySessionID, sess.ID, logging.KeyErr, eerr)
		}
		return "", nil, contracts.Errorf(contracts.CodeUnavailable, "audit log unavailable, so no session was created: %v", err)
	}
	s.m.created.Inc()
	s.cfg.Log.Info("session created", logging.KeySessionID, sess.ID, logging.KeyCluster, sess.Cluster,
		logging.KeyCaller, sess.Owner, "ttl_seconds", sess.TTLSeconds, logging.KeyCorrelationID, sess.CorrelationID)
	return contracts.TypeSession, sess, nil
}

// owned loads a session and checks the caller may use it: its owner or an
// admin principal. Another identity's session is reported as not found,
// so ids cannot be probed.
func (s *Service) owned(ctx context.Context, req micro.Request) (contracts.SessionRequest, who, contracts.Session, error) {
	var in contracts.SessionRequest
	if err := natsutil.DecodeRequest(req, &in); err != nil {
		return in, who{}, contracts.Session{}, err
	}
	if err := contracts.ValidateID("session", in.ID); err != nil {
		return in, who{}, contracts.Session{}, err
	}
	w, err := caller(in.Caller, in.Principal)
	if err != nil {
		return in, w, contracts.Session{}, err
	}
	sess, err := s.cfg.Store.GetSession(ctx, in.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return in, w, sess, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
		}
		return in, w, sess, err
	}
	if !w.mayUse(sess.Owner) {
		return in, w, contracts.Session{}, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
	}
	if sess.State == contracts.SessionExpired {
		s.m.expired.Inc()
	}
	return in, w, sess, nil
}

func (s *Service) get(ctx context.Context, req micro.Request) (string, any, error) {
	_, _, sess, err := s.owned(ctx, req)
	if err != nil {
		return "", nil, err
	}
	return contracts.TypeSession, sess, nil
}

func (s *Service) keepalive(ctx context.Context, req micro.Request) (string, any, error) {
	in, _, sess, err := s.owned(ctx, req)
	if err != nil {
		return "", nil, err
	}
	if err := stateError(sess); err != nil {
		return "", nil, err
	}
	ttl := time.Duration(sess.TTLSeconds) * time.Second
	if in.TTLSeconds != 0 {
		if ttl, err = contracts.ValidateSessionTTL(in.TTLSeconds); err != nil {
			return "", nil, err
		}
	}
	sess, err = s.cfg.Store.TouchSession(ctx, in.ID, ttl)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
		}
		return "", nil, err
	}
	if err := stateError(sess); err != nil {
		if sess.State == contracts.SessionExpired {
			s.m.expired.Inc()
		}
		return "", nil, err
	}
	return contracts.TypeSession, sess, nil
}

func (s *Service) end(ctx context.Context, req micro.Request) (string, any, error) {
	in, w, before, err := s.owned(ctx, req)
	if err != nil {
		return "", nil, err
	}
	sess, err := s.cfg.Store.EndSession(ctx, in.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return "", nil, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
		}
		return "", nil, err
	}
	if sess.State == contracts.SessionEnded {
		// Ending an ended session again rewrites the same record id, so
		// a client retrying after a failed audit write completes it.
		if err := s.audit(ctx, w, sess, audit.EventSessionEnded, "-ended"); err != nil {
			return "", nil, contracts.Errorf(contracts.CodeUnavailable, "session %s was ended, but the audit log is unavailable; retry: %v", sess.ID, err)
		}
		if before.State == contracts.SessionActive {
			s.m.ended.Inc()
		}
	}
	s.cfg.Log.Info("session ended", logging.KeySessionID, sess.ID, logging.KeyCluster, sess.Cluster, logging.KeyCaller, in.Caller,
		"owner", sess.Owner, logging.KeyCorrelationID, contracts.CorrelationIDFrom(ctx))
	return contracts.TypeSession, sess, nil
}

func (s *Service) list(ctx context.Context, req micro.Request) (string, any, error) {
	var in contracts.ListSessionsRequest
	if err := natsutil.DecodeRequest(req, &in); err != nil {
		return "", nil, err
	}
	if err := contracts.ValidateID("cluster", in.Cluster); err != nil {
		return "", nil, err
	}
	if _, err := caller(in.Caller, in.Principal); err != nil {
		return "", nil, err
	}
	all, err := s.cfg.Store.ListSessions(ctx, in.Cluster)
	if err != nil {
		return "", nil, err
	}
	out := contracts.SessionList{Sessions: []contracts.Session{}}
	for _, sess := range all {
		if sess.Owner == in.Caller {
			out.Sessions = append(out.Sessions, sess)
		}
	}
	return contracts.TypeSessionList, out, nil
}

// stateError is the error for using a session that is no longer active.
func stateError(s contracts.Session) error {
	switch s.State {
	case contracts.SessionExpired:
		return contracts.Errorf(contracts.CodeSessionExpired, "session %s expired at %s", s.ID, s.ExpiresAt.Format(time.RFC3339))
	case contracts.SessionEnded:
		return contracts.Errorf(contracts.CodeSessionEnded, "session %s was ended", s.ID)
	}
	return nil
}
