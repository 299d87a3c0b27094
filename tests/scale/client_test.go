package scale

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/tests/stack"
)

// Environment of the load client process (set by startClient).
const (
	envClient = "KUBENTLY_SCALE_CLIENT"
	envAddr   = "KUBENTLY_SCALE_ADDR"
	envFirst  = "KUBENTLY_SCALE_FIRST"
	envCount  = "KUBENTLY_SCALE_COUNT"
)

// Events the client reports on stdout, one JSON object a line.
const (
	evProgress = "progress" // N streams connected so far
	evReady    = "ready"    // all N connected, after MS milliseconds
	evFail     = "fail"     // a stream could not connect; the client gives up
	evCommand  = "cmd"      // a command event arrived on stream Cluster at At
	evDrop     = "drop"     // a connected stream ended before the client stopped
)

// event is one line of the client's report.
type event struct {
	Ev      string  `json:"ev"`
	N       int     `json:"n,omitempty"`
	MS      float64 `json:"ms,omitempty"`
	ID      string  `json:"id,omitempty"`
	Cluster string  `json:"cluster,omitempty"`
	At      int64   `json:"at,omitempty"` // receive time, Unix nanoseconds
	Err     string  `json:"err,omitempty"`
}

// clusterID is the id of the i-th benchmark cluster.
func clusterID(i int) string { return fmt.Sprintf("c%05d", i) }

// tokenOf is the executor token registered for cluster.
func tokenOf(cluster string) string { return "scale-token-" + cluster + "-0123456789abcdef" }

// dialParallel bounds the streams the client is opening at once.
const dialParallel = 128

// runClient is the load client's main: it opens streams for clusters
// [first, first+count) against the gateway at addr, reports on stdout and
// exits when stdin closes (or the parent dies).
func runClient() int {
	addr := os.Getenv(envAddr)
	first, err1 := strconv.Atoi(os.Getenv(envFirst))
	count, err2 := strconv.Atoi(os.Getenv(envCount))
	if addr == "" || err1 != nil || err2 != nil || count <= 0 {
		fmt.Fprintf(os.Stderr, "scale client: bad environment %s=%q %s=%q %s=%q\n",
			envAddr, addr, envFirst, os.Getenv(envFirst), envCount, os.Getenv(envCount))
		return 2
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	rep := newReporter(os.Stdout)
	defer rep.close()

	var connected atomic.Int64
	var failed sync.Once
	start := time.Now()
	sem := make(chan struct{}, dialParallel)
	var wg sync.WaitGroup
	for i := first; i < first+count && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		cluster := clusterID(i)
		wg.Go(func() {
			released := false
			release := func() {
				if !released {
					released = true
					<-sem
				}
			}
			defer release()
			err := openStream(ctx, addr, cluster, func() {
				release()
				switch n := connected.Add(1); {
				case n == int64(count):
					rep.send(event{Ev: evReady, N: int(n), MS: float64(time.Since(start).Microseconds()) / 1e3})
				case n%1000 == 0:
					rep.send(event{Ev: evProgress, N: int(n)})
				}
			}, rep)
			if ctx.Err() != nil {
				return
			}
			var ce connectError
			if errors.As(err, &ce) {
				failed.Do(func() { rep.send(event{Ev: evFail, Cluster: cluster, Err: err.Error()}) })
				return
			}
			rep.send(event{Ev: evDrop, Cluster: cluster, Err: fmt.Sprint(err)})
		})
	}
	<-ctx.Done()
	wg.Wait()
	return 0
}

// connectError is a failure before the stream's connected event.
type connectError struct{ err error }

func (e connectError) Error() string { return "connect: " + e.err.Error() }

