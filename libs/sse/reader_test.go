package sse

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/google/go-cmp/cmp"
)

func TestReader(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		max     int
		want    []Event
		wantErr error
	}{
		{
			name: "record and ping",
			in:   ": ping\n\nevent: record\ndata: {\"id\":\"a\"}\n\n",
			want: []Event{{Comment: true, Data: "ping"}, {Name: "record", Data: `{"id":"a"}`}},
		},
		{
			name: "comment between an event's fields keeps them",
			in:   "event: record\n: ping\ndata: 1\n\n",
			want: []Event{{Comment: true, Data: "ping"}, {Name: "record", Data: "1"}},
		},
		{
			name: "multi-line data",
			in:   "event: record\ndata: line1\ndata:line2\ndata\n\n",
			want: []Event{{Name: "record", Data: "line1\nline2\n"}},
		},
		{
			name: "crlf and cr endings",
			in:   "event: a\r\ndata: 1\r\n\r\nevent: b\rdata: 2\r\r",
			want: []Event{{Name: "a", Data: "1"}, {Name: "b", Data: "2"}},
		},
		{
			name: "id carries over, retry parsed",
			in:   "id: 7\nretry: 1500\ndata: x\n\ndata: y\n\n",
			want: []Event{{ID: "7", Data: "x", Retry: 1500}, {ID: "7", Data: "y"}},
		},
		{
			name: "event without data is not dispatched",
			in:   "event: record\n\ndata: z\n\n",
			want: []Event{{Data: "z"}},
		},
		{
			name:    "unterminated event is dropped",
			in:      "data: x\n\ndata: partial",
			want:    []Event{{Data: "x"}},
			wantErr: io.ErrUnexpectedEOF,
		},
		{
			name:    "line too long",
			in:      "data: " + strings.Repeat("x", 100) + "\n\n",
			max:     50,
			wantErr: ErrTooLong,
		},
		{
			name:    "data too long across lines",
			in:      strings.Repeat("data: 0123456789\n", 10) + "\n",
			max:     50,
			wantErr: ErrTooLong,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// One byte per read: every frame is split across reads.
			r := NewReader(iotest.OneByteReader(strings.NewReader(tt.in)), tt.max)
			var got []Event
			var err error
			for {
				var ev Event
				if ev, err = r.Next(); err != nil {
					break
				}
				got = append(got, ev)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("events (-want +got):\n%s", diff)
			}
			wantErr := tt.wantErr
			if wantErr == nil {
				wantErr = io.EOF
			}
			if !errors.Is(err, wantErr) {
				t.Errorf("got err %v; want %v", err, wantErr)
			}
		})
	}
}
