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
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"kubently.io/libs/testkit"
)

// Config configures StartWith. The zero value is what Start uses.
type Config struct {
	// AppendOnly turns on the append-only file (fsync every write), so data
	// survives Stop and Restart. False (the default) persists nothing.
	AppendOnly bool
	// Args are extra redis-server arguments, appended last (for example
	// []string{"--maxmemory", "10mb"}). Nil adds none.
	Args []string
	// Password turns authentication on (requirepass for the default user);
	// empty means none. URL then carries it; add ACL users through Args
	// (--user name on >password ~* +@all).
	Password string
	// TLS serves TLS only (tls-port; the plain port is off) with a
	// certificate for 127.0.0.1 from a CA made for this server (CAFile);
	// URL then is rediss://. Clients need not present certificates.
	TLS bool
}

// Server is one running redis-server process.
type Server struct {
	bin      string
	dir      string
	args     []string
	password string
	tls      *tls.Config // client side; nil without TLS
	ca       string
	sentinel string // the sentinel config's monitor lines; empty for a plain server

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
	s := &Server{bin: bin, dir: tb.TempDir(), password: cfg.Password}
	if cfg.TLS {
		if err := s.makeCerts(); err != nil {
			tb.Fatalf("redistest: certificates: %v", err)
		}
	}
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

// URL returns the server's URL, redis://127.0.0.1:PORT/0 (rediss:// with
// TLS; with the password as redis://:PASSWORD@... when one is set).
func (s *Server) URL() string {
	scheme := "redis://"
	if s.tls != nil {
		scheme = "rediss://"
	}
	auth := ""
	if s.password != "" {
		auth = ":" + url.QueryEscape(s.password) + "@"
	}
	return scheme + auth + s.Addr() + "/0"
}

// CAFile returns the PEM file of the CA that signed a TLS server's
// certificate; empty without TLS.
func (s *Server) CAFile() string { return s.ca }

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
	portArgs := []string{"--port", strconv.Itoa(port)}
	if s.tls != nil {
		portArgs = []string{"--port", "0", "--tls-port", strconv.Itoa(port),
			"--tls-cert-file", filepath.Join(s.dir, "server.pem"), "--tls-key-file", filepath.Join(s.dir, "server-key.pem"),
			"--tls-ca-cert-file", s.ca, "--tls-auth-clients", "no"}
	}
	if s.password != "" {
		portArgs = append(portArgs, "--requirepass", s.password)
	}
	if s.sentinel != "" {
		// Sentinel rewrites its config file; write it afresh on each start.
		conf := filepath.Join(s.dir, "sentinel.conf")
		if err := os.WriteFile(conf, []byte(s.sentinel), 0o600); err != nil {
			return err
		}
		portArgs = append([]string{conf, "--sentinel"}, portArgs...)
	}
	args := append(append(portArgs,
		"--bind", "127.0.0.1",
		"--save", "",
		"--dir", s.dir,
		"--daemonize", "no",
		"--logfile", "",
	), s.args...)
	out := &testkit.SyncBuffer{}
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
		err := ping(addr, s.password, s.tls)
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

// ping sends an inline PING (after AUTH with a password) and expects
// +PONG.
func ping(addr, password string, tc *tls.Config) error {
	d := &net.Dialer{Timeout: time.Second}
	var (
		c   net.Conn
		err error
	)
	if tc != nil {
		c, err = tls.DialWithDialer(d, "tcp", addr, tc)
	} else {
		c, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	r := bufio.NewReader(c)
	if password != "" {
		if _, err := fmt.Fprintf(c, "AUTH %s\r\n", strconv.Quote(password)); err != nil {
			return err
		}
		line, err := r.ReadString('\n')
		if err != nil {
			return fmt.Errorf("AUTH: %w", err)
		}
		if line != "+OK\r\n" {
			return fmt.Errorf("AUTH: unexpected reply %q", line)
		}
	}
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := r.ReadString('\n')
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