// openStream holds one executor stream until it ends or ctx is done,
// calling onConnected on its connected event and reporting command events.
func openStream(ctx context.Context, addr, cluster string, onConnected func(), rep *reporter) error {
	var conn net.Conn
	var err error
	for attempt := 0; ; attempt++ {
		d := net.Dialer{Timeout: 10 * time.Second}
		if conn, err = d.DialContext(ctx, "tcp", addr); err == nil {
			break
		}
		if attempt == 4 || ctx.Err() != nil {
			return connectError{err}
		}
		time.Sleep(time.Duration(100<<attempt) * time.Millisecond)
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()
	defer func() { _ = conn.Close() }()

	req := "GET /v1/executor/stream HTTP/1.1\r\nHost: " + addr + "\r\n" +
		"Authorization: Bearer " + tokenOf(cluster) + "\r\n" +
		contracts.HeaderClusterID + ": " + cluster + "\r\n" +
		contracts.HeaderExecutorID + ": scale-" + cluster + "\r\n" +
		"Accept: text/event-stream\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return connectError{err}
	}
	resp, err := http.ReadResponse(bufio.NewReaderSize(conn, 1024), nil)
	if err != nil {
		return connectError{err}
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return connectError{fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))}
	}
	br := bufio.NewReaderSize(resp.Body, 2048)
	var id, name string
	isConnected := false
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if !isConnected {
				return connectError{err}
			}
			return err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			switch name {
			case "connected":
				if !isConnected {
					isConnected = true
					onConnected()
				}
			case "command":
				rep.send(event{Ev: evCommand, ID: id, Cluster: cluster, At: time.Now().UnixNano()})
			}
			id, name = "", ""
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		}
	}
}

// reporter writes events as JSON lines from one goroutine.
type reporter struct {
	ch   chan event
	done chan struct{}
}

func newReporter(w io.Writer) *reporter {
	r := &reporter{ch: make(chan event, 4096), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		bw := bufio.NewWriter(w)
		enc := json.NewEncoder(bw)
		for ev := range r.ch {
			_ = enc.Encode(ev)
			if len(r.ch) == 0 {
				_ = bw.Flush()
			}
		}
		_ = bw.Flush()
	}()
	return r
}

func (r *reporter) send(ev event) { r.ch <- ev }

func (r *reporter) close() {
	close(r.ch)
	<-r.done
}

// client is the load client process as the benchmark sees it.
type client struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stderr *stack.SyncBuffer
	// commands receives the command events.
	commands chan event
	// control receives ready and fail.
	control chan event
	// exited is closed when the process has exited.
	exited  chan struct{}
	dropped atomic.Int64
	stopped bool
}

// startClient starts the load client for clusters [first, first+count)
// against addr; it is killed at cleanup if still running.
func startClient(tb testing.TB, addr string, first, count int) *client {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	c := &client{stderr: &stack.SyncBuffer{}, commands: make(chan event, 1024), control: make(chan event, 4), exited: make(chan struct{})}
	c.cmd = exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	c.cmd.Env = append(os.Environ(), envClient+"=1", envAddr+"="+addr,
		envFirst+"="+strconv.Itoa(first), envCount+"="+strconv.Itoa(count))
	c.cmd.Stderr = c.stderr
	if c.stdin, err = c.cmd.StdinPipe(); err != nil {
		tb.Fatal(err)
	}
	stdout, err := c.cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		tb.Fatalf("start load client: %v", err)
	}
	tb.Cleanup(func() { c.stop(tb) })
	var drops sync.Once
	go func() {
		defer close(c.exited)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var ev event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				continue
			}
			switch ev.Ev {
			case evCommand:
				c.commands <- ev
			case evReady, evFail:
				c.control <- ev
			case evDrop:
				c.dropped.Add(1)
				drops.Do(func() { tb.Logf("load client: stream of %s ended: %s", ev.Cluster, ev.Err) })
			}
		}
		_ = c.cmd.Wait()
	}()
	return c
}

// awaitReady waits until all the client's streams are connected and
// returns how long the client took to connect them.
func (c *client) awaitReady(tb testing.TB, timeout time.Duration) time.Duration {
	tb.Helper()
	select {
	case ev := <-c.control:
		if ev.Ev == evFail {
			tb.Fatalf("load client: stream of %s failed to connect: %s\nclient stderr:\n%s", ev.Cluster, ev.Err, stack.Tail(c.stderr.String(), 40))
		}
		return time.Duration(ev.MS * float64(time.Millisecond))
	case <-c.exited:
		tb.Fatalf("load client exited before its streams connected:\n%s", stack.Tail(c.stderr.String(), 40))
	case <-time.After(timeout):
		tb.Fatalf("load client: streams not connected after %s", timeout)
	}
	return 0
}

// stop asks the client to close its streams and exit (by closing its
// stdin), and kills it after 30s.
func (c *client) stop(tb testing.TB) {
	if c.stopped {
		return
	}
	c.stopped = true
	_ = c.stdin.Close()
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		tb.Logf("load client did not exit; killing it")
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}
