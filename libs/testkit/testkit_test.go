package testkit

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fatalTB records Fatalf and ends its goroutine, as t.Fatalf does, without
// failing the test, so CheckFor's failure path can be observed.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func TestCheckFor(t *testing.T) {
	t.Run("returns once f succeeds", func(t *testing.T) {
		calls := 0
		CheckFor(t, 10*time.Second, time.Millisecond, func() error {
			if calls++; calls < 3 {
				return errors.New("not yet")
			}
			return nil
		})
		if calls != 3 {
			t.Errorf("f called %d times; want 3", calls)
		}
	})
	t.Run("fails with f's last error after total", func(t *testing.T) {
		tb := &fatalTB{TB: t}
		calls := 0
		done := make(chan struct{})
		go func() {
			defer close(done)
			CheckFor(tb, 0, time.Millisecond, func() error {
				calls++
				return fmt.Errorf("attempt %d", calls)
			})
		}()
		<-done
		if calls != 1 || !strings.Contains(tb.msg, "attempt 1") {
			t.Errorf("calls %d, Fatalf %q; want 1 call and its error in the message", calls, tb.msg)
		}
	})
}

func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				_, _ = b.Write([]byte("x"))
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("len = %d; want 800", n)
	}
}

func TestTail(t *testing.T) {
	tests := []struct {
		name, in string
		n        int
		want     string
	}{
		{"fewer lines than n", "a\nb\n", 5, "a\nb"},
		{"last n", "a\nb\nc\nd\n", 2, "c\nd"},
		{"no final newline", "a\nb\nc", 1, "c"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Tail(tt.in, tt.n); got != tt.want {
				t.Errorf("Tail(%q, %d) = %q; want %q", tt.in, tt.n, got, tt.want)
			}
		})
	}
}

func TestBinName(t *testing.T) {
	tests := []struct{ pkg, want string }{
		{"kubently.io/services/gateway/cmd/gateway", "gateway"},
		{"github.com/nats-io/nats-server/v2", "nats-server"},
		{"./services/session/cmd/session", "session"},
	}
	for _, tt := range tests {
		if got := binName(tt.pkg); got != tt.want {
			t.Errorf("binName(%q) = %q; want %q", tt.pkg, got, tt.want)
		}
	}
}

func TestFreeAddr(t *testing.T) {
	if a, b := FreeAddr(t), FreeAddr(t); a == "" || !strings.HasPrefix(a, "127.0.0.1:") || b == "" {
		t.Errorf("FreeAddr = %q, %q; want 127.0.0.1:port", a, b)
	}
}

// TestStartProc runs a real shell: its output is kept, Stop ends it with
// SIGTERM, and a process that exits on its own is seen as exited.
func TestStartProc(t *testing.T) {
	p := StartProc(t, ProcConfig{Name: "sh", Path: "/bin/sh", Args: []string{"-c", `echo "started $X"; exec sleep 60`}, Env: []string{"X=42"}})
	CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if !strings.Contains(p.Out.String(), "started 42") {
			return fmt.Errorf("output %q", p.Out.String())
		}
		return nil
	})
	if p.Exited() {
		t.Fatal("exited before Stop")
	}
	p.Stop(t)
	if !p.Exited() || p.Err() == nil {
		t.Errorf("after Stop: exited %v, err %v; want exited by a signal", p.Exited(), p.Err())
	}

	q := StartProc(t, ProcConfig{Name: "true", Path: "/bin/sh", Args: []string{"-c", "exit 3"}})
	<-q.Done()
	if q.Err() == nil {
		t.Error("exit 3: Err = nil; want the exit status")
	}
}

func TestReady(t *testing.T) {
	var status atomic.Int32
	status.Store(http.StatusServiceUnavailable)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/readyz" {
			http.NotFound(w, r)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	if err := Ready(srv.URL); err == nil {
		t.Error("Ready of a 503 = nil; want an error")
	}
	status.Store(http.StatusOK)
	if err := Ready(srv.URL); err != nil {
		t.Errorf("Ready of a 200 = %v; want nil", err)
	}
}
