package scale

import (
	"bufio"
	"bytes"
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
	"kubently.io/libs/testkit"
)

// Environment of the load client process (set by startClient).
const (
	envClient = "KUBENTLY_SCALE_CLIENT"
	envAddr   = "KUBENTLY_SCALE_ADDR"
	envFirst  = "KUBENTLY_SCALE_FIRST"
	envCount  = "KUBENTLY_SCALE_COUNT"
	// envBeats "1" makes the client announce heartbeats on its streams
	// and post them at the interval the gateway asks for, as executors do.
	envBeats = "KUBENTLY_SCALE_HEARTBEATS"
)

// Events the client reports on stdout, one JSON object a line.
const (
	evProgress = "progress" // N streams connected so far
	evReady    = "ready"    // all N connected, after MS milliseconds
	evFail     = "fail"     // a stream could not connect; the client gives up
	evCommand  = "cmd"      // a command event arrived on stream Cluster at At
	evDrop     = "drop"     // a connected stream ended before the client stopped
	evBeats    = "beats"    // on exit: N heartbeats accepted, Err the first failure (MS: failures)
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
	var beats *beater
	if os.Getenv(envBeats) == "1" {
		beats = newBeater(addr)
		done := make(chan struct{})
		go func() {
			defer close(done)
			beats.run(ctx)
		}()
		defer func() {
			<-done
			ev := event{Ev: evBeats, N: int(beats.sent.Load()), MS: float64(beats.failed.Load())}
			if e, ok := beats.firstErr.Load().(string); ok {
				ev.Err = e
			}
			rep.send(ev)
		}()
	}

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
			err := openStream(ctx, addr, cluster, beats, func() {
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
// With beats, it announces heartbeats and has beats post them while the
// stream lasts.
func openStream(ctx context.Context, addr, cluster string, beats *beater, onConnected func(), rep *reporter) error {
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
		"Accept: text/event-stream\r\n"
	if beats != nil {
		req += contracts.HeaderExecutorHeartbeats + ": 1\r\n"
	}
	req += "\r\n"
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
	var id, name, data string
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
					if beats != nil {
						var hello struct {
							ConnID     string `json:"conn_id"`
							Gateway    string `json:"gateway"`
							IntervalMS int64  `json:"contact_interval_ms"`
						}
						if err := json.Unmarshal([]byte(data), &hello); err != nil || hello.IntervalMS <= 0 {
							return connectError{fmt.Errorf("connected event %q: no contact_interval_ms (heartbeats not asked for)", data)}
						}
						forget := beats.add(cluster, hello.IntervalMS, contracts.ExecutorHeartbeat{ConnID: hello.ConnID, Gateway: hello.Gateway})
						defer forget()
					}
					onConnected()
				}
			case "command":
				rep.send(event{Ev: evCommand, ID: id, Cluster: cluster, At: time.Now().UnixNano()})
			}
			id, name, data = "", "", ""
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		case strings.HasPrefix(line, "id: "):
			id = line[len("id: "):]
		case strings.HasPrefix(line, "event: "):
			name = line[len("event: "):]
		}
	}
}

// beatWorkers is how many heartbeat posts the client has in flight at
// most (and so how many keep-alive connections they use).
const beatWorkers = 32

// beater posts the heartbeats of every stream that announced them, spread
// evenly over each interval, from a few workers sharing keep-alive
// connections: an executor fleet's heartbeat load on one gateway replica.
type beater struct {
	addr   string
	client *http.Client
	mu     sync.Mutex
	// streams are the live streams by conn_id.
	streams  map[string]beat
	interval atomic.Int64 // ms, as the gateway asked
	sent     atomic.Int64
	failed   atomic.Int64
	firstErr atomic.Value // string
}

// beat is one stream's heartbeat.
type beat struct {
	cluster string
	body    []byte
}

