// Package sessionsvc implements the session service's NATS endpoints:
// create, get, keepalive, end and list, on top of a store.
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

// Config configures New.
type Config struct {
	// Conn is the NATS connection to serve on; required.
	Conn *nats.Conn
	// Store keeps the sessions; required.
	Store Store
	// Log is the service's logger; required.
	Log *slog.Logger
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
}

// New registers the session endpoints on cfg.Conn. Stop ends them.
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Conn == nil || cfg.Store == nil || cfg.Log == nil {
		return nil, errors.New("sessionsvc: Conn, Store and Log are required")
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
	s := &Service{cfg: cfg}
	svc, err := micro.AddService(cfg.Conn, micro.Config{
		Name:        contracts.SessionServiceName,
		Version:     natsutil.ServiceVersion(cfg.Version),
		Description: "Kubently debugging sessions with TTLs",
	})
	if err != nil {
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
			return nil, fmt.Errorf("sessionsvc: add endpoint %s: %w", ep.name, err)
		}
	}
	s.svc = svc
	return s, nil
}

// Stop deregisters the service's endpoints.
func (s *Service) Stop() error { return s.svc.Stop() }

func (s *Service) serve(ctx context.Context, req micro.Request, h func(context.Context, micro.Request) (string, any, error)) {
	ctx = natsutil.RequestContext(ctx, req)
	ctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	defer cancel()
	log := s.cfg.Log.With(logging.KeyCorrelationID, contracts.CorrelationIDFrom(ctx))
	typ, v, err := h(ctx, req)
	if err != nil {
		e := mapStoreError(err)
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
	if in.Caller == "" {
		return "", nil, contracts.Errorf(contracts.CodeUnauthorized, "no caller identity on the request")
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
	s.cfg.Log.Info("session created", logging.KeySessionID, sess.ID, logging.KeyCluster, sess.Cluster,
		logging.KeyCaller, sess.Owner, "ttl_seconds", sess.TTLSeconds, logging.KeyCorrelationID, sess.CorrelationID)
	return contracts.TypeSession, sess, nil
}

// owned loads a session and checks the caller may use it. Another identity's
// session is reported as not found, so ids cannot be probed.
func (s *Service) owned(ctx context.Context, req micro.Request) (contracts.SessionRequest, contracts.Session, error) {
	var in contracts.SessionRequest
	if err := natsutil.DecodeRequest(req, &in); err != nil {
		return in, contracts.Session{}, err
	}
	if err := contracts.ValidateID("session", in.ID); err != nil {
		return in, contracts.Session{}, err
	}
	sess, err := s.cfg.Store.GetSession(ctx, in.ID)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return in, sess, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
		}
		return in, sess, err
	}
	if in.Caller == "" || sess.Owner != in.Caller {
		return in, contracts.Session{}, contracts.Errorf(contracts.CodeSessionNotFound, "session %s not found", in.ID)
	}
	return in, sess, nil
}

func (s *Service) get(ctx context.Context, req micro.Request) (string, any, error) {
	_, sess, err := s.owned(ctx, req)
	if err != nil {
		return "", nil, err
	}
	return contracts.TypeSession, sess, nil
}

func (s *Service) keepalive(ctx context.Context, req micro.Request) (string, any, error) {
	in, sess, err := s.owned(ctx, req)
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
		return "", nil, err
	}
	return contracts.TypeSession, sess, nil
}

func (s *Service) end(ctx context.Context, req micro.Request) (string, any, error) {
	in, _, err := s.owned(ctx, req)
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
	s.cfg.Log.Info("session ended", logging.KeySessionID, sess.ID, logging.KeyCluster, sess.Cluster, logging.KeyCaller, in.Caller)
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
