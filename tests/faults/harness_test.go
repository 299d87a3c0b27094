package faults

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/redistest"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
)

const (
	// adminKey is an admin API key: it may execute and manage tokens.
	adminKey  = "ops-admin-key-0123456789abcdef"
	haToken   = "ha-1-token-0123456789abcdef"
	soloToken = "solo-1-token-0123456789abcdef"

	clusterHA   = "ha-1"
	clusterSolo = "solo-1"

	// visibility is the gateways' bridge visibility timeout: an unacked
	// command is redelivered after it. Short, so redelivery shows up in a
	// scenario's few seconds; far above the ack round trip on loopback.
	visibility = 3 * time.Second
	// heartbeat is the gateways' SSE heartbeat (presence TTL is 3x).
	heartbeat = time.Second
	// cmdTimeout is each command's timeout_seconds.
	cmdTimeout = 30 * time.Second
	// requestMargin is the gateway's wait for the dispatcher beyond a
	// command's timeout (httpapi Config.RequestMargin, 5s): the longest a
	// request may take by design is cmdTimeout + requestMargin.
	requestMargin = 5 * time.Second
	// hangSlack is how long past its timeout a request may take before the
	// client calls it a hang.
	hangSlack = 10 * time.Second
)

// binDir holds the binaries TestMain builds: the four services and
// nats-server.
var binDir string

func TestMain(m *testing.M) {
	if os.Getenv("KUBENTLY_TEST_KUBECONFIG") == "" && !hasDefaultTestbed() {
		fmt.Println("faults: no kube-apiserver testbed; skipping (set KUBENTLY_TEST_KUBECONFIG)")
		os.Exit(0)
	}
	os.Exit(testkit.MainWithBinaries(m, "faults", &binDir, testkit.StackCommands()...))
}

func hasDefaultTestbed() bool {
	_, err := os.Stat("/tmp/kubently-testbed/kubeconfig")
	return err == nil
}

// ---------------------------------------------------------------------------
// Processes

// proc is one running binary whose combined output is captured.
type proc struct{ *testkit.Proc }

// startProc starts bin from binDir with env on top of PATH, a fresh HOME
// and JSON logs. FAULTS_LOG_DIR, when set, keeps every process's output.
func startProc(t testing.TB, name, bin string, args, env []string) *proc {
	t.Helper()
	return &proc{testkit.StartProc(t, testkit.ProcConfig{
		Name: name, Path: filepath.Join(binDir, bin), Args: args,
		Env:    append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "KUBENTLY_LOG_FORMAT=json"}, env...),
		LogDir: os.Getenv("FAULTS_LOG_DIR"),
	})}
}

// logLines returns the process's JSON log records whose msg is msg.
func (p *proc) logLines(msg string) []map[string]any {
	var recs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(p.Out.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	needle := `"msg":"` + msg + `"`
	for sc.Scan() {
		line := sc.Bytes()
		if !bytes.Contains(line, []byte(needle)) {
			continue
		}
		var rec map[string]any
		if json.Unmarshal(line, &rec) == nil {
			recs = append(recs, rec)
		}
	}
	return recs
}

func (p *proc) count(msg string) int { return len(p.logLines(msg)) }

// ---------------------------------------------------------------------------
// nats-server

// natsServer is a real nats-server process with JetStream, restartable on
// the same port and store directory.
type natsServer struct {
	t     testing.TB
	name  string
	port  int
	store string
	extra []string // cluster arguments; nil for a single node
	// conf is the generated authorization config (natstest.ConfigFile):
	// every service connects as its role.
	conf string
	// monitor is the monitoring base URL (cluster nodes only).
	monitor string
	p       *proc
}

func startNATS(t testing.TB) *natsServer {
	t.Helper()
	n := &natsServer{t: t, name: "nats-server", port: testkit.FreePort(t), store: t.TempDir(), conf: natstest.ConfigFile(t)}
	n.start()
	return n
}

// startNATSCluster starts three nats-server nodes routed into one
// JetStream cluster and waits until each reports JetStream healthy.
func startNATSCluster(t testing.TB) []*natsServer {
	t.Helper()
	routes := make([]string, 3)
	cports := make([]int, 3)
	for i := range cports {
		cports[i] = testkit.FreePort(t)
		routes[i] = fmt.Sprintf("nats://127.0.0.1:%d", cports[i])
	}
	nodes := make([]*natsServer, 3)
	conf := natstest.ConfigFile(t)
	for i := range nodes {
		mon := testkit.FreePort(t)
		nodes[i] = &natsServer{t: t, name: fmt.Sprintf("nats-%d", i), port: testkit.FreePort(t), store: t.TempDir(), conf: conf, extra: []string{
			"-n", fmt.Sprintf("nats-%d", i), "-m", strconv.Itoa(mon),
			"--cluster_name", "kubently-faults", "--cluster", routes[i], "--routes", strings.Join(routes, ","),
		}}
		nodes[i].monitor = fmt.Sprintf("http://127.0.0.1:%d", mon)
		nodes[i].start()
	}
	for _, n := range nodes {
		testkit.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			resp, err := http.Get(n.monitor + "/healthz")
			if err != nil {
				return err
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s /healthz: %d %s", n.name, resp.StatusCode, b)
			}
			return nil
		})
	}
	return nodes
}

