package sse

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrTooLong reports a line or an event's data longer than the Reader's
// limit.
var ErrTooLong = errors.New("sse: line or event too long")

// DefaultMaxLen is the line and data limit NewReader uses for a limit of 0.
const DefaultMaxLen = 1 << 20

// Event is one dispatched event, or a comment.
type Event struct {
	// ID is the last "id" field seen on the stream (the spec's "last event
	// ID buffer"), carried over from earlier events; empty if none.
	ID string
	// Name is the "event" field; empty means the default type "message".
	Name string
	// Data is the "data" lines joined with "\n".
	Data string
	// Retry is the "retry" field in milliseconds, or 0 if absent.
	Retry int
	// Comment is true for a comment line (": ping"); then Data holds the
	// comment's text and the other fields are zero.
	Comment bool
}

// Reader reads events from an event stream.
type Reader struct {
	r      *bufio.Reader
	max    int
	lastID string
	// The event being read: kept across Next calls, so a comment between
	// an event's fields does not lose them.
	ev      Event
	data    strings.Builder
	hasData bool
	// pendingCR is set after a line ended with "\r": a following "\n"
	// belongs to the same line ending.
	pendingCR bool
}

// NewReader returns a Reader of r that refuses lines or event data longer
// than maxLen bytes; 0 means DefaultMaxLen.
func NewReader(r io.Reader, maxLen int) *Reader {
	if maxLen <= 0 {
		maxLen = DefaultMaxLen
	}
	return &Reader{r: bufio.NewReaderSize(r, 64<<10), max: maxLen}
}

// Next returns the next event or comment. At the end of the stream it
// returns io.EOF (an event not terminated by a blank line is dropped, as
// the spec says); a line or event past the limit returns an error wrapping
// ErrTooLong. Other errors are the underlying reader's.
func (r *Reader) Next() (Event, error) {
	for {
		line, err := r.readLine()
		if err != nil {
			return Event{}, err
		}
		if line == "" {
			if !r.hasData {
				r.ev = Event{}
				continue
			}
			ev := r.ev
			ev.ID = r.lastID
			ev.Data = r.data.String()
			r.ev, r.hasData = Event{}, false
			r.data.Reset()
			return ev, nil
		}
		if line[0] == ':' {
			return Event{Comment: true, Data: strings.TrimPrefix(line[1:], " ")}, nil
		}
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			r.ev.Name = value
		case "data":
			if r.hasData {
				r.data.WriteByte('\n')
			}
			if r.data.Len()+len(value) > r.max {
				return Event{}, fmt.Errorf("%w: event data over %d bytes", ErrTooLong, r.max)
			}
			r.data.WriteString(value)
			r.hasData = true
		case "id":
			if !strings.ContainsRune(value, 0) {
				r.lastID = value
			}
		case "retry":
			if n, err := strconv.Atoi(value); err == nil && n >= 0 {
				r.ev.Retry = n
			}
		}
	}
}

// LastID is the last event ID the stream set; empty if none.
func (r *Reader) LastID() string { return r.lastID }

// readLine reads one line without its ending, bounded by r.max.
func (r *Reader) readLine() (string, error) {
	var buf []byte
	for {
		b, err := r.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) && len(buf) > 0 {
				// A last line without an ending cannot complete an
				// event; report the end of the stream.
				return "", io.ErrUnexpectedEOF
			}
			return "", err
		}
		if r.pendingCR {
			r.pendingCR = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return string(buf), nil
		case '\r':
			r.pendingCR = true
			return string(buf), nil
		}
		if len(buf) >= r.max {
			return "", fmt.Errorf("%w: line over %d bytes", ErrTooLong, r.max)
		}
		buf = append(buf, b)
	}
}
