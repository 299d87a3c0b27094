package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/services/gateway/internal/backoff"
)

// Limits bounds what one client can hold of the gateway: connection
// timeouts, header size, failed authentications per address and streams
// per identity. Zero values mean the defaults named on each field.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers; zero means
	// 10s.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included, from its
	// first byte; a body still arriving then is cut with 408
	// request_timeout. Streams (GET without a body) are not affected:
	// the server stops the read deadline once the request is read. Zero
	// means 30s.
	ReadTimeout time.Duration
	// WriteTimeout bounds writing a response from its first byte (not the
	// time the handler takes to answer); SSE streams bound each event
	// instead. Zero means 30s.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection idle this long; zero
	// means 120s.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds the request line and headers; beyond, 431
	// headers_too_large. Zero means 32 KiB.
	MaxHeaderBytes int
	// AuditStreamsPerIdentity caps the concurrent /v1/audit/stream
	// connections of one identity on this replica (429 beyond); zero
	// means 4, negative means no cap.
	AuditStreamsPerIdentity int
	// ExecutorStreamsPerCluster caps the concurrent executor streams of
	// one cluster on this replica (429 beyond); zero means 16, negative
	// means no cap.
	ExecutorStreamsPerCluster int
	// AuthBackoff configures the per-address back-off on failed
	// authentication (API keys, OIDC tokens and executor tokens alike);
	// see package backoff for its zero values. Failures < 0 turns it off.
	AuthBackoff backoff.Config
	// TrustForwardedFor takes the client address from X-Forwarded-For
	// (the right-most address not in a private, loopback or link-local
	// range) instead of the connection: only behind a proxy that sets the
	// header, else any caller can pick its own address (and escape the
	// back-off).
	TrustForwardedFor bool
}

// Defaults of Limits.
const (
	DefaultReadHeaderTimeout         = 10 * time.Second
	DefaultReadTimeout               = 30 * time.Second
	DefaultWriteTimeout              = 30 * time.Second
	DefaultIdleTimeout               = 120 * time.Second
	DefaultMaxHeaderBytes            = 32 << 10
	DefaultAuditStreamsPerIdentity   = 4
	DefaultExecutorStreamsPerCluster = 16
)

func (l *Limits) defaults() {
	if l.ReadHeaderTimeout <= 0 {
		l.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if l.ReadTimeout <= 0 {
		l.ReadTimeout = DefaultReadTimeout
	}
	l.ReadHeaderTimeout = min(l.ReadHeaderTimeout, l.ReadTimeout)
	if l.WriteTimeout <= 0 {
		l.WriteTimeout = DefaultWriteTimeout
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if l.AuditStreamsPerIdentity == 0 {
		l.AuditStreamsPerIdentity = DefaultAuditStreamsPerIdentity
	}
	if l.ExecutorStreamsPerCluster == 0 {
		l.ExecutorStreamsPerCluster = DefaultExecutorStreamsPerCluster
	}
}

// streamRoutes are the long-lived SSE routes: no response write deadline
// (each event has its own).
var streamRoutes = map[string]bool{contracts.PathExecutorStream: true, contracts.PathAuditStream: true}

// edge applies the per-request limits: the header size limit (431 JSON)
// and, except on stream routes, the response write deadline.
func (s *Server) edge(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if n := headerBytes(r); n > s.cfg.Limits.MaxHeaderBytes {
			s.metrics.refusals.WithLabelValues("headers_too_large").Inc()
			c.Response().Header().Set("Connection", "close")
			return writeError(c, contracts.Errorf(contracts.CodeHeadersTooLarge,
				"request headers are %d bytes; at most %d allowed", n, s.cfg.Limits.MaxHeaderBytes))
		}
		if !streamRoutes[c.Path()] {
			rc := http.NewResponseController(c.Response().Writer)
			d := s.cfg.Limits.WriteTimeout
			c.Response().Before(func() {
				// Unsupported (a test recorder) only means no bound.
				_ = rc.SetWriteDeadline(time.Now().Add(d))
			})
		}
		return next(c)
	}
}

// headerBytes is the size of r's request line and headers as sent.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + len(r.RequestURI) + len(r.Proto) + 4 + len(r.Host) + len("Host: \r\n")
	for k, vs := range r.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// isTimeout reports whether err is a read deadline hit (the request body
// did not arrive within ReadTimeout).
func isTimeout(err error) bool {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// authGuard refuses requests from an address in back-off (429 with
// Retry-After, before any credential is looked at) and records a failure
// for every 401 the route answers.
func (s *Server) authGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !s.backoff.Enabled() {
			return next(c)
		}
		key := backoff.Key(c.RealIP())
		if wait, refused := s.backoff.Refused(key); refused {
			s.metrics.refusals.WithLabelValues("auth_backoff").Inc()
			return s.tooMany(c, wait, contracts.ReasonAuthBackoff,
				fmt.Sprintf("too many failed authentications from this address; retry in %ds", retrySeconds(wait)))
		}
		err := next(c)
		status := c.Response().Status
		if err != nil {
			status = contracts.AsError(err).Code.Status()
		}
		if status == http.StatusUnauthorized {
			if wait := s.backoff.Fail(key); wait > 0 {
				logging.FromContext(c.Request().Context()).Warn("address in authentication back-off",
					"remote", c.RealIP(), "retry_after_s", retrySeconds(wait))
			}
		}
		return err
	}
}