// connections returns the node's client connection count (/varz).
func (n *natsServer) connections() int {
	resp, err := http.Get(n.monitor + "/varz")
	if err != nil {
		return -1
	}
	defer func() { _ = resp.Body.Close() }()
	var v struct {
		Connections int `json:"connections"`
	}
	if json.NewDecoder(resp.Body).Decode(&v) != nil {
		return -1
	}
	return v.Connections
}

func (n *natsServer) URL() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsServer) start() {
	n.t.Helper()
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		n.p = startProc(n.t, n.name, "nats-server",
			append([]string{"-c", n.conf, "-a", "127.0.0.1", "-p", strconv.Itoa(n.port), "-js", "-sd", n.store}, n.extra...), nil)
		if err = waitTCP(n.p, fmt.Sprintf("127.0.0.1:%d", n.port), 10*time.Second); err == nil {
			return
		}
		n.p.Kill()
	}
	n.t.Fatalf("nats-server on port %d: %v", n.port, err)
}

// Restart stops the server (SIGTERM: a clean shutdown) and starts it on
// the same port and JetStream directory after down.
func (n *natsServer) Restart(down time.Duration) {
	n.t.Helper()
	n.p.Stop(n.t)
	time.Sleep(down)
	n.start()
}

// waitTCP waits until addr accepts connections or p exits.
func waitTCP(p *proc, addr string, total time.Duration) error {
	deadline := time.Now().Add(total)
	for {
		if p.Exited() {
			return fmt.Errorf("%s exited: %s", p.Name, testkit.Tail(p.Out.String(), 10))
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// TCP proxy

// proxy is a round-robin TCP proxy to live backends. A backend that
// refuses the dial is skipped. Drop closes every proxied connection at
// once (both directions), which an HTTP peer sees as a reset/EOF. Freeze
// turns every proxied connection into a black hole instead: open, but
// passing nothing more in either direction (not even a close), as a
// middlebox that lost its state or a vanished host would.
type proxy struct {
	ln net.Listener

	mu       sync.Mutex
	backends []string
	next     int
	pipes    map[*pipe]struct{}
}

func startProxy(t testing.TB, backends ...string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, backends: backends, pipes: map[*pipe]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.Drop() })
	return p
}

func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// pipe is one proxied connection: the client's side and the backend's.
type pipe struct {
	client, backend net.Conn
	// frozen is closed by Freeze: nothing read after it is passed on.
	frozen     chan struct{}
	freezeOnce sync.Once
	// done is closed when both sides are closed.
	done      chan struct{}
	closeOnce sync.Once
}

// copy passes src's bytes to dst until src ends or the pipe freezes;
// frozen, it holds what it read and waits for the pipe to be closed,
// passing on neither data nor src's end.
func (pp *pipe) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		select {
		case <-pp.frozen:
			<-pp.done
			return
		default:
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) handle(c net.Conn) {
	p.mu.Lock()
	n := len(p.backends)
	start := p.next
	p.next++
	backends := append([]string(nil), p.backends...)
	p.mu.Unlock()
	var up net.Conn
	for i := range n {
		var err error
		if up, err = net.DialTimeout("tcp", backends[(start+i)%n], time.Second); err == nil {
			break
		}
	}
	if up == nil {
		_ = c.Close()
		return
	}
	pp := &pipe{client: c, backend: up, frozen: make(chan struct{}), done: make(chan struct{})}
	p.mu.Lock()
	p.pipes[pp] = struct{}{}
	p.mu.Unlock()
	go func() { pp.copy(up, c); p.closePipe(pp, false) }()
	pp.copy(c, up)
	p.closePipe(pp, false)
}

// closePipe closes both sides of pp (with an RST if hard) and forgets it.
func (p *proxy) closePipe(pp *pipe, hard bool) {
	pp.closeOnce.Do(func() {
		for _, c := range []net.Conn{pp.client, pp.backend} {
			if tc, ok := c.(*net.TCPConn); ok && hard {
				_ = tc.SetLinger(0) // RST, not FIN: a hard cut
			}
			_ = c.Close()
		}
		close(pp.done)
		p.mu.Lock()
		delete(p.pipes, pp)
		p.mu.Unlock()
	})
}

func (p *proxy) snapshot() []*pipe {
	p.mu.Lock()
	defer p.mu.Unlock()
	pipes := make([]*pipe, 0, len(p.pipes))
	for pp := range p.pipes {
		pipes = append(pipes, pp)
	}
	return pipes
}

// Drop closes every open proxied connection and returns how many client
// connections it cut.
func (p *proxy) Drop() int {
	pipes := p.snapshot()
	for _, pp := range pipes {
		p.closePipe(pp, true)
	}
	return len(pipes)
}

// Freeze black-holes every open proxied connection, in both directions,
// and returns how many client connections it froze. They stay open until
// Drop (the test's cleanup); connections made after Freeze are proxied as
// usual.
func (p *proxy) Freeze() int {
	pipes := p.snapshot()
	for _, pp := range pipes {
		pp.freezeOnce.Do(func() { close(pp.frozen) })
	}
	return len(pipes)
}

// ---------------------------------------------------------------------------
// The stack

// Harness is one Kubently deployment of real processes: nats-server,
// redis-server, session, dispatcher, two gateways (gw-a, gw-b) behind
// two proxies (one for executors, one for clients, so either side can be
// cut alone), two executors for ha-1 and one for solo-1.
type Harness struct {
	t          testing.TB
	kubeconfig string
	NATS       *natsServer   // the single node; nil with a cluster
	NATSNodes  []*natsServer // the cluster's nodes; nil with a single node
	natsURL    string
	replicas   int           // audit stream replicas
	visibility time.Duration // the gateways' visibility timeout
	// ackOnReceipt: the executor that acks on receipt (options).
	ackOnReceipt string
	Redis        *redistest.Server
	Session      *proc
	Dispatcher   *proc
	DispOps      string // dispatcher's ops address (/readyz)
	SessOps      string // session's ops address (/readyz)
	Gateways     map[string]*proc
	GWAddr       map[string]string
	ExecProxy    *proxy
	Client       *proxy
	Executors    map[string]*proc // by executor id

	mu       sync.Mutex
	answered map[string]bool // command ids any client got an answer for
	// calls counts every execute request any client of the harness sent
	// (the load's and the scenario's own probes).
	calls atomic.Int64
}

// executorsOf lists the executor ids started for cluster.
func (h *Harness) executorsOf(cluster string) []string {
	var ids []string
	for id := range h.Executors {
		if strings.HasPrefix(id, cluster+"-") {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// options select a harness variant; the zero value is the default.
type options struct {
	// natsCluster runs a 3-node JetStream cluster (audit replicas 3)
	// instead of one nats-server.
	natsCluster bool
	// visibility overrides the gateways' visibility timeout; zero means
	// the visibility constant.
	visibility time.Duration
	// ackOnReceipt names an executor that acks each command as it
	// receives it (KUBENTLY_EXECUTOR_ACK_DELAY negative) instead of
	// folding the ack into a result posted within the ack delay.
	ackOnReceipt string
}

func newHarness(t testing.TB) *Harness {
	t.Helper()
	return newHarnessWith(t, options{})
}

func newHarnessWith(t testing.TB, opt options) *Harness {
	t.Helper()
	h := &Harness{
		t: t, kubeconfig: testbed.Kubeconfig(t),
		Gateways: map[string]*proc{}, GWAddr: map[string]string{}, Executors: map[string]*proc{},
		answered: map[string]bool{}, visibility: cmp.Or(opt.visibility, visibility), ackOnReceipt: opt.ackOnReceipt,
	}
	if opt.natsCluster {
		h.NATSNodes = startNATSCluster(t)
		var urls []string
		for _, n := range h.NATSNodes {
			urls = append(urls, n.URL())
		}
		h.natsURL, h.replicas = strings.Join(urls, ","), 3
	} else {
		h.NATS = startNATS(t)
		h.natsURL, h.replicas = h.NATS.URL(), 1
	}
	// Append-only, so the registry (executor tokens) survives a restart,
	// as a production Redis with persistence would.
	h.Redis = redistest.StartWith(t, redistest.Config{AppendOnly: true})
	h.DispOps, h.SessOps = testkit.FreeAddr(t), testkit.FreeAddr(t)
	h.Session = startProc(t, "session", "session", nil, append(h.platform(natsutil.RoleSession), "KUBENTLY_OPS_ADDR="+h.SessOps))
	h.Dispatcher = startProc(t, "dispatcher", "dispatcher", nil, append(h.platform(natsutil.RoleDispatcher), "KUBENTLY_OPS_ADDR="+h.DispOps))
	for _, name := range []string{"gw-a", "gw-b"} {
		h.startGateway(name)
	}
	h.ExecProxy = startProxy(t, h.GWAddr["gw-a"], h.GWAddr["gw-b"])
	h.Client = startProxy(t, h.GWAddr["gw-a"], h.GWAddr["gw-b"])
	// Every service has finished starting before any fault.
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error { return h.ready(h.DispOps) })
	testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error { return h.ready(h.SessOps) })
	// Started one by one through the round-robin proxy: ha-1-a on one
	// gateway, ha-1-b on the other, solo-1-a on the first again.
	h.startExecutor(clusterHA, "ha-1-a", haToken)
	h.startExecutor(clusterHA, "ha-1-b", haToken)
	h.startExecutor(clusterSolo, "solo-1-a", soloToken)
	// Both clusters answer before any fault.
	for _, cl := range []string{clusterHA, clusterSolo} {
		testkit.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			o := h.execute(context.Background(), cl)
			if o.kind != outOK {
				return fmt.Errorf("%s: %s", cl, o)
			}
			return nil
		})
	}
	return h
}

