package bench

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/testkit"
)

const (
	// adminKey is the API key the load clients use.
	adminKey = "bench-admin-key-0123456789abcdef"
	// execToken is the executor token of the bench cluster.
	execToken = "bench-exec-token-0123456789abcdef"
	// cluster is the one cluster every stack serves.
	cluster = "bench-1"
)

// startProc starts bin from binDir with exactly env (plus PATH, HOME and
// JSON logs); it is stopped (SIGTERM) at cleanup.
func startProc(t testing.TB, binDir, name, bin string, args, env []string) *testkit.Proc {
	t.Helper()
	return testkit.StartProc(t, testkit.ProcConfig{Name: name, Path: filepath.Join(binDir, bin), Args: args, TailLines: 30,
		Env: append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBENTLY_LOG_FORMAT=json"}, env...)})
}

// topology is one production deployment: its own nats-server and the four
// services, on Redis (redisAddr set) or on JetStream.
type topology struct {
	name      string
	gateway   string // the gateway's base URL
	redisAddr string // host:port of redis-server; empty for JetStream
	procs     []*testkit.Proc
	// pids holds extra processes measured with procs (redis-server).
	pids map[string]int
	// ops is each service's ops address (health, metrics, pprof), by name.
	ops map[string]string
}

// startTopology starts nats-server and the four services. redisURL empty
// means the JetStream store. pprof turns on each service's pprof handlers.
func startTopology(t testing.TB, binDir, name, kubeconfig, redisURL, redisAddr string, pprof bool) *topology {
	t.Helper()
	tp := &topology{name: name, redisAddr: redisAddr, pids: map[string]int{}, ops: map[string]string{}}
	port := freePort(t)
	nats := startProc(t, binDir, "nats-server", "nats-server",
		[]string{"-c", natstest.ConfigFile(t), "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-js", "-sd", t.TempDir()}, nil)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", port)
	waitFor(t, 20*time.Second, func() error { return dial(natsURL[len("nats://"):]) })
	tp.procs = append(tp.procs, nats)

	platform := func(role natsutil.Role, ops string) []string {
		env := append([]string{"KUBENTLY_NATS_URL=" + natsURL, "KUBENTLY_LOG_LEVEL=warn", "KUBENTLY_OPS_ADDR=" + ops}, natstest.Env(role)...)
		if redisURL != "" {
			env = append(env, "KUBENTLY_REDIS_URL="+redisURL)
		}
		if pprof {
			env = append(env, "KUBENTLY_PPROF=true")
		}
		return env
	}
	sessOps, dispOps, gwOps, execOps := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	tp.ops = map[string]string{"session": sessOps, "dispatcher": dispOps, "gateway": gwOps, "executor": execOps}
	tp.procs = append(tp.procs, startProc(t, binDir, "session", "session", nil, platform(natsutil.RoleSession, sessOps)))
	tp.procs = append(tp.procs, startProc(t, binDir, "dispatcher", "dispatcher", nil, platform(natsutil.RoleDispatcher, dispOps)))
	gwAddr := freeAddr(t)
	tp.gateway = "http://" + gwAddr
	tp.procs = append(tp.procs, startProc(t, binDir, "gateway", "gateway", nil, append(platform(natsutil.RoleGateway, gwOps),
		"KUBENTLY_GATEWAY_ADDR="+gwAddr,
		"KUBENTLY_API_KEYS=bench:admin:"+adminKey,
		"KUBENTLY_AGENT_TOKENS="+cluster+":"+execToken,
		"KUBENTLY_RATE_LIMIT_PER_IDENTITY=0",
		"KUBENTLY_RATE_LIMIT_PER_CLUSTER=0",
	)))
	for _, addr := range []string{sessOps, dispOps, gwAddr} {
		waitFor(t, 30*time.Second, func() error { return testkit.Ready("http://" + addr) })
	}
	execEnv := []string{
		"KUBENTLY_API_URL=" + tp.gateway, "CLUSTER_ID=" + cluster, "KUBENTLY_TOKEN=" + execToken,
		"KUBENTLY_KUBECONFIG=" + kubeconfig, "KUBENTLY_EXECUTOR_ID=" + cluster + "-exec", "KUBENTLY_LOG_LEVEL=info",
		"KUBENTLY_OPS_ADDR=" + execOps,
	}
	if pprof {
		execEnv = append(execEnv, "KUBENTLY_PPROF=true")
	}
	ex := startProc(t, binDir, "executor", "executor", nil, execEnv)
	tp.procs = append(tp.procs, ex)
	waitFor(t, 30*time.Second, func() error {
		if ex.Exited() {
			return fmt.Errorf("executor exited: %s", testkit.Tail(ex.Out.String(), 10))
		}
		if !strings.Contains(ex.Out.String(), "connected to gateway") {
			return fmt.Errorf("executor not connected yet")
		}
		return nil
	})
	return tp
}

// alive fails if a process of the topology exited.
func (tp *topology) alive() error {
	for _, p := range tp.procs {
		if p.Exited() {
			return fmt.Errorf("%s: %s exited: %s", tp.name, p.Name, testkit.Tail(p.Out.String(), 10))
		}
	}
	return nil
}

// measured is every process whose CPU and RSS a phase reports, by name.
func (tp *topology) measured() map[string]int {
	m := map[string]int{}
	for _, p := range tp.procs {
		m[p.Name] = p.Cmd.Process.Pid
	}
	for k, v := range tp.pids {
		m[k] = v
	}
	return m
}

func dial(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	return c.Close()
}

// waitFor polls f until it returns nil or total passes (then fails t).
func waitFor(t testing.TB, total time.Duration, f func() error) {
	t.Helper()
	testkit.CheckFor(t, total, 100*time.Millisecond, f)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func freeAddr(t testing.TB) string { return fmt.Sprintf("127.0.0.1:%d", freePort(t)) }

// ---------------------------------------------------------------------------
// /proc and Redis counters

// procSample is a process's CPU time so far and its resident set now.
type procSample struct {
	cpu time.Duration
	rss int64 // bytes
}

// clockTick is USER_HZ, 100 on every Linux this runs on.
const clockTick = 100

// sampleProc reads /proc/<pid>/stat (utime+stime) and /proc/<pid>/status
// (VmRSS).
func sampleProc(pid int) (procSample, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return procSample{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(s[i+1:])
	// Fields after the command: state is f[0], utime f[11], stime f[12].
	if len(f) < 13 {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	out := procSample{cpu: time.Duration(ut+st) * time.Second / clockTick}
	st2, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, err
	}
	defer func() { _ = st2.Close() }()
	sc := bufio.NewScanner(st2)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			out.rss = kb * 1024
		}
	}
	return out, nil
}

// redisCounts is what a phase reads of Redis: calls of every command
// (commandstats, including commands run inside scripts, excluding INFO),
// script runs (EVAL, EVALSHA) and read events (INFO stats
// total_reads_processed: Redis reads each client request, or each
// pipeline of requests, in one read from its socket, so at one client
// they count round trips; INFO itself adds one).
type redisCounts struct {
	calls, scripts, reads int64
}

// readRedis sends INFO over a plain connection and sums its counters.
func readRedis(addr string) (redisCounts, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return redisCounts{}, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("INFO all\r\n")); err != nil {
		return redisCounts{}, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil || !strings.HasPrefix(head, "$") {
		return redisCounts{}, fmt.Errorf("redis INFO: %q: %w", head, err)
	}
	n, err := strconv.Atoi(strings.TrimSpace(head[1:]))
	if err != nil {
		return redisCounts{}, fmt.Errorf("redis INFO: %q", head)
	}
	buf := make([]byte, n+2)
	if _, err := io.ReadFull(r, buf); err != nil {
		return redisCounts{}, err
	}
	var out redisCounts
	for line := range strings.SplitSeq(string(buf), "\r\n") {
		name, rest, ok := strings.Cut(line, ":")
		if ok && name == "total_reads_processed" {
			out.reads, _ = strconv.ParseInt(rest, 10, 64)
			continue
		}
		if !ok || !strings.HasPrefix(name, "cmdstat_") {
			continue
		}
		calls := int64(0)
		for kv := range strings.SplitSeq(rest, ",") {
			if v, ok := strings.CutPrefix(kv, "calls="); ok {
				calls, _ = strconv.ParseInt(v, 10, 64)
			}
		}
		switch name {
		case "cmdstat_info":
			continue
		case "cmdstat_eval", "cmdstat_evalsha":
			out.scripts += calls
		}
		out.calls += calls
	}
	return out, nil
}

// redisPID reads redis-server's process id (INFO server).
func redisPID(addr string) (int, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return 0, err
	}
	defer func() { _ = c.Close() }()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("INFO server\r\n")); err != nil {
		return 0, err
	}
	r := bufio.NewReader(c)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("redis INFO server: no process_id: %w", err)
		}
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "process_id:"); ok {
			return strconv.Atoi(v)
		}
	}
}

