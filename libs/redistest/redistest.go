// Package redistest runs a real redis-server process for tests.
//
// # Usage
//
//	srv := redistest.Start(t)
//	opts, _ := redis.ParseURL(srv.URL())
//
// Start needs the redis-server binary on PATH (Debian/Ubuntu:
// `apt-get install redis-server`). Each server listens on a free loopback
// port, keeps its files in a test temp dir, and is stopped at cleanup. By
// default it persists nothing (`--save "" --appendonly no`); set
// Config.AppendOnly to keep data across Restart, whether the server was
// stopped (Stop, SIGTERM) or crashed (Kill, SIGKILL).
//
// # Concurrency
//
// A Server's methods are safe for concurrent use, but Stop, Kill and
// Restart are meant to be called from the test goroutine.
package redistest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config configures StartWith. The zero value is what Start uses.
type Config struct {
	// AppendOnly turns on the append-only file (fsync every write), so data
	// survives Stop and Restart. False (the default) persists nothing.
	AppendOnly bool
	// Args are extra redis-server arguments, appended last (for example
	// []string{"--maxmemory", "10mb"}). Nil adds none.
	Args []string
}

// Server is one running redis-server process.
type Server struct {
	bin  string
	dir  string
	args []string

	mu   sync.Mutex
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
}

const (
	startTimeout = 10 * time.Second
	stopTimeout  = 5 * time.Second
)

// Start starts a redis-server with no persistence on a free loopback port
// and stops it at cleanup. It fails the test if redis-server is missing or
// does not answer PING within 10s.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb, Config{})
}

// StartWith is Start with a Config.
func StartWith(tb testing.TB, cfg Config) *Server {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: redis-server not found on PATH (%v); install it with `apt-get install redis-server`", err)
	}
	s := &Server{bin: bin, dir: tb.TempDir()}
	if cfg.AppendOnly {
		s.args = []string{"--appendonly", "yes", "--appendfsync", "always"}
	} else {
		s.args = []string{"--appendonly", "no"}
	}
	s.args = append(s.args, cfg.Args...)
	tb.Cleanup(s.Stop)

	// A free port can be taken by someone else between our probe and the
	// server's bind; try a few.
	var lastErr error
	for range 5 {
		port, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		if lastErr = s.start(port); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: start redis-server: %v", lastErr)
	return nil
}

// URL returns the server's URL, redis://127.0.0.1:PORT/0.
func (s *Server) URL() string { return "redis://" + s.Addr() + "/0" }

// Addr returns the server's host:port.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
}

// Stop shuts the server down (SIGTERM, so an append-only file is flushed;
// SIGKILL after 5s). Stopping a stopped server does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stopLocked()
}

// Kill ends the server with SIGKILL, as a crash would: nothing is flushed
// on the way out, so only what Redis had already written survives (with
// Config.AppendOnly, every acknowledged write: the file is fsynced on
// each one). Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd, s.done = nil, nil
}

// Restart stops the server if it runs and starts it again on the same port
// with the same data directory and arguments. It fails the test if the
// server does not come back.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	s.mu.Lock()
	s.stopLocked()
	port := s.port
	s.mu.Unlock()
	// The port was ours a moment ago; retry briefly in case the kernel has
	// not released it yet.
	var err error
	for deadline := time.Now().Add(startTimeout); time.Now().Before(deadline); {
		if err = s.start(port); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	tb.Fatalf("redistest: restart redis-server on port %d: %v", port, err)
}

func (s *Server) stopLocked() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(stopTimeout):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd, s.done = nil, nil
}

// start runs redis-server on port and waits until it answers PING.
func (s *Server) start(port int) error {
	args := append([]string{
		"--port", strconv.Itoa(port),
		"--bind", "127.0.0.1",
		"--save", "",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	}, s.args...)
	out := &syncBuffer{}
	cmd := exec.Command(s.bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited early: %s", out.String())
		default:
		}
		err := ping(addr)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-done
			return fmt.Errorf("no PONG from %s within %v (%w): %s", addr, startTimeout, err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.mu.Lock()
	s.port, s.cmd, s.done = port, cmd, done
	s.mu.Unlock()
	return nil
}

// ping sends an inline PING and expects +PONG.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "+PONG\r\n" {
		// -LOADING while an append-only file is replayed, for example.
		return errors.New("unexpected reply " + strconv.Quote(line))
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects a process's output for error messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write implements io.Writer.
func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String returns everything written so far.
func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