// platform is the environment every service process shares, with role's
// NATS credentials.
func (h *Harness) platform(role natsutil.Role) []string {
	return append([]string{"KUBENTLY_NATS_URL=" + h.natsURL, "KUBENTLY_REDIS_URL=" + h.Redis.URL(), "KUBENTLY_LOG_LEVEL=info",
		"KUBENTLY_AUDIT_REPLICAS=" + strconv.Itoa(h.replicas)}, natstest.Env(role)...)
}

func (h *Harness) startGateway(name string) {
	h.t.Helper()
	addr := testkit.FreeAddr(h.t)
	h.GWAddr[name] = addr
	h.Gateways[name] = startProc(h.t, name, "gateway", nil, append(h.platform(natsutil.RoleGateway),
		"KUBENTLY_GATEWAY_ADDR="+addr,
		"KUBENTLY_OPS_ADDR="+testkit.FreeAddr(h.t), // each replica its own (default :9090)
		"KUBENTLY_GATEWAY_NAME="+name,
		"KUBENTLY_API_KEYS=ops:admin:"+adminKey,
		"KUBENTLY_AGENT_TOKENS="+clusterHA+":"+haToken+","+clusterSolo+":"+soloToken,
		"KUBENTLY_SSE_HEARTBEAT="+heartbeat.String(),
		"KUBENTLY_BRIDGE_VISIBILITY_TIMEOUT="+h.visibility.String(),
		"KUBENTLY_RATE_LIMIT_PER_IDENTITY=0",
		"KUBENTLY_RATE_LIMIT_PER_CLUSTER=0",
	))
	testkit.CheckFor(h.t, 20*time.Second, 100*time.Millisecond, func() error { return h.ready(addr) })
}

