package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/sse"
	"kubently.io/libs/store"
	"kubently.io/libs/telemetry"
	"kubently.io/services/gateway/internal/auth"
	"kubently.io/services/gateway/internal/settle"
)

// claimBatch is the most commands a stream takes from its queue at once.
const claimBatch = 16

var executorIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// executorRoutes registers the executor-facing routes, apart from the
// client API: they authenticate with a cluster's executor token
// (executorAuth), not a client identity.
func (s *Server) executorRoutes(e *echo.Echo) {
	executor := func(next echo.HandlerFunc) echo.HandlerFunc { return s.authGuard(s.executorAuth(next)) }
	e.GET(contracts.PathExecutorStream, s.stream, executor, s.streamCap("executor"))
	e.POST(contracts.PathExecutorResults, s.results, executor)
	e.POST(contracts.PathExecutorAck, s.ack, executor)
	e.POST(contracts.PathExecutorDiscovery, s.discovery, executor)
	// Heartbeats authenticate without the registry while the stream is
	// known (see executorHeartbeat): they are frequent.
	e.POST(contracts.PathExecutorHeartbeat, s.executorHeartbeat, s.authGuard)
}

// executorAuth checks `Authorization: Bearer <token>` + X-Cluster-ID against
// the cluster registry. Unknown cluster and wrong token get the same 401.
func (s *Server) executorAuth(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		cluster := c.Request().Header.Get(contracts.HeaderClusterID)
		token, ok := strings.CutPrefix(c.Request().Header.Get("Authorization"), "Bearer ")
		if cluster == "" || !ok || token == "" {
			return writeError(c, contracts.Errorf(contracts.CodeUnauthorized, "executor requests need Authorization: Bearer <token> and %s", contracts.HeaderClusterID))
		}
		// A request naming a stream this replica holds, with the token
		// that stream was opened with, is authenticated without a
		// registry read, as heartbeats are (see executorHeartbeat): every
		// command costs an ack and a result, and a fan-out to a thousand
		// clusters must not cost two thousand store reads. Revoking or
		// rotating the token closes the stream, and with it this path.
		// It is also the executor's contact on that stream.
		if connID := c.Request().Header.Get(contracts.HeaderExecutorConnID); connID != "" {
			if hash := auth.HashToken(token); s.cfg.Contacts.Touch(cluster, connID, hash) {
				c.Set(ctxCluster, cluster)
				c.Set(ctxTokenHash, hash)
				return next(c)
			}
		}
		rec, err := s.verifyExecutor(c.Request().Context(), cluster, token)
		if err != nil {
			return writeError(c, err)
		}
		c.Set(ctxCluster, cluster)
		c.Set(ctxTokenHash, rec.TokenHash)
		return next(c)
	}
}

// verifyExecutor checks an executor's cluster id and token against the
// cluster registry: 401 unauthorized (the same for an unknown cluster and
// a wrong token) or 503 unavailable. A token matching a record read in
// the last registryTTL, with no revocation heard since, is not read again.
func (s *Server) verifyExecutor(ctx context.Context, cluster, token string) (store.ClusterRecord, error) {
	if err := contracts.ValidateID("cluster", cluster); err != nil {
		return store.ClusterRecord{}, contracts.Errorf(contracts.CodeUnauthorized, "invalid executor credentials")
	}
	if rec, ok := s.registry.get(cluster); ok && auth.TokenMatches(token, rec.TokenHash) {
		return rec, nil
	}
	epoch := s.cfg.Hub.Revocations()
	cctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
	rec, err := s.cfg.Store.GetCluster(cctx, cluster)
	cancel()
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.ClusterRecord{}, contracts.Errorf(contracts.CodeUnavailable, "cluster registry unavailable")
	}
	if err == nil {
		s.registry.put(cluster, rec, epoch)
	}
	if err != nil || !auth.TokenMatches(token, rec.TokenHash) {
		logging.FromContext(ctx).Warn("executor authentication failed", logging.KeyCluster, cluster)
		return store.ClusterRecord{}, contracts.Errorf(contracts.CodeUnauthorized, "invalid executor credentials")
	}
	return rec, nil
}

func clusterOf(c echo.Context) string {
	id, _ := c.Get(ctxCluster).(string)
	return id
}

