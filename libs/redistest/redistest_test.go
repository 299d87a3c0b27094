package redistest

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// do sends one inline command and returns the first reply line.
func do(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		t.Fatalf("write: %v", err)
	}
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if line[0] == '$' && line != "$-1\r\n" {
		if line, err = r.ReadString('\n'); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	return line
}

func TestStartStop(t *testing.T) {
	s := Start(t)
	if got, want := s.URL(), "redis://"+s.Addr()+"/0"; got != want {
		t.Errorf("URL() = %q; want %q", got, want)
	}
	if got, want := do(t, s.Addr(), "PING"), "+PONG\r\n"; got != want {
		t.Errorf("PING = %q; want %q", got, want)
	}
	s.Stop()
	if err := ping(s.Addr(), "", nil); err == nil {
		t.Errorf("ping after Stop: got nil error; want one")
	}
	s.Stop() // idempotent
}

func TestRestart(t *testing.T) {
	tests := []struct {
		name       string
		appendOnly bool
		down       func(*Server) // nil: Restart stops the server itself
		want       string
	}{
		{name: "no persistence", appendOnly: false, want: "$-1\r\n"},
		{name: "append only", appendOnly: true, want: "v\r\n"},
		{name: "no persistence, killed", appendOnly: false, down: (*Server).Kill, want: "$-1\r\n"},
		{name: "append only, killed", appendOnly: true, down: (*Server).Kill, want: "v\r\n"},
		{name: "append only, stopped", appendOnly: true, down: (*Server).Stop, want: "v\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := StartWith(t, Config{AppendOnly: tt.appendOnly})
			addr := s.Addr()
			if got, want := do(t, addr, "SET k v"), "+OK\r\n"; got != want {
				t.Fatalf("SET = %q; want %q", got, want)
			}
			if tt.down != nil {
				tt.down(s)
				if err := ping(addr, "", nil); err == nil {
					t.Fatalf("ping while down: got nil error; want one")
				}
			}
			s.Restart(t)
			if got := s.Addr(); got != addr {
				t.Errorf("Addr() after Restart = %q; want %q", got, addr)
			}
			if got := do(t, addr, "GET k"); got != tt.want {
				t.Errorf("GET after Restart = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestKillStopped(t *testing.T) {
	s := Start(t)
	s.Kill()
	s.Kill() // idempotent
	s.Stop() // and Stop after Kill does nothing
	if err := ping(s.Addr(), "", nil); err == nil {
		t.Errorf("ping after Kill: got nil error; want one")
	}
}