func (h *Harness) ready(addr string) error { return testkit.Ready("http://" + addr) }

// startExecutor starts an executor through the executor proxy and waits
// until it holds a stream.
func (h *Harness) startExecutor(cluster, id, token string) *proc {
	h.t.Helper()
	env := []string{
		"KUBENTLY_API_URL=" + h.ExecProxy.URL(), "CLUSTER_ID=" + cluster, "KUBENTLY_TOKEN=" + token,
		"KUBENTLY_KUBECONFIG=" + h.kubeconfig, "KUBENTLY_EXECUTOR_ID=" + id, "KUBENTLY_LOG_LEVEL=info",
	}
	if id == h.ackOnReceipt {
		env = append(env, "KUBENTLY_EXECUTOR_ACK_DELAY=-1ms")
	}
	p := startProc(h.t, id, "executor", nil, env)
	h.Executors[id] = p
	testkit.CheckFor(h.t, 20*time.Second, 50*time.Millisecond, func() error {
		if p.count("connected to gateway") == 0 {
			return fmt.Errorf("%s not connected", id)
		}
		return nil
	})
	return p
}

// streamsOn counts the executor streams gateway gw has open for the
// executor id (from its "executor stream open/closed" logs).
func (h *Harness) streamsOn(gw, id string) int {
	n := 0
	for _, msg := range []string{"executor stream open", "executor stream closed"} {
		for _, r := range h.Gateways[gw].logLines(msg) {
			if r["executor_id"] == id {
				if msg == "executor stream open" {
					n++
				} else {
					n--
				}
			}
		}
	}
	return n
}