// stream holds one executor's SSE connection: it records presence (once,
// under the replica's lease: see internal/presence), sends
// heartbeats, and sends queued commands on connect and when woken, by the
// dispatcher's notify or by the replica's sweep (startSweep), which stands
// in for a lost notify and for redelivery after a lease ran out. It also
// writes the commands a dispatcher queued leased to it and handed straight
// to this replica (package handoff), in order with what it claims. The
// stream has no poll timer of its own.
// A stream whose executor announced heartbeats is closed when none (nor
// any other post naming its conn_id) arrived for ContactTimeout: checked
// on each heartbeat tick, so it ends within ContactTimeout + Heartbeat of
// the last contact.
func (s *Server) stream(c echo.Context) error {
	cluster := clusterOf(c)
	out, err := sse.NewWriter(c.Response(), s.cfg.ContactTimeout)
	if err != nil {
		return writeError(c, contracts.Errorf(contracts.CodeInternal, "streaming unsupported"))
	}
	executorID := executorIDOf(c)
	version := c.Request().Header.Get(contracts.HeaderExecutorVersion)
	if len(version) > 64 {
		version = version[:64]
	}
	now := time.Now().UTC()
	info := contracts.ExecutorInfo{
		Cluster: cluster, ConnID: contracts.NewID(), ExecutorID: executorID, Version: version,
		Gateway: s.cfg.Name, ConnectedAt: now, LastSeen: now, Instance: instanceOf(c),
	}
	enforce := c.Request().Header.Get(contracts.HeaderExecutorHeartbeats) == "1"
	log := logging.FromContext(c.Request().Context()).With(logging.KeyCluster, cluster, logging.KeyExecutorID, executorID, "conn_id", info.ConnID)
	if last := c.Request().Header.Get(contracts.HeaderLastEventID); last != "" && len(last) <= 128 {
		log.Info("executor reconnected", "last_event_id", last)
	}
	// The stream ends when the request does, on shutdown, or when the
	// cluster's token is revoked or rotated (the hub calls stop).
	ctx, stop := context.WithCancel(c.Request().Context())
	defer stop()
	waker, unregister := s.cfg.Hub.Register(cluster, stop)
	defer unregister()
	tokenHash, _ := c.Get(ctxTokenHash).(string)
	contact, forget := s.cfg.Contacts.Add(cluster, info.ConnID, tokenHash)
	defer forget()
	// The inbox exists before the presence record that tells dispatchers
	// about the stream, and outlives the loop that reads it: a batch
	// offered once the loop ended is answered no_stream.
	inbox, dropInbox := s.cfg.HandOffs.Add(cluster, info.ConnID)
	defer dropInbox()
	if err := s.recheckExecutor(ctx, c); err != nil {
		return writeError(c, err)
	}
	// Presence: joined once under the replica's lease, which the keeper
	// renews for all streams (no store call per stream per heartbeat),
	// and left at once when the stream ends.
	leave, err := s.presence.Join(ctx, info)
	if err != nil {
		return writeError(c, contracts.Errorf(contracts.CodeUnavailable, "cannot record executor presence: %v", err))
	}
	defer func() {
		if err := leave(context.Background()); err != nil {
			log.Warn("presence leave failed", logging.KeyErr, err)
		}
	}()
	s.metrics.streams.Inc()
	defer s.metrics.streams.Dec()
	s.metrics.sse.WithLabelValues("executor").Inc()
	defer s.metrics.sse.WithLabelValues("executor").Dec()
	s.metrics.executors.WithLabelValues(cluster).Inc()
	defer s.metrics.executors.WithLabelValues(cluster).Dec()
	s.holdCluster(cluster)
	defer s.releaseCluster(cluster)

	out.Start()
	hello := contracts.ConnectedEvent{
		Type: contracts.TypeConnectedEvent, Cluster: cluster, ConnID: info.ConnID, Gateway: s.cfg.Name,
		ProtocolVersion: contracts.ProtocolVersion, IntervalMS: s.cfg.Heartbeat.Milliseconds(),
	}
	if enforce {
		hello.ContactIntervalMS, hello.ContactTimeoutMS = s.cfg.Heartbeat.Milliseconds(), s.cfg.ContactTimeout.Milliseconds()
	}
	if err := out.JSON("", contracts.EventConnected, hello); err != nil {
		return nil
	}
	log.Info("executor stream open", "heartbeats", enforce)
	defer log.Info("executor stream closed")

	beat := time.NewTicker(s.cfg.Heartbeat)
	defer beat.Stop()
	// Drain anything queued before this stream connected.
	if err := s.deliver(ctx, out, cluster, info.ConnID, log); err != nil {
		return nil
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.closing:
			return nil
		case <-beat.C:
			if silent := time.Since(contact.LastContact()); enforce && silent > s.cfg.ContactTimeout {
				// Half-open: the executor is gone or the path black-holes
				// the connection. Presence is removed on the way out;
				// commands sent and not acked are redelivered after the
				// visibility timeout. The expired write deadline makes
				// the server drop the connection rather than finish the
				// response into a dead socket.
				s.metrics.contactTimeouts.Inc()
				log.Warn("executor stream closed: no contact from the executor", "silent_for", silent.Round(time.Millisecond), "contact_timeout", s.cfg.ContactTimeout)
				out.Abort()
				return nil
			}
			// No store call: the replica's presence lease keeps the
			// stream's record (see internal/presence).
			if err := out.JSON("", contracts.EventHeartbeat, contracts.HeartbeatEvent{Type: contracts.TypeHeartbeatEvent, Time: time.Now().UTC(), IntervalMS: s.cfg.Heartbeat.Milliseconds()}); err != nil {
				return nil
			}
		case <-waker.C():
			if err := s.deliver(ctx, out, cluster, info.ConnID, log); err != nil {
				return nil
			}
		case d := <-inbox.C():
			// Commands a dispatcher queued leased to this stream: written
			// in order with what the stream claims itself. One whose
			// deadline passed while it waited is not handed out, as Claim
			// would not (its lease runs out and the next Claim drops it).
			now := time.Now()
			cmds := slices.DeleteFunc(d.Commands, func(cmd contracts.Command) bool { return cmd.Expired(now) })
			err := s.send(ctx, out, cmds, log)
			d.Done()
			if err != nil {
				return nil
			}
		}
	}
}

