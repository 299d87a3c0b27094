package sse

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestWriterFrames(t *testing.T) {
	tests := []struct {
		name  string
		write func(w *Writer) error
		want  string
	}{
		{
			name:  "json event with id",
			write: func(w *Writer) error { return w.JSON("c1", "command", map[string]string{"id": "c1"}) },
			want:  "id: c1\nevent: command\ndata: {\"id\":\"c1\"}\n\n",
		},
		{
			name:  "event without id",
			write: func(w *Writer) error { return w.Event("", "record", []byte(`{}`)) },
			want:  "event: record\ndata: {}\n\n",
		},
		{
			name:  "multi-line data is one data line each",
			write: func(w *Writer) error { return w.Event("", "", []byte("a\nb\r\nc")) },
			want:  "data: a\ndata: b\ndata: c\n\n",
		},
		{
			name:  "bare CR and a trailing line break end lines",
			write: func(w *Writer) error { return w.Event("", "x", []byte("a\rb\r\r\nc\n")) },
			want:  "event: x\ndata: a\ndata: b\ndata: \ndata: c\ndata: \n\n",
		},
		{
			name:  "empty data is one empty data line",
			write: func(w *Writer) error { return w.Event("", "", nil) },
			want:  "data: \n\n",
		},
		{
			name:  "comment",
			write: func(w *Writer) error { return w.Comment("ping") },
			want:  ": ping\n\n",
		},
		{
			name:  "multi-line comment",
			write: func(w *Writer) error { return w.Comment("a\r\nb") },
			want:  ": a\n: b\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w, err := NewWriter(rec, 0)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.write(w); err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != tt.want {
				t.Errorf("got %q; want %q", got, tt.want)
			}
			if !rec.Flushed {
				t.Error("not flushed")
			}
		})
	}
}

func TestWriterStart(t *testing.T) {
	rec := httptest.NewRecorder()
	w, err := NewWriter(rec, 0)
	if err != nil {
		t.Fatal(err)
	}
	w.Start()
	want := http.Header{
		"Content-Type": {ContentType}, "Cache-Control": {"no-cache"},
		"Connection": {"keep-alive"}, "X-Accel-Buffering": {"no"},
	}
	if diff := cmp.Diff(want, rec.Header()); diff != "" {
		t.Errorf("headers (-want +got):\n%s", diff)
	}
	if rec.Code != http.StatusOK || !rec.Flushed {
		t.Errorf("got status %d, flushed %v; want 200, true", rec.Code, rec.Flushed)
	}
}

func TestWriterRefuses(t *testing.T) {
	if _, err := NewWriter(noFlush{httptest.NewRecorder()}, 0); !errors.Is(err, ErrNoFlush) {
		t.Errorf("got %v; want ErrNoFlush", err)
	}
	w, err := NewWriter(httptest.NewRecorder(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ id, name string }{{"a\nb", "x"}, {"a", "x\ny"}, {"a\rb", ""}, {"a\x00", ""}} {
		if err := w.Event(tt.id, tt.name, nil); !errors.Is(err, ErrBadField) {
			t.Errorf("Event(%q, %q): got %v; want ErrBadField", tt.id, tt.name, err)
		}
	}
}

// TestRoundTrip holds the Writer and the Reader to one framing: what one
// writes, from many goroutines at once, the other reads back whole.
func TestRoundTrip(t *testing.T) {
	pr, pw := io.Pipe()
	w, err := NewWriter(pipeWriter{pw}, 0)
	if err != nil {
		t.Fatal(err)
	}
	datas := []string{`{"a":1}`, "two\nlines", "", "x: y"}
	go func() {
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() {
				if i%2 == 0 {
					_ = w.Comment("ping")
					return
				}
				for _, d := range datas {
					_ = w.Event("", "e", []byte(d))
				}
			})
		}
		wg.Wait()
		_ = w.Event("last", "done", []byte("end"))
		_ = pw.Close()
	}()
	r := NewReader(pr, 0)
	counts := map[string]int{}
	comments := 0
	for {
		ev, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev.Comment {
			comments++
			continue
		}
		counts[ev.Name+"|"+ev.Data]++
	}
	want := map[string]int{"done|end": 1}
	for _, d := range datas {
		want["e|"+d] = 10
	}
	if diff := cmp.Diff(want, counts); diff != "" {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if comments != 10 {
		t.Errorf("got %d comments; want 10", comments)
	}
	if r.LastID() != "last" {
		t.Errorf("got last id %q; want %q", r.LastID(), "last")
	}
}

// noFlush is a ResponseWriter without Flush.
type noFlush struct{ w http.ResponseWriter }

func (n noFlush) Header() http.Header         { return n.w.Header() }
func (n noFlush) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noFlush) WriteHeader(code int)        { n.w.WriteHeader(code) }

// pipeWriter is a flushing ResponseWriter over a pipe.
type pipeWriter struct{ w io.Writer }

func (p pipeWriter) Header() http.Header         { return http.Header{} }
func (p pipeWriter) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p pipeWriter) WriteHeader(int)             {}
func (p pipeWriter) Flush()                      {}

// discard is a ResponseWriter that drops what is written and can flush.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(b []byte) (int, error) { return len(b), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}

// BenchmarkHeartbeat is the gateway's heartbeat event on one stream, which
// a replica holding 10,000 streams writes 2,000 times a second.
func BenchmarkHeartbeat(b *testing.B) {
	w, err := NewWriter(&discard{h: http.Header{}}, 0)
	if err != nil {
		b.Fatal(err)
	}
	ev := struct {
		Type       string    `json:"type"`
		Time       time.Time `json:"time"`
		IntervalMS int64     `json:"heartbeat_interval_ms"`
	}{"heartbeat", time.Now().UTC(), 5000}
	b.ReportAllocs()
	for b.Loop() {
		if err := w.JSON("", "heartbeat", ev); err != nil {
			b.Fatal(err)
		}
	}
}