// connects returns how many times each executor connected.
func (h *Harness) connects() map[string]int {
	m := map[string]int{}
	for id, p := range h.Executors {
		m[id] = p.count("connected to gateway")
	}
	return m
}

// waitReconnected waits until every live executor of ids connected again
// after before (a connects() snapshot).
func (h *Harness) waitReconnected(ids []string, before map[string]int, total time.Duration) {
	h.t.Helper()
	testkit.CheckFor(h.t, total, 100*time.Millisecond, func() error {
		for _, id := range ids {
			p := h.Executors[id]
			if p.Exited() {
				continue
			}
			if p.count("connected to gateway") <= before[id] {
				return fmt.Errorf("%s has not reconnected", id)
			}
		}
		return nil
	})
}

// executedBy returns, per command id, the executors of cluster that
// logged "command executed" for it (one entry per execution).
func (h *Harness) executedBy(cluster string) map[string][]string {
	m := map[string][]string{}
	for _, id := range h.executorsOf(cluster) {
		for _, r := range h.Executors[id].logLines("command executed") {
			if cid, _ := r["command_id"].(string); cid != "" {
				m[cid] = append(m[cid], id)
			}
		}
	}
	return m
}

// received returns, per command id, the executors (of any cluster) that
// logged its arrival receipt ("command received", written before the
// command is handed on to run), one entry per arrival.
func (h *Harness) received() map[string][]string {
	m := map[string][]string{}
	for id, p := range h.Executors {
		for _, r := range p.logLines("command received") {
			if cid, _ := r["command_id"].(string); cid != "" {
				m[cid] = append(m[cid], id)
			}
		}
	}
	return m
}

// executed returns, per command id, how many times any executor of
// cluster logged "command executed".
func (h *Harness) executed(cluster string) map[string]int {
	m := map[string]int{}
	for _, id := range h.executorsOf(cluster) {
		for _, r := range h.Executors[id].logLines("command executed") {
			if cid, _ := r["command_id"].(string); cid != "" {
				m[cid]++
			}
		}
	}
	return m
}

// ---------------------------------------------------------------------------
// Client

type outcomeKind string

const (
	outOK        outcomeKind = "ok"
	outRefused   outcomeKind = "refused"     // 503 executor_unavailable
	outTimeout   outcomeKind = "timeout"     // 504, or a result with status timeout
	outUnavail   outcomeKind = "unavailable" // 503 unavailable, 500 internal
	outTransport outcomeKind = "transport"   // connection error to the gateway
	outHang      outcomeKind = "hang"        // no answer within timeout + slack
	outLost      outcomeKind = "executor_lost"
	outNotDisp   outcomeKind = "not_dispatched" // 503 unavailable, reason not_dispatched
	outOther     outcomeKind = "other"
)

