// Package auditfake is an in-process fake of the gateway's audit routes,
// GET /v1/audit and GET /v1/audit/stream, for the CLI's tests. It filters
// with audit.Filter.Match, pages with opaque cursors and lets a test script
// each stream connection and inject error answers.
//
// # Concurrency
//
// A Server is safe for concurrent use; Requests may be read while it runs.
package auditfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/sse"
)

// Key is the API key the fake accepts.
const Key = "test-key"

// Failure is an error answer to inject.
type Failure struct {
	// Status is the HTTP status.
	Status int
	// Code is the wire error code; empty sends Body as is.
	Code contracts.ErrorCode
	// Body is a raw body, used when Code is empty.
	Body string
	// RetryAfter is the Retry-After header; empty: none.
	RetryAfter string
}

// Config configures New.
type Config struct {
	// Records are the stored records, in storage order.
	Records []audit.Record
	// PageSize is the page size when the request names no limit; zero: 2.
	PageSize int
	// Fail, if set, is asked first for every request; a non-nil Failure
	// is answered instead of the route.
	Fail func(r *http.Request) *Failure
	// Stream, if set, runs connection conn (0-based) of /v1/audit/stream
	// after the 200 header. Returning ends the response. Nil: the stream
	// sends the matching Records and then pings until the client leaves.
	Stream func(conn int, w *Writer, r *http.Request)
}

// Server is a running fake.
type Server struct {
	// URL is the base URL.
	URL string
	cfg Config
	mu  sync.Mutex
	req []*http.Request
	n   int
}

// New starts a fake and registers its shutdown with t.Cleanup.
func New(t testing.TB, cfg Config) *Server {
	t.Helper()
	if cfg.PageSize == 0 {
		cfg.PageSize = 2
	}
	s := &Server{cfg: cfg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/audit", s.wrap(s.query))
	mux.HandleFunc("GET /v1/audit/stream", s.wrap(s.stream))
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	s.URL = ts.URL
	return s
}

// Requests returns the requests received so far (clones without bodies).
func (s *Server) Requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.req...)
}

func (s *Server) wrap(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.req = append(s.req, r.Clone(r.Context()))
		s.mu.Unlock()
		if r.Header.Get(contracts.HeaderAPIKey) != Key {
			writeError(w, &Failure{Status: http.StatusUnauthorized, Code: contracts.CodeUnauthorized})
			return
		}
		if s.cfg.Fail != nil {
			if f := s.cfg.Fail(r); f != nil {
				writeError(w, f)
				return
			}
		}
		h(w, r)
	}
}

func writeError(w http.ResponseWriter, f *Failure) {
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	if f.Code == "" {
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(f.Status)
	_ = json.NewEncoder(w).Encode(contracts.Error{Code: f.Code, Message: "fake " + string(f.Code)})
}

// Filter parses the filter query parameters as the gateway does.
func Filter(v url.Values) (audit.Filter, error) {
	f := audit.Filter{
		Cluster: v.Get("cluster"), Identity: v.Get("identity"), Outcome: audit.Outcome(v.Get("outcome")),
		Event: audit.Event(v.Get("event")), CommandID: v.Get("command_id"),
	}
	for _, p := range []struct {
		k string
		t *time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		if s := v.Get(p.k); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return f, err
			}
			*p.t = t
		}
	}
	return f, f.Validate()
}

func (s *Server) query(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f, err := Filter(q)
	if err != nil {
		writeError(w, &Failure{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest})
		return
	}
	limit := s.cfg.PageSize
	if l := q.Get("limit"); l != "" {
		if limit, err = strconv.Atoi(l); err != nil || limit < 1 || limit > audit.MaxLimit {
			writeError(w, &Failure{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest})
			return
		}
	}
	start := 0
	if c := q.Get("cursor"); c != "" {
		n, err := strconv.Atoi(strings.TrimPrefix(c, "c"))
		if err != nil || !strings.HasPrefix(c, "c") || n < 0 || n > len(s.cfg.Records) {
			writeError(w, &Failure{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest})
			return
		}
		start = n
	}
	page := audit.Result{Records: []audit.Record{}}
	i := start
	for ; i < len(s.cfg.Records) && len(page.Records) < limit; i++ {
		if rec := s.cfg.Records[i]; f.Match(&rec) {
			page.Records = append(page.Records, rec)
		}
	}
	if i < len(s.cfg.Records) {
		page.NextCursor = fmt.Sprintf("c%d", i)
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(page)
}

func (s *Server) stream(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Has("cursor") || r.URL.Query().Has("limit") {
		writeError(w, &Failure{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest})
		return
	}
	f, err := Filter(r.URL.Query())
	if err != nil {
		writeError(w, &Failure{Status: http.StatusBadRequest, Code: contracts.CodeBadRequest})
		return
	}
	s.mu.Lock()
	conn := s.n
	s.n++
	s.mu.Unlock()
	out, err := sse.NewWriter(w, 0)
	if err != nil {
		writeError(w, &Failure{Status: http.StatusInternalServerError, Code: contracts.CodeInternal})
		return
	}
	out.Start()
	sw := &Writer{w: w, f: w.(http.Flusher), out: out, Filter: f}
	if s.cfg.Stream != nil {
		s.cfg.Stream(conn, sw, r)
		return
	}
	for _, rec := range s.cfg.Records {
		sw.Record("", rec)
	}
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-t.C:
			_ = out.Comment("ping")
		}
	}
}

// Writer writes SSE frames to one stream connection.
type Writer struct {
	w   http.ResponseWriter
	f   http.Flusher
	out *sse.Writer
	// Filter is the connection's parsed filter.
	Filter audit.Filter
}

// Record writes `event: record` with rec as data (and id, if not empty)
// when rec matches the connection's filter.
func (w *Writer) Record(id string, rec audit.Record) {
	if !w.Filter.Match(&rec) {
		return
	}
	_ = w.out.JSON(id, contracts.EventRecord, rec)
}

// Raw writes s as is and flushes.
func (w *Writer) Raw(s string) {
	_, _ = w.w.Write([]byte(s))
	w.f.Flush()
}
