package sessionsvc

import (
	"context"
	"fmt"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
)

// who is the caller of a session request.
type who struct {
	// caller is the request's Caller: the principal id.
	caller string
	// id is the principal, when the request carried one.
	id authz.Identity
	// principal reports that id is set.
	principal bool
}

// caller checks a request's caller: a non-empty Caller and, if a principal
// came with it, a valid one whose id is Caller. Failures are 401.
func caller(name string, p *contracts.Principal) (who, error) {
	if name == "" {
		return who{}, contracts.Errorf(contracts.CodeUnauthorized, "no caller identity on the request")
	}
	w := who{caller: name}
	if p == nil {
		return w, nil
	}
	id, err := authz.FromPrincipal(p)
	if err != nil {
		return who{}, contracts.Errorf(contracts.CodeUnauthorized, "invalid principal on the request: %v", err)
	}
	if id.Principal() != name {
		return who{}, contracts.Errorf(contracts.CodeUnauthorized, "caller %q is not the principal's id %q", name, id.Principal())
	}
	w.id, w.principal = id, true
	return w, nil
}

// mayUse reports whether the caller may use a session owned by owner: the
// owner itself, or an admin principal.
func (w who) mayUse(owner string) bool {
	if w.principal {
		return authz.CanUseSession(w.id, owner)
	}
	return owner != "" && owner == w.caller
}

// audit writes a session record for sess by w and waits for its
// acknowledgement, on a context the request's end does not cancel.
func (s *Service) audit(ctx context.Context, w who, sess contracts.Session, event audit.Event, suffix string) error {
	rec := audit.Record{
		ID:        sess.ID + suffix,
		Event:     event,
		Identity:  w.caller,
		Role:      string(w.id.Role),
		Cluster:   sess.Cluster,
		SessionID: sess.ID,
		Outcome:   audit.OutcomeSuccess,
	}
	if corr := contracts.CorrelationIDFrom(ctx); contracts.IsID(corr) {
		rec.CorrelationID = corr
	}
	if sess.Owner != w.caller {
		rec.Target = sess.Owner
		rec.Message = fmt.Sprintf("session owned by %s", sess.Owner)
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.AuditTimeout)
	defer cancel()
	if err := s.cfg.Audit.Write(wctx, rec.Clamp()); err != nil {
		s.m.auditErrors.WithLabelValues(string(event)).Inc()
		s.cfg.Log.Error("audit write failed", "event", event, logging.KeySessionID, sess.ID, logging.KeyErr, err)
		return err
	}
	return nil
}