type outcome struct {
	kind      outcomeKind
	code      int
	errCode   string
	reason    string
	commandID string
	msg       string
	start     time.Time
	took      time.Duration
}

func (o outcome) String() string {
	return fmt.Sprintf("%s (http %d %s %s) after %v", o.kind, o.code, o.errCode, o.msg, o.took.Round(time.Millisecond))
}

var httpClient = &http.Client{
	Timeout:   cmdTimeout + hangSlack,
	Transport: &http.Transport{MaxIdleConnsPerHost: 16, IdleConnTimeout: 30 * time.Second},
}

// execute runs `get ns -o name` on cluster through the client proxy.
func (h *Harness) execute(ctx context.Context, cluster string) outcome {
	h.calls.Add(1)
	o := h.executeAt(ctx, h.Client.URL(), cluster)
	if o.commandID != "" {
		h.mu.Lock()
		h.answered[o.commandID] = true
		h.mu.Unlock()
	}
	return o
}

func (h *Harness) executeAt(ctx context.Context, base, cluster string) outcome {
	body, _ := json.Marshal(map[string]any{
		"cluster_id": cluster, "argv": []string{"get", "ns", "-o", "name"}, "timeout_seconds": int(cmdTimeout / time.Second),
	})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/execute", bytes.NewReader(body))
	req.Header.Set(contracts.HeaderAPIKey, adminKey)
	req.Header.Set("Content-Type", "application/json")
	o := outcome{start: time.Now()}
	resp, err := httpClient.Do(req)
	if err != nil {
		o.took = time.Since(o.start)
		o.msg = err.Error()
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			o.kind = outHang
		} else {
			o.kind = outTransport
		}
		return o
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	o.took, o.code = time.Since(o.start), resp.StatusCode
	if err != nil {
		o.kind, o.msg = outTransport, err.Error()
		return o
	}
	if resp.StatusCode == http.StatusOK {
		var res contracts.CommandResult
		if err := json.Unmarshal(raw, &res); err != nil {
			o.kind, o.msg = outOther, "bad result: "+err.Error()
			return o
		}
		o.commandID = res.CommandID
		switch {
		case res.Status == contracts.StatusSuccess && strings.Contains(res.Output, "namespace/"):
			o.kind = outOK
		case res.Status == contracts.StatusTimeout:
			o.kind, o.msg = outTimeout, res.Error
		default:
			o.kind, o.msg = outOther, fmt.Sprintf("status %s: %s", res.Status, res.Error)
		}
		return o
	}
	var e contracts.Error
	_ = json.Unmarshal(raw, &e)
	var res contracts.CommandResult // a 504 carries the command's id
	if json.Unmarshal(raw, &res) == nil && res.CommandID != "" {
		o.commandID = res.CommandID
		if e.Message == "" {
			e.Message = res.Error
		}
	}
	o.errCode, o.reason, o.msg = string(e.Code), e.Reason, e.Message
	if o.msg == "" {
		o.msg = string(raw)
	}
	if o.commandID == "" {
		// Errors about a command name it in their message.
		if m := commandInMessage.FindStringSubmatch(o.msg); m != nil {
			o.commandID = m[1]
		}
	}
	switch {
	case e.Code == contracts.CodeExecutorUnavailable:
		o.kind = outRefused
	case e.Code == contracts.CodeExecutorLost:
		o.kind = outLost
	case e.Code == contracts.CodeUnavailable && e.Reason == contracts.ReasonNotDispatched:
		o.kind = outNotDisp
	case e.Code == contracts.CodeTimeout || resp.StatusCode == http.StatusGatewayTimeout:
		o.kind = outTimeout
	case e.Code == contracts.CodeUnavailable || e.Code == contracts.CodeInternal ||
		resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusInternalServerError ||
		resp.StatusCode == http.StatusBadGateway:
		o.kind = outUnavail
	default:
		o.kind = outOther
	}
	return o
}