// deliver leases this cluster's queued commands (Claim) and writes them to
// the stream until nothing is claimable. The executor acknowledges each
// (POST /v1/executor/ack); one it does not acknowledge within the store's
// visibility timeout is claimed again, by whichever stream claims next. A
// store error is logged; while the command stays claimable, the sweep
// wakes a stream of the cluster again within a poll interval. Only a
// write error (the stream is gone) is returned.
func (s *Server) deliver(ctx context.Context, out *sse.Writer, cluster, connID string, log *slog.Logger) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, s.cfg.StoreTimeout)
		cmds, err := s.cfg.Store.Claim(cctx, cluster, connID, claimBatch)
		cancel()
		if err != nil {
			log.Warn("bridge claim failed", logging.KeyErr, err)
			return nil
		}
		if err := s.send(ctx, out, cmds, log); err != nil {
			return err
		}
		if len(cmds) < claimBatch {
			return nil
		}
	}
}

// send writes commands leased to the stream (claimed, or handed off by a
// dispatcher) to it in order. Only a write error (the stream is gone) is
// returned: the commands from the failed one on are leased and not
// acknowledged, and handed out again when their lease runs out.
func (s *Server) send(ctx context.Context, out *sse.Writer, cmds []contracts.Command, log *slog.Logger) error {
	for _, cmd := range cmds {
		// The delivery span hangs off the dispatcher's span (carried in
		// the command) and becomes the parent of the executor's run.
		cctx, span := otel.Tracer(telemetry.ScopeName).Start(telemetry.ContextFromCommand(ctx, cmd), telemetry.SpanGatewayDeliver,
			trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(telemetry.CommandAttributes(cmd)...))
		telemetry.InjectCommand(cctx, &cmd)
		err := out.JSON(cmd.ID, contracts.EventCommand, cmd)
		if err != nil {
			span.SetStatus(codes.Error, "stream write failed")
		}
		span.End()
		if err != nil {
			// Leased and not acknowledged: handed out again when its
			// lease runs out, if its deadline has not passed.
			log.Warn("stream write failed; command redelivered after the visibility timeout", logging.KeyCommandID, cmd.ID, logging.KeyErr, err)
			return err
		}
		log.Info("command sent", logging.KeyCommandID, cmd.ID, logging.KeyCorrelationID, cmd.CorrelationID)
	}
	return nil
}

// observeDepths sets the queue depth gauge of every cluster a sweep asked
// about (held) from what the store reported (queues: the ones not empty,
// in the order of held); the others are empty. Clusters whose last stream
// ended meanwhile are skipped. This is the gauge's only source: a
// delivery round does not read the depth (one store round trip per
// command fewer), so the gauge lags the queue by at most one sweep
// interval. The clusters are registered ones (executorAuth checked
// them), so the series stay bounded.
func (s *Server) observeDepths(held []string, queues []store.QueueState) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	j := 0
	for _, c := range held {
		n := 0
		if j < len(queues) && queues[j].Cluster == c {
			n = queues[j].Depth
			j++
		}
		if s.streamsOf[c] > 0 {
			s.metrics.queueDepth.WithLabelValues(c).Set(float64(n))
		}
	}
}

