package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/sse"
)

// AuditWriter writes audit records (an *audit.Writer).
type AuditWriter interface {
	Write(ctx context.Context, rec audit.Record) error
}

// AuditReader queries and tails the audit log (an *audit.Reader).
type AuditReader interface {
	Query(ctx context.Context, f audit.Filter, p audit.Page) (audit.Result, error)
	Follow(ctx context.Context, f audit.Filter, fn func(audit.Record) error) error
}

// auditParams are the query parameters each audit route accepts.
var (
	auditFilterParams = []string{"since", "until", "cluster", "identity", "outcome", "event", "command_id", "fanout_id"}
	auditPageParams   = []string{"cursor", "limit"}
)

// auditFilter reads the filter from the query, refusing unknown
// parameters, and applies the caller's audit permission: admins may read
// everyone's records, others only their own (identity is forced to the
// caller; asking for another identity is 403).
func auditFilter(c echo.Context, allowed []string) (audit.Filter, error) {
	q := c.QueryParams()
	if err := onlyParams(q, allowed); err != nil {
		return audit.Filter{}, err
	}
	var f audit.Filter
	var err error
	if f.Since, err = timeParam(q, "since"); err != nil {
		return f, err
	}
	if f.Until, err = timeParam(q, "until"); err != nil {
		return f, err
	}
	f.Cluster = q.Get("cluster")
	f.Identity = q.Get("identity")
	f.Outcome = audit.Outcome(q.Get("outcome"))
	f.Event = audit.Event(q.Get("event"))
	f.CommandID = q.Get("command_id")
	f.FanoutID = q.Get("fanout_id")
	if f.Event != "" && !f.Event.Known() {
		return f, contracts.Errorf(contracts.CodeBadRequest, "event %q: want one of %v", clipParam(string(f.Event)), audit.Events)
	}
	if err := f.Validate(); err != nil {
		return f, contracts.Errorf(contracts.CodeBadRequest, "%s", stripPrefix(err))
	}

	id := identity(c)
	switch {
	case id.Can(authz.ActionAuditReadAll):
	case id.Can(authz.ActionAuditReadOwn):
		if f.Identity != "" && f.Identity != id.Principal() {
			return f, forbidden(c, &authz.Denial{Reason: authz.ReasonRoleForbidden,
				Message: fmt.Sprintf("role %q of %s may read only its own audit records", id.Role, id.Principal())})
		}
		f.Identity = id.Principal()
	default:
		return f, forbidden(c, &authz.Denial{Reason: authz.ReasonRoleForbidden,
			Message: fmt.Sprintf("role %q of %s does not allow %s", id.Role, id.Principal(), authz.ActionAuditReadOwn)})
	}
	return f, nil
}

func onlyParams(q url.Values, allowed []string) error {
	for k := range q {
		ok := false
		for _, a := range allowed {
			ok = ok || k == a
		}
		if !ok {
			return contracts.Errorf(contracts.CodeBadRequest, "unknown query parameter %q; allowed: %v", clipParam(k), allowed)
		}
		if len(q[k]) > 1 {
			return contracts.Errorf(contracts.CodeBadRequest, "query parameter %q given more than once", k)
		}
	}
	return nil
}

func timeParam(q url.Values, name string) (time.Time, error) {
	v := q.Get(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return time.Time{}, contracts.Errorf(contracts.CodeBadRequest, "%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", name, clipParam(v))
	}
	return t, nil
}

func clipParam(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// stripPrefix drops the sentinel's text from an audit error message.
func stripPrefix(err error) string {
	msg := err.Error()
	for _, p := range []string{audit.ErrInvalid.Error() + ": audit: ", audit.ErrBadCursor.Error() + ": "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			return msg[len(p):]
		}
	}
	return msg
}

// auditError maps an audit library error to the API error.
func auditError(err error) error {
	switch {
	case errors.Is(err, audit.ErrBadCursor):
		return contracts.Errorf(contracts.CodeBadRequest, "bad cursor: pass next_cursor of a previous page unchanged")
	case errors.Is(err, audit.ErrInvalid):
		return contracts.Errorf(contracts.CodeBadRequest, "%s", stripPrefix(err))
	case errors.Is(err, audit.ErrUnavailable):
		return contracts.Errorf(contracts.CodeUnavailable, "audit log unavailable")
	}
	return err
}