// commandInMessage finds the command id an error message names.
var commandInMessage = regexp.MustCompile(`command ([0-9a-f]{32})\b`)

// load sends commands to a cluster from workers goroutines, each pausing
// gap between requests, until stop is called; stop waits for the
// in-flight requests (each bounded by the client timeout).
type load struct {
	cluster string
	sent    atomic.Int64
	mu      sync.Mutex
	results []outcome
	stopCh  chan struct{}
	wg      sync.WaitGroup
}

func (h *Harness) startLoad(cluster string, workers int, gap time.Duration) *load {
	l := &load{cluster: cluster, stopCh: make(chan struct{})}
	for range workers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stopCh:
					return
				default:
				}
				l.sent.Add(1)
				o := h.execute(context.Background(), cluster)
				l.mu.Lock()
				l.results = append(l.results, o)
				l.mu.Unlock()
				select {
				case <-l.stopCh:
					return
				case <-time.After(gap):
				}
			}
		}()
	}
	return l
}

func (l *load) stop() []outcome {
	close(l.stopCh)
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]outcome(nil), l.results...)
}

// window is a span of time during which a fault is in effect: refusals
// inside it are expected.
type window struct{ from, to time.Time }

func (w window) contains(o outcome) bool {
	end := o.start.Add(o.took)
	return !end.Before(w.from) && !o.start.After(w.to)
}

// tally summarises one scenario. Its counts rest on the executors'
// receipts (an arrival line logged before a command runs, and a finish
// line after), not on what the services claim.
type tally struct {
	sent, executed, ok, duplicates int
	// probes counts requests the scenario sent outside the load (e.g.
	// "does it work again" checks); their commands are among executed.
	probes                  int
	refused, refusedOutside int
	// diedWith counts commands answered executor_lost that the killed
	// executor had received (its arrival receipt is in its log) and no
	// surviving executor ran: at most once, lost with it.
	diedWith int
	// rerun counts commands the killed executor ran and one survivor ran
	// again: the kill came before the command was acked (by its result
	// post, or by the ack sent after the executor's ack delay), so it was
	// redelivered.
	rerun int
	// lostWrong counts executor_lost answers not backed by a receipt of
	// the killed executor (or with no executor killed).
	lostWrong int
	// dropped counts timeouts of commands a surviving executor ran: the
	// result existed but never reached its caller.
	dropped int
	// notDispatched counts requests settled not_dispatched; ranAnyway
	// those of them that some executor received all the same (must be 0:
	// not_dispatched promises the command never ran and never will).
	notDispatched, ranAnyway        int
	timeout, unavailable, transport int
	hang, other                     int
	// unanswered counts commands an executor ran whose caller never
	// learnt the command's id (its request failed before the result, and
	// its error did not name the command).
	unanswered int
	maxTook    time.Duration
	problems   []string // first few unexpected outcomes
}