func newBeater(addr string) *beater {
	tr := &http.Transport{MaxIdleConnsPerHost: beatWorkers, MaxConnsPerHost: beatWorkers, IdleConnTimeout: time.Minute}
	return &beater{addr: addr, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}, streams: map[string]beat{}}
}

// add registers a stream's heartbeat; call the returned func when the
// stream ends.
func (b *beater) add(cluster string, intervalMS int64, hb contracts.ExecutorHeartbeat) func() {
	body, _ := json.Marshal(hb)
	b.interval.Store(intervalMS)
	b.mu.Lock()
	b.streams[hb.ConnID] = beat{cluster: cluster, body: body}
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.streams, hb.ConnID)
		b.mu.Unlock()
	}
}

// run posts each registered stream's heartbeat once per interval until
// ctx is done.
func (b *beater) run(ctx context.Context) {
	jobs := make(chan beat, beatWorkers)
	var wg sync.WaitGroup
	for range beatWorkers {
		wg.Go(func() {
			for j := range jobs {
				b.post(ctx, j)
			}
		})
	}
	defer wg.Wait()
	defer close(jobs)
	for ctx.Err() == nil {
		interval := time.Duration(b.interval.Load()) * time.Millisecond
		b.mu.Lock()
		round := make([]beat, 0, len(b.streams))
		for _, j := range b.streams {
			round = append(round, j)
		}
		b.mu.Unlock()
		if interval <= 0 || len(round) == 0 {
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
			continue
		}
		start := time.Now()
		gap := interval / time.Duration(len(round))
		for i, j := range round {
			if d := time.Until(start.Add(time.Duration(i) * gap)); d > time.Millisecond {
				time.Sleep(d)
			}
			select {
			case jobs <- j:
			case <-ctx.Done():
				return
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(start.Add(interval))):
		}
	}
}

func (b *beater) post(ctx context.Context, j beat) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+b.addr+"/v1/executor/heartbeat", bytes.NewReader(j.body))
	if err != nil {
		return
	}
	req.Header.Set("Authorization", "Bearer "+tokenOf(j.cluster))
	req.Header.Set(contracts.HeaderClusterID, j.cluster)
	req.Header.Set("Content-Type", "application/json")
	resp, err := b.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			b.sent.Add(1)
			return
		}
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	if ctx.Err() != nil {
		return
	}
	b.failed.Add(1)
	b.firstErr.CompareAndSwap(nil, j.cluster+": "+err.Error())
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
	stderr *testkit.SyncBuffer
	// commands receives the command events.
	commands chan event
	// control receives ready and fail.
	control chan event
	// exited is closed when the process has exited.
	exited  chan struct{}
	dropped atomic.Int64
	stopped bool
	// beats is the client's heartbeat report, read after it exited.
	beats event
}

// startClient starts the load client for clusters [first, first+count)
// against addr, posting heartbeats if beats; it is killed at cleanup if
// still running.
func startClient(tb testing.TB, addr string, first, count int, beats bool) *client {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	c := &client{stderr: &testkit.SyncBuffer{}, commands: make(chan event, 1024), control: make(chan event, 4), exited: make(chan struct{})}
	c.cmd = exec.Command(exe, "-test.run=^$", "-test.bench=^$")
	c.cmd.Env = append(os.Environ(), envClient+"=1", envAddr+"="+addr,
		envFirst+"="+strconv.Itoa(first), envCount+"="+strconv.Itoa(count))
	if beats {
		c.cmd.Env = append(c.cmd.Env, envBeats+"=1")
	}
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
			case evBeats:
				c.beats = ev
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
			tb.Fatalf("load client: stream of %s failed to connect: %s\nclient stderr:\n%s", ev.Cluster, ev.Err, testkit.Tail(c.stderr.String(), 40))
		}
		return time.Duration(ev.MS * float64(time.Millisecond))
	case <-c.exited:
		tb.Fatalf("load client exited before its streams connected:\n%s", testkit.Tail(c.stderr.String(), 40))
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
