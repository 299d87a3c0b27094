package sse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"
)

// ContentType is the media type of an event stream.
const ContentType = "text/event-stream"

// Writer errors.
var (
	// ErrNoFlush reports a response writer that cannot flush, so cannot
	// stream.
	ErrNoFlush = errors.New("sse: streaming unsupported (the response writer cannot flush)")
	// ErrBadField reports an event id or name holding a line break (or,
	// for an id, a NUL), which would corrupt the stream's framing.
	ErrBadField = errors.New("sse: event id or name holds a line break")
)

// Writer writes events and comments to one stream and flushes after each.
type Writer struct {
	w       http.ResponseWriter
	f       http.Flusher
	rc      *http.ResponseController
	timeout time.Duration

	mu sync.Mutex
}

// NewWriter returns a Writer of w whose every write must complete within
// timeout (0: unbounded). It writes nothing yet: Start sends the headers.
// A w that cannot flush is ErrNoFlush.
func NewWriter(w http.ResponseWriter, timeout time.Duration) (*Writer, error) {
	f, ok := w.(http.Flusher)
	if !ok {
		return nil, ErrNoFlush
	}
	return &Writer{w: w, f: f, rc: http.NewResponseController(w), timeout: timeout}, nil
}

// Start sends the stream's headers (Content-Type, no caching, no proxy
// buffering) and status 200, and flushes them.
func (w *Writer) Start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	h := w.w.Header()
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.w.WriteHeader(http.StatusOK)
	w.f.Flush()
}

// Event writes one event named name (empty: the default "message") with
// data, split into one "data:" line per line, and id if not empty.
func (w *Writer) Event(id, name string, data []byte) error {
	if strings.ContainsAny(id, "\r\n\x00") || strings.ContainsAny(name, "\r\n") {
		return ErrBadField
	}
	// One buffer, appended to: a stream's heartbeat is written every few
	// seconds on each of thousands of streams.
	buf := make([]byte, 0, len(id)+len(name)+len(data)+32)
	if id != "" {
		buf = append(append(append(buf, "id: "...), id...), '\n')
	}
	if name != "" {
		buf = append(append(append(buf, "event: "...), name...), '\n')
	}
	buf = appendLines(buf, "data: ", data)
	return w.write(append(buf, '\n'))
}

// JSON writes one event whose data is v encoded as JSON.
func (w *Writer) JSON(id, name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("sse: encode %s event: %w", name, err)
	}
	return w.Event(id, name, b)
}

// Comment writes a comment (": text"), which readers skip or take as a
// sign of life.
func (w *Writer) Comment(text string) error {
	buf := appendLines(make([]byte, 0, len(text)+8), ": ", []byte(text))
	return w.write(append(buf, '\n'))
}

// Abort makes the connection's next write fail at once, so the server
// drops it rather than finish the response into a dead socket.
func (w *Writer) Abort() {
	_ = w.rc.SetWriteDeadline(time.Now())
}

func (w *Writer) write(frame []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.timeout > 0 {
		// Unsupported (a test recorder) only means no bound.
		_ = w.rc.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	if _, err := w.w.Write(frame); err != nil {
		return err
	}
	w.f.Flush()
	return nil
}

// appendLines appends one prefix+line+"\n" per line of data, split at LF,
// CRLF or CR; empty data is one empty line.
func appendLines(buf []byte, prefix string, data []byte) []byte {
	for {
		i := bytes.IndexAny(data, "\r\n")
		if i < 0 {
			return append(append(append(buf, prefix...), data...), '\n')
		}
		buf = append(append(append(buf, prefix...), data[:i]...), '\n')
		if data[i] == '\r' && i+1 < len(data) && data[i+1] == '\n' {
			i++
		}
		data = data[i+1:]
	}
}