// holdCluster counts a stream of cluster opening on this replica.
func (s *Server) holdCluster(cluster string) {
	s.streamsMu.Lock()
	s.streamsOf[cluster]++
	s.streamsMu.Unlock()
}

// releaseCluster counts a stream of cluster ending; the last one drops the
// cluster's queue depth series, which nobody here updates any more.
func (s *Server) releaseCluster(cluster string) {
	s.streamsMu.Lock()
	defer s.streamsMu.Unlock()
	if s.streamsOf[cluster]--; s.streamsOf[cluster] <= 0 {
		delete(s.streamsOf, cluster)
		s.metrics.queueDepth.DeleteLabelValues(cluster)
	}
}

// executorIDOf returns the request's X-Executor-ID, or "unnamed" if it is
// missing or malformed.
func executorIDOf(c echo.Context) string {
	if id := c.Request().Header.Get(contracts.HeaderExecutorID); executorIDRE.MatchString(id) {
		return id
	}
	return "unnamed"
}

// Reasons refining result_not_awaited.
const (
	reasonLate            = "late"
	reasonAnsweredByOther = "answered_by_other"
)

// results accepts an executor's result for a command issued to its own
// cluster and hands it to the waiting dispatcher. It is idempotent: the
// store records which executor answered each command first
// (MarkAnswered), so a repeated post is told apart from a late one.
//
//   - unknown command (or past its deadline plus the owner grace): 404
//     unknown_command;
//   - command of another cluster: 403 result_cluster_denied;
//   - the dispatcher is waiting: 200 accepted;
//   - nobody waits, first answer: 409 result_not_awaited (reason late);
//   - nobody waits, the same executor answered before: 200 duplicate;
//   - nobody waits, another executor answered before: 409
//     result_not_awaited (reason answered_by_other).
//
// A repeated answer is still offered to the dispatcher: if an earlier
// post never reached it (NATS timed out, the gateway died after marking),
// the retry delivers the result instead of being swallowed.
func (s *Server) results(c echo.Context) error {
	cluster := clusterOf(c)
	var r contracts.ExecutorResult
	if err := decodeBody(c, &r, false); err != nil {
		s.metrics.results.WithLabelValues("bad_request").Inc()
		return writeError(c, err)
	}
	// Who answers: X-Executor-ID, else the body's executor_id.
	executorID := executorIDOf(c)
	if executorID == "unnamed" && executorIDRE.MatchString(r.ExecutorID) {
		executorID = r.ExecutorID
	}
	if err := contracts.ValidateCommandID(r.CommandID); err != nil {
		s.metrics.results.WithLabelValues("bad_request").Inc()
		return writeError(c, err)
	}
	switch r.Status {
	case contracts.StatusSuccess, contracts.StatusFailure, contracts.StatusDenied, contracts.StatusTimeout, contracts.StatusError:
	default:
		s.metrics.results.WithLabelValues("bad_request").Inc()
		return writeError(c, contracts.Errorf(contracts.CodeBadRequest, "unknown status %q", r.Status))
	}
	// A result read in full is processed in full: an executor killed
	// while waiting for the answer must not leave its command acked but
	// neither forwarded nor held (its caller would wait for the deadline).
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.cfg.StoreTimeout)
	defer cancel()
	log := logging.FromContext(ctx).With(logging.KeyCluster, cluster, logging.KeyCommandID, r.CommandID, logging.KeyExecutorID, executorID)
	unknown := func() error {
		s.metrics.results.WithLabelValues("unknown").Inc()
		return writeError(c, contracts.Errorf(contracts.CodeUnknownCommand, "command %s is unknown or expired", r.CommandID))
	}
	// The ack and the hand-over to the dispatcher go out at once, one
	// round trip of latency, not two, and the owner record (the cluster
	// binding) is read only if the dispatcher did not take the result:
	// the result subject names the poster's cluster, so only a
	// dispatcher waiting for a command issued to that cluster can take
	// it, and Ack removes only the poster's cluster's commands. Neither
	// reveals nor records anything about another cluster's command.
	// A result acknowledges its command too: the executor sends no
	// separate ack for a command it answers within its ack delay (and may
	// have died before a separate ack went out); it must not run again.
	// A 200 says whether the ack was recorded (acked), so that an
	// executor whose result got through while the store did not acks
	// the command again itself.
	var (
		ackErr error
		wg     sync.WaitGroup
	)
	wg.Go(func() { _, ackErr = s.ackIDs(ctx, cluster, []string{r.CommandID}) })
	awaited, err := s.forwardResult(ctx, cluster, r)
	wg.Wait()
	if !awaited {
		// Taken by nobody (or the hand-over failed): is it a command of
		// this cluster at all?
		owner, ownerErr := s.cfg.Store.Owner(ctx, r.CommandID)
		switch {
		case errors.Is(ownerErr, store.ErrNotFound):
			return unknown()
		case ownerErr != nil:
			return writeError(c, contracts.Errorf(contracts.CodeUnavailable, "bridge unavailable: %v", ownerErr))
		case owner != cluster:
			s.metrics.results.WithLabelValues("cluster_mismatch").Inc()
			log.Warn("result from wrong cluster rejected")
			return writeError(c, contracts.Errorf(contracts.CodeResultClusterDenied, "command %s was not issued to this cluster", r.CommandID))
		}
	}
	if err != nil {
		// The result is acked but did not reach its dispatcher: record the
		// poster as the holder (first ack wins), so that if it dies before
		// its retry gets through, the caller hears executor_lost at once.
		s.hold(ctx, c, cluster, []string{r.CommandID})
		return writeError(c, err)
	}
	if awaited {
		// Record who answered, so a repeat is told apart from a late or a
		// foreign result. The dispatcher has the result either way.
		if first, prev, err := s.cfg.Store.MarkAnswered(ctx, r.CommandID, executorID); err == nil && !first && prev != executorID && prev != answerPending {
			log.Info("repeated result delivered: the earlier post had not reached the dispatcher", "first_executor_id", prev)
		}
		s.metrics.results.WithLabelValues("accepted").Inc()
		return c.JSON(http.StatusOK, contracts.ExecutorResultResponse{Status: "accepted", CommandID: r.CommandID, Acked: ackErr == nil})
	}
	// Nobody took it. The answer record says whether anyone delivered a
	// result before; answerPending marks "tried, never delivered".
	first, prev, err := s.cfg.Store.MarkAnswered(ctx, r.CommandID, answerPending)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return unknown() // expired between the two reads
	case err != nil:
		return writeError(c, contracts.Errorf(contracts.CodeUnavailable, "bridge unavailable: %v", err))
	}
	undelivered := first || prev == answerPending
	switch {
	case undelivered && !r.Deadline.IsZero() && time.Now().Before(r.Deadline):
		// The command is still within its deadline, so its dispatcher is
		// waiting but momentarily out of reach (a NATS restart). The
		// executor retries; a post that finds it again is accepted.
		s.metrics.results.WithLabelValues("dispatcher_unreachable").Inc()
		s.hold(ctx, c, cluster, []string{r.CommandID})
		log.Warn("result not handed over: the waiting dispatcher is unreachable; the executor will retry")
		return writeError(c, contracts.Errorf(contracts.CodeUnavailable,
			"the dispatcher waiting for command %s is unreachable; retry", r.CommandID))
	case undelivered:
		s.metrics.results.WithLabelValues("late").Inc()
		log.Info("late result rejected: nobody is waiting for it")
		return writeError(c, &contracts.Error{Code: contracts.CodeResultNotAwaited, Reason: reasonLate,
			Message: fmt.Sprintf("nobody is waiting for command %s any more (its deadline passed)", r.CommandID)})
	case prev == executorID:
		s.metrics.results.WithLabelValues("duplicate").Inc()
		log.Debug("duplicate result")
		return c.JSON(http.StatusOK, contracts.ExecutorResultResponse{Status: "duplicate", CommandID: r.CommandID, Acked: ackErr == nil})
	default:
		s.metrics.results.WithLabelValues("duplicate_other").Inc()
		log.Warn("result rejected: the command was answered by another executor", "first_executor_id", prev)
		return writeError(c, &contracts.Error{Code: contracts.CodeResultNotAwaited, Reason: reasonAnsweredByOther,
			Message: fmt.Sprintf("command %s was already answered by executor %s", r.CommandID, prev)})
	}
}