// retrySeconds is a Retry-After value: whole seconds, at least 1.
func retrySeconds(d time.Duration) int {
	return max(1, int((d+time.Second-1)/time.Second))
}

// tooMany answers 429 rate_limited with Retry-After, reason and msg.
func (s *Server) tooMany(c echo.Context, wait time.Duration, reason, msg string) error {
	c.Response().Header().Set("Retry-After", strconv.Itoa(retrySeconds(wait)))
	return writeError(c, &contracts.Error{Code: contracts.CodeRateLimited, Reason: reason, Message: msg})
}

// streamRetry is the Retry-After of a refused stream.
const streamRetry = 5 * time.Second

// slots counts the open streams per key (identity or cluster) of one kind.
type slots struct {
	mu   sync.Mutex
	open map[string]int
}

// take takes a slot of key if fewer than limit are taken (limit < 0: no
// cap) and returns its release.
func (sl *slots) take(key string, limit int) (release func(), ok bool) {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	if limit >= 0 && sl.open[key] >= limit {
		return nil, false
	}
	sl.open[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			sl.mu.Lock()
			defer sl.mu.Unlock()
			if sl.open[key]--; sl.open[key] <= 0 {
				delete(sl.open, key)
			}
		})
	}, true
}

// streamCap caps the concurrent streams per key (the identity for the
// audit stream, the cluster for executor streams): one more is refused
// with 429 rate_limited, reason stream_limit. It runs after
// authentication.
func (s *Server) streamCap(kind string) echo.MiddlewareFunc {
	sl := &slots{open: map[string]int{}}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			key, limit, what := clusterOf(c), s.cfg.Limits.ExecutorStreamsPerCluster, "cluster"
			if kind == "audit" {
				key, limit, what = identity(c).Principal(), s.cfg.Limits.AuditStreamsPerIdentity, "identity"
			}
			release, ok := sl.take(key, limit)
			if !ok {
				s.metrics.refusals.WithLabelValues(kind + "_stream_limit").Inc()
				logging.FromContext(c.Request().Context()).Info("stream refused: limit reached", "stream", kind, "limit", limit)
				return s.tooMany(c, streamRetry, contracts.ReasonStreamLimit,
					fmt.Sprintf("this %s already holds %d %s streams on this gateway replica; close one first", what, limit, kind))
			}
			defer release()
			return next(c)
		}
	}
}

// httpMethods are the method labels; any other method is "OTHER".
var httpMethods = map[string]bool{
	http.MethodGet: true, http.MethodHead: true, http.MethodPost: true, http.MethodPut: true, http.MethodPatch: true,
	http.MethodDelete: true, http.MethodOptions: true, http.MethodConnect: true, http.MethodTrace: true,
}

// methodLabel is the metric label of a request method: a standard method
// or OTHER, so made-up methods cannot add series.
func methodLabel(m string) string {
	if httpMethods[m] {
		return m
	}
	return "OTHER"
}

// statusLabel is the metric label of a status code: the code when it is a
// valid HTTP status (100-599), else "other".
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}

// plainErrorRE matches what net/http writes itself, in plain text, for a
// request it refuses before any handler runs (headers too large, a
// malformed request line or header, an unsupported transfer encoding):
// one write of a status line, fixed headers and a short text.
var plainErrorRE = regexp.MustCompile(`^HTTP/1\.1 (\d{3}) ([^\r\n]*)\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n(.*)$`)

// jsonErrors wraps a listener so that net/http's own plain-text refusals
// go out as the JSON error shape like every other answer: 431 as
// headers_too_large, other 4xx as bad_request, with net/http's text as the
// message. Handler responses never match (their headers are sorted, and
// Connection precedes Content-Type), so they pass untouched.
type jsonErrors struct{ net.Listener }

func (l jsonErrors) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &jsonErrorConn{Conn: c}, nil
}

// jsonErrorConn checks every write (a keep-alive connection's later
// request can be refused too); the check is a prefix test.
type jsonErrorConn struct {
	net.Conn
}

func (c *jsonErrorConn) Write(p []byte) (int, error) {
	if !bytes.HasPrefix(p, []byte("HTTP/1.1 ")) || !bytes.Contains(p, []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")) {
		return c.Conn.Write(p)
	}
	m := plainErrorRE.FindSubmatch(p)
	if m == nil {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(m[1]))
	code := contracts.CodeBadRequest
	switch {
	case status == http.StatusRequestHeaderFieldsTooLarge:
		code = contracts.CodeHeadersTooLarge
	case status >= 500:
		code = contracts.CodeInternal
	}
	body, _ := json.Marshal(contracts.Error{Code: code, Message: string(m[3])})
	var out bytes.Buffer
	out.WriteString("HTTP/1.1 " + string(m[1]) + " " + string(m[2]) + "\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)+1) + "\r\n\r\n")
	out.Write(body)
	out.WriteByte('\n')
	if _, err := c.Conn.Write(out.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}

// notFoundHandler identifies echo's 404 handler, which the router picks
// for a path no route serves (c.Path() may then still name the nearest
// route's node).
var notFoundHandler = reflect.ValueOf(echo.NotFoundHandler).Pointer()

// echoNotFound reports whether c was routed to echo's 404 handler.
func echoNotFound(c echo.Context) bool {
	h := c.Handler()
	return h != nil && reflect.ValueOf(h).Pointer() == notFoundHandler
}
