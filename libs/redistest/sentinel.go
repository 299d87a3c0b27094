package redistest

import (
	"fmt"
	"os/exec"
	"strconv"
	"testing"
)

// StartSentinel starts a Redis Sentinel (redis-server --sentinel) on a free
// loopback port monitoring master under name (quorum 1, with the
// master's password), and stops it at cleanup. Its Addr goes into
// go-redis's FailoverOptions.SentinelAddrs. A TLS master is not
// supported.
func StartSentinel(tb testing.TB, master *Server, name string) *Server {
	tb.Helper()
	if master.tls != nil {
		tb.Fatal("redistest: StartSentinel: TLS masters are not supported")
	}
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redistest: redis-server not found on PATH (%v)", err)
	}
	host, port := "127.0.0.1", strconv.Itoa(master.port)
	conf := fmt.Sprintf("sentinel monitor %s %s %s 1\nsentinel down-after-milliseconds %s 5000\n", name, host, port, name)
	if master.password != "" {
		conf += fmt.Sprintf("sentinel auth-pass %s %s\n", name, strconv.Quote(master.password))
	}
	s := &Server{bin: bin, dir: tb.TempDir(), sentinel: conf}
	tb.Cleanup(s.Stop)
	var lastErr error
	for range 5 {
		p, err := freePort()
		if err != nil {
			tb.Fatalf("redistest: find a free port: %v", err)
		}
		if lastErr = s.start(p); lastErr == nil {
			return s
		}
	}
	tb.Fatalf("redistest: start sentinel: %v", lastErr)
	return nil
}