// answerPending is the answer record of a command whose result reached
// the gateway but not the dispatcher (executor ids never take this form:
// it is not a host-name-based id); the settler reads it.
const answerPending = settle.AnswerPending

// forwardResult hands r to the dispatcher waiting for it; awaited is
// false when nobody subscribes to its result subject (no responders).
func (s *Server) forwardResult(ctx context.Context, cluster string, r contracts.ExecutorResult) (awaited bool, err error) {
	subj, err := contracts.ResultSubject(cluster, r.CommandID)
	if err != nil {
		return false, err
	}
	body, err := json.Marshal(r)
	if err != nil {
		return false, err
	}
	msg := nats.NewMsg(subj)
	msg.Data = body
	natsutil.InjectTrace(ctx, msg)
	if _, err := s.cfg.Conn.RequestMsgWithContext(ctx, msg); err != nil {
		if errors.Is(err, nats.ErrNoResponders) {
			return false, nil
		}
		err = natsutil.MapError(err, subj)
		s.countNATSError(subj, err)
		return false, err
	}
	return true, nil
}

// ack acknowledges commands an executor of the cluster received, so they
// are not handed to another executor again. Ids of other clusters, unknown,
// expired or already acknowledged are ignored (counted as noop).
func (s *Server) ack(c echo.Context) error {
	cluster := clusterOf(c)
	var a contracts.ExecutorAck
	if err := decodeBody(c, &a, false); err != nil {
		return writeError(c, err)
	}
	if len(a.CommandIDs) == 0 || len(a.CommandIDs) > contracts.MaxAckIDs {
		return writeError(c, contracts.Errorf(contracts.CodeBadRequest, "command_ids: want 1-%d ids, got %d", contracts.MaxAckIDs, len(a.CommandIDs)))
	}
	for _, id := range a.CommandIDs {
		if err := contracts.ValidateCommandID(id); err != nil {
			return writeError(c, err)
		}
	}
	// Ack and hold are finished even if the executor goes away meanwhile
	// (killed right after posting): an ack recorded without its holder
	// would leave the caller waiting for its deadline instead of hearing
	// executor_lost.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request().Context()), s.cfg.StoreTimeout)
	defer cancel()
	n, err := s.ackIDs(ctx, cluster, a.CommandIDs)
	if err != nil {
		return writeError(c, contracts.Errorf(contracts.CodeUnavailable, "bridge unavailable: %v", err))
	}
	s.hold(ctx, c, cluster, a.CommandIDs)
	return c.JSON(http.StatusOK, contracts.ExecutorAckResponse{Status: "acked", Acked: n})
}