// monitorCounts is what MONITOR saw while it ran: commands clients sent
// (each one round trip, or part of a pipeline) and commands scripts ran.
type monitorCounts struct {
	client, lua int64
	// byName counts client commands by name (evalsha: by script's first
	// command inside is not known, so by name only).
	byName map[string]int64
}

// startMonitor opens a MONITOR connection to addr; stop closes it and
// returns the counts. MONITOR tags commands run by a script "[db lua]".
func startMonitor(addr string) (stop func() (monitorCounts, error), err error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	if _, err := c.Write([]byte("MONITOR\r\n")); err != nil {
		_ = c.Close()
		return nil, err
	}
	r := bufio.NewReader(c)
	if line, err := r.ReadString('\n'); err != nil || !strings.HasPrefix(line, "+OK") {
		_ = c.Close()
		return nil, fmt.Errorf("redis MONITOR: %q: %w", line, err)
	}
	got := monitorCounts{byName: map[string]int64{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			_, rest, ok := strings.Cut(line, " [")
			if !ok {
				continue
			}
			src, _, _ := strings.Cut(rest, "]")
			switch {
			case strings.HasSuffix(src, " lua"):
				got.lua++
			case strings.Contains(rest, `"monitor"`), strings.Contains(rest, `"info"`):
			default:
				got.client++
				if _, args, ok := strings.Cut(rest, `] "`); ok {
					name, _, _ := strings.Cut(args, `"`)
					got.byName[strings.ToLower(name)]++
				}
			}
		}
	}()
	return func() (monitorCounts, error) {
		_ = c.Close()
		<-done
		return got, nil
	}, nil
}