// auditQuery serves GET /v1/audit: one page of records.
func (s *Server) auditQuery(c echo.Context) error {
	f, err := auditFilter(c, append(append([]string{}, auditFilterParams...), auditPageParams...))
	if err != nil {
		return writeError(c, err)
	}
	page := audit.Page{Cursor: c.QueryParam("cursor"), Limit: audit.DefaultLimit}
	if v := c.QueryParam("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			return writeError(c, contracts.Errorf(contracts.CodeBadRequest, "limit %q: want an integer from 1 to %d", clipParam(v), audit.MaxLimit))
		}
		page.Limit = n
	}
	res, err := s.cfg.AuditReader.Query(c.Request().Context(), f, page)
	if err != nil {
		if !errors.Is(err, audit.ErrBadCursor) && !errors.Is(err, audit.ErrInvalid) {
			logging.FromContext(c.Request().Context()).Warn("audit query failed", logging.KeyErr, err)
		}
		return writeError(c, auditError(err))
	}
	if res.Records == nil {
		res.Records = []audit.Record{}
	}
	return c.JSON(http.StatusOK, res)
}

// auditStream serves GET /v1/audit/stream: matching records as they are
// stored, as SSE `event: record`, with a `: ping` comment every AuditPing,
// until the client goes away or the server shuts down.
func (s *Server) auditStream(c echo.Context) error {
	f, err := auditFilter(c, auditFilterParams)
	if err != nil {
		return writeError(c, err)
	}
	// Each write is bounded: a client that stopped reading fails it
	// rather than holding the stream (unsupported only in tests). The
	// writer serialises the records and the pings.
	out, err := sse.NewWriter(c.Response(), s.cfg.Limits.WriteTimeout)
	if err != nil {
		return writeError(c, contracts.Errorf(contracts.CodeInternal, "streaming unsupported"))
	}
	ctx, cancel := context.WithCancel(c.Request().Context())
	defer cancel()
	go func() {
		select {
		case <-s.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	out.Start()
	s.metrics.sse.WithLabelValues("audit").Inc()
	defer s.metrics.sse.WithLabelValues("audit").Dec()
	log := logging.FromContext(ctx)
	log.Info("audit stream open")
	defer log.Info("audit stream closed")

	var pinger sync.WaitGroup
	// The pinger must be gone before the handler returns: the response
	// writer is not usable after that.
	defer pinger.Wait()
	defer cancel()
	pinger.Go(func() {
		t := time.NewTicker(s.cfg.AuditPing)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if out.Comment("ping") != nil {
					cancel()
					return
				}
			}
		}
	})
	err = s.cfg.AuditReader.Follow(ctx, f, func(rec audit.Record) error {
		return out.JSON("", contracts.EventRecord, rec)
	})
	if err != nil && ctx.Err() == nil {
		log.Warn("audit stream ended", logging.KeyErr, err)
	}
	return nil
}

// KeysChanged writes one key_changed audit record per change, in the
// background (it is called from the key file's polling goroutine, which
// must not block).
func (s *Server) KeysChanged(changes []authz.KeyChange) {
	go func() {
		ctx := logging.NewContext(context.Background(), s.log)
		for _, ch := range changes {
			msg := fmt.Sprintf("API key %s %s (role %s)", ch.Name, ch.Kind, ch.Role)
			if ch.Kind == authz.KeyChanged {
				msg = fmt.Sprintf("API key %s changed: role %s -> %s", ch.Name, ch.OldRole, ch.Role)
				if ch.Rotated {
					msg += ", key rotated"
				}
			}
			s.writeAudit(ctx, audit.Record{
				Event: audit.EventKeyChanged, Target: ch.Name, Role: string(ch.Role), Outcome: audit.OutcomeSuccess,
				Reason: string(ch.Kind), Gateway: s.cfg.Name, Message: msg,
			}.Clamp())
		}
	}()
}