// instanceOf returns the request's X-Executor-Instance, or "" if it is
// missing or malformed (an older executor: never declared lost).
func instanceOf(c echo.Context) string {
	if id := c.Request().Header.Get(contracts.HeaderExecutorInstance); executorIDRE.MatchString(id) {
		return id
	}
	return ""
}

// hold records the acknowledging executor instance as the holder of each
// command (store.Bridge.Hold), so the dispatcher can answer the caller
// executor_lost if that instance dies holding it. Best effort: a command
// without a holder only waits for its deadline, as before.
func (s *Server) hold(ctx context.Context, c echo.Context, cluster string, ids []string) {
	instance := instanceOf(c)
	if instance == "" {
		return
	}
	h := contracts.CommandHolder{ExecutorID: executorIDOf(c), Instance: instance}
	if conn := c.Request().Header.Get(contracts.HeaderExecutorConnID); contracts.ValidateConnID(conn) == nil {
		h.ConnID = conn
	}
	for _, id := range ids {
		if err := s.cfg.Store.Hold(ctx, cluster, id, h); err != nil && !errors.Is(err, store.ErrNotFound) {
			logging.FromContext(ctx).Warn("cannot record the holder of a command", logging.KeyCluster, cluster,
				logging.KeyCommandID, id, logging.KeyErr, err)
		}
	}
}

// ackIDs acknowledges ids in the cluster's queue and counts the outcome.
func (s *Server) ackIDs(ctx context.Context, cluster string, ids []string) (int, error) {
	n, err := s.cfg.Store.Ack(ctx, cluster, ids)
	s.metrics.acks.WithLabelValues("acked").Add(float64(n))
	if err != nil {
		s.metrics.acks.WithLabelValues("error").Add(float64(len(ids) - n))
		logging.FromContext(ctx).Warn("bridge ack failed", logging.KeyCluster, cluster, logging.KeyErr, err)
		return n, err
	}
	s.metrics.acks.WithLabelValues("noop").Add(float64(len(ids) - n))
	return n, nil
}