func (h *Harness) tally(results []outcome, sent int, fault window, killed string, earlier map[string]int) tally {
	tl := tally{sent: sent}
	exec := h.executed(clusterHA)
	for id := range earlier {
		if exec[id] == earlier[id] {
			delete(exec, id) // ran before the scenario, and only then
		}
	}
	by := h.executedBy(clusterHA)
	recv := h.received()
	h.mu.Lock()
	for id := range exec {
		if !h.answered[id] {
			tl.unanswered++
			if len(tl.problems) < 8 {
				tl.problems = append(tl.problems, fmt.Sprintf("command %s ran on %v but no caller learnt its id", id, by[id]))
			}
		}
	}
	h.mu.Unlock()
	for id, n := range exec {
		tl.executed++
		// Run twice, or received by two executors that both live on (a
		// killed executor's receipts may be followed by a redelivery of
		// what it never acknowledged). A command the killed executor ran
		// and a survivor ran again was not acked when the kill came (it
		// finished, but its result post, which acks it, had not landed):
		// at least once up to the ack, counted in rerun.
		live := map[string]bool{}
		for _, e := range recv[id] {
			if e != killed {
				live[e] = true
			}
		}
		byKilled := 0
		for _, e := range by[id] {
			if killed != "" && e == killed {
				byKilled++
			}
		}
		if n == 2 && byKilled == 1 && len(live) == 1 {
			tl.rerun++
			continue
		}
		if n > 1 || len(live) > 1 {
			tl.duplicates++
			if len(tl.problems) < 8 {
				tl.problems = append(tl.problems, fmt.Sprintf("command %s executed %d times, received by %v", id, n, recv[id]))
			}
		}
	}
	for _, o := range results {
		tl.maxTook = max(tl.maxTook, o.took)
		switch o.kind {
		case outOK:
			tl.ok++
			continue
		case outRefused:
			tl.refused++
			if !fault.contains(o) {
				tl.refusedOutside++
			} else {
				continue
			}
		case outLost:
			survivor := false
			for _, e := range by[o.commandID] {
				survivor = survivor || e != killed
			}
			if killed != "" && slices.Contains(recv[o.commandID], killed) && !survivor && strings.Contains(o.msg, killed) {
				tl.diedWith++
				continue
			}
			tl.lostWrong++
			o.msg = fmt.Sprintf("%s; received by %v, executed by %v", o.msg, recv[o.commandID], by[o.commandID])
		case outNotDisp:
			tl.notDispatched++
			if len(recv[o.commandID]) == 0 {
				continue
			}
			tl.ranAnyway++
			o.msg = fmt.Sprintf("%s; yet received by %v", o.msg, recv[o.commandID])
		case outTimeout:
			survivor := false
			for _, e := range by[o.commandID] {
				survivor = survivor || e != killed
			}
			if survivor {
				tl.dropped++
			} else {
				tl.timeout++
			}
			o.msg = fmt.Sprintf("command %s received by %v, executed by %v: %s", o.commandID, recv[o.commandID], by[o.commandID], o.msg)
		case outUnavail:
			tl.unavailable++
		case outTransport:
			tl.transport++
		case outHang:
			tl.hang++
		default:
			tl.other++
		}
		if len(tl.problems) < 12 {
			tl.problems = append(tl.problems, fmt.Sprintf("%s at +%v", o, o.start.Sub(fault.from).Round(time.Millisecond)))
		}
	}
	return tl
}

func (tl tally) log(t testing.TB, scenario string, took time.Duration) {
	t.Helper()
	t.Logf("\n%-20s %5s %6s %8s %5s %4s %5s %9s %7s %7s %6s %7s %7s %7s %9s %4s %5s %10s %8s %7s\n%-20s %5d %6d %8d %5d %4d %5d %9d %7d %7d %6d %7d %7d %7d %9d %4d %5d %10d %8v %7v",
		"scenario", "sent", "probes", "executed", "ok", "dup", "lost", "died_with", "dropped", "not_dis", "ranNd", "refused", "timeout", "unavail", "transport", "hang", "other", "unanswered", "max_req", "took",
		scenario, tl.sent, tl.probes, tl.executed, tl.ok, tl.duplicates, tl.lost(), tl.diedWith, tl.dropped, tl.notDispatched, tl.ranAnyway, tl.refused, tl.timeout, tl.unavailable, tl.transport, tl.hang, tl.other, tl.unanswered,
		tl.maxTook.Round(time.Millisecond), took.Round(time.Second))
	for _, p := range tl.problems {
		t.Logf("  %s: %s", scenario, p)
	}
}

// waitRecovered waits (up to total for each step) until the dispatcher is
// ready again and a command on ha-1 succeeds, logs how long after the fault
// (at from; after names it) that was, and returns that moment.
func (h *Harness) waitRecovered(t testing.TB, total time.Duration, from time.Time, after string) time.Time {
	t.Helper()
	testkit.CheckFor(t, total, 100*time.Millisecond, func() error { return h.ready(h.DispOps) })
	t.Logf("dispatcher /readyz ready %v after %s", time.Since(from).Round(time.Millisecond), after)
	testkit.CheckFor(t, total, 100*time.Millisecond, func() error {
		if o := h.execute(context.Background(), clusterHA); o.kind != outOK {
			return fmt.Errorf("ha-1 after %s: %s", after, o)
		}
		return nil
	})
	recovered := time.Now()
	t.Logf("commands succeed again %v after %s", recovered.Sub(from).Round(time.Millisecond), after)
	return recovered
}
