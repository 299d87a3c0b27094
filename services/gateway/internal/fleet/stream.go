package fleet

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"kubently.io/libs/contracts"
)

// Media types of a fleet stream.
const (
	// ContentTypeNDJSON: one JSON object a line (the default).
	ContentTypeNDJSON = "application/x-ndjson"
	// ContentTypeSSE: server-sent events "result" and "summary".
	ContentTypeSSE = "text/event-stream"
)

// Stream writes a fleet stream to an HTTP response: NDJSON lines, or SSE
// events when the request accepts text/event-stream. Each write is
// flushed so the client sees every result when it arrives.
type Stream struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	rc      *http.ResponseController
	sse     bool
	timeout time.Duration
	started bool
}

// NewStream prepares a stream on w for the request r; writeTimeout bounds
// each write (zero: none).
func NewStream(w http.ResponseWriter, r *http.Request, writeTimeout time.Duration) *Stream {
	return &Stream{w: w, rc: http.NewResponseController(w), sse: strings.Contains(r.Header.Get("Accept"), ContentTypeSSE), timeout: writeTimeout}
}

// Start sends the status line and headers (200) and names the fan-out in
// the contracts.HeaderFanoutID header.
func (s *Stream) Start(fanoutID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.w.Header()
	if s.sse {
		h.Set("Content-Type", ContentTypeSSE)
	} else {
		h.Set("Content-Type", ContentTypeNDJSON)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	h.Set(contracts.HeaderFanoutID, fanoutID)
	s.w.WriteHeader(http.StatusOK)
	s.started = true
	return s.rc.Flush()
}

// Result writes one cluster's result.
func (s *Stream) Result(r contracts.FleetResult) error { return s.write("result", r) }

// Summary writes the summary, the stream's last item.
func (s *Stream) Summary(sum contracts.FleetSummary) error { return s.write("summary", sum) }

func (s *Stream) write(event string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.timeout > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.timeout))
	}
	var frame []byte
	if s.sse {
		frame = make([]byte, 0, len(b)+len(event)+16)
		frame = append(frame, "event: "...)
		frame = append(frame, event...)
		frame = append(frame, "\ndata: "...)
		frame = append(frame, b...)
		frame = append(frame, "\n\n"...)
	} else {
		frame = append(b, '\n')
	}
	if _, err := s.w.Write(frame); err != nil {
		return err
	}
	return s.rc.Flush()
}
