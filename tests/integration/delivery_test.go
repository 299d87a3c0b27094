package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	dispatchapp "kubently.io/services/dispatcher/app"
	executorapp "kubently.io/services/executor/app"
	kstack "kubently.io/tests/stack"
)

// Clusters of the delivery tests.
const (
	haCluster    = "ha-1"    // two executors
	flakyCluster = "flaky-1" // no executor until the test starts one
	flakyToken   = "flaky-token-0123456789abcdef"
	fullCluster  = "full-1" // a stand-in stream that never answers
	lostCluster  = "lost-1" // an executor the test starts against a hanging API server, then stops
	lostToken    = "lost-token-0123456789abcdef"
	queueLimit   = 3 // the dispatcher's per-cluster queue limit
)

// executions counts, per command id, the "command executed" log lines
// of every executor.
func executions(logs string) map[string]int {
	out := map[string]int{}
	for line := range strings.SplitSeq(logs, "\n") {
		if !strings.Contains(line, `"msg":"command executed"`) {
			continue
		}
		var rec struct {
			CommandID string `json:"command_id"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.CommandID != "" {
			out[rec.CommandID]++
		}
	}
	return out
}

func TestDelivery(t *testing.T) {
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	s := kstack.Start(t, kstack.Config{
		Clusters: []kstack.Cluster{
			{ID: haCluster, Token: "ha-token-0123456789abcdef", REST: rc, Executors: 2},
			{ID: flakyCluster, Token: flakyToken},
			{ID: fullCluster, Token: "full-token-0123456789abcdef"},
			{ID: lostCluster, Token: lostToken},
		},
		Dispatcher: func(d *dispatchapp.Deps) { d.MaxQueue, d.ExecutorLostGrace = queueLimit, time.Second },
		LogLevel:   "info",
	})

	t.Run("two executors run each command once", func(t *testing.T) {
		const n = 40
		var (
			mu  sync.Mutex
			ids []string
			wg  sync.WaitGroup
		)
		for i := range n {
			if i%queueLimit == 0 {
				wg.Wait() // waves within the queue limit and the executors' pools
			}
			wg.Go(func() {
				r, res, err := s.Execute(aliceKey, haCluster, "get", "ns", "-o", "name")
				if err != nil || r.Status != http.StatusOK || res.Status != contracts.StatusSuccess {
					t.Errorf("command %d: %v %d %s %q", i, err, r.Status, res.Status, res.Error)
					return
				}
				mu.Lock()
				ids = append(ids, res.CommandID)
				mu.Unlock()
			})
		}
		wg.Wait()
		ran := executions(s.Logs.String())
		dup, lost := 0, 0
		for _, id := range ids {
			switch ran[id] {
			case 0:
				lost++
			case 1:
			default:
				dup++
			}
		}
		byExec := map[string]int{}
		for line := range strings.SplitSeq(s.Logs.String(), "\n") {
			if strings.Contains(line, `"msg":"command executed"`) && strings.Contains(line, haCluster) {
				for _, e := range []string{`"executor":"` + haCluster + `-exec"`, `"executor":"` + haCluster + `-exec-2"`} {
					if strings.Contains(line, e) {
						byExec[e]++
					}
				}
			}
		}
		t.Logf("sent %d, answered %d, duplicates %d, lost %d, per executor %v", n, len(ids), dup, lost, byExec)
		if len(ids) != n || dup != 0 || lost != 0 {
			t.Fatalf("sent %d answered %d duplicates %d lost %d; want every command run exactly once", n, len(ids), dup, lost)
		}
	})

	t.Run("a command claimed by a stream that dies unacked is redelivered", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		// A stand-in executor: it connects, takes one command, never acks,
		// and hangs up.
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/executor/stream", nil)
		req.Header.Set("Authorization", "Bearer "+flakyToken)
		req.Header.Set(contracts.HeaderClusterID, flakyCluster)
		req.Header.Set(contracts.HeaderExecutorID, "flaky-standin")
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stand-in stream: %v %v", err, resp)
		}
		lines := bufio.NewScanner(resp.Body)
		lines.Buffer(make([]byte, 1<<20), 1<<20)
		testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			conns, err := s.Store.Connected(ctx, flakyCluster)
			if err != nil || len(conns) == 0 {
				return fmt.Errorf("stand-in not present yet: %w", err)
			}
			return nil
		})
		type answer struct {
			r   kstack.Response
			res contracts.CommandResult
			err error
		}
		done := make(chan answer, 1)
		go func() {
			r, res, err := s.Execute(aliceKey, flakyCluster, "get", "ns", "-o", "name")
			done <- answer{r, res, err}
		}()
		claimed := ""
		for lines.Scan() {
			line := lines.Text()
			if id, ok := strings.CutPrefix(line, "id: "); ok && id != "" {
				claimed = id
				break
			}
		}
		resp.Body.Close()
		cancel()
		if claimed == "" {
			t.Fatalf("the stand-in received no command: %v", lines.Err())
		}
		// The real executor connects after the stand-in died.
		ectx, ecancel := context.WithCancel(context.Background())
		var ewg sync.WaitGroup
		defer func() { ecancel(); ewg.Wait() }()
		elogs := &testkit.SyncBuffer{}
		ewg.Go(func() {
			cfg := executorapp.Config{APIURL: s.URL, Cluster: flakyCluster, Token: flakyToken, Workers: 2, Queue: 4,
				MaxOutputBytes: 64 << 10, ExecutorID: "flaky-real", KubeQPS: 100, KubeBurst: 100}
			_ = executorapp.RunWith(ectx, cfg, rc, logging.New(logging.Config{Format: "json", Output: elogs}))
		})
		select {
		case a := <-done:
			if a.err != nil || a.r.Status != http.StatusOK || a.res.Status != contracts.StatusSuccess || a.res.CommandID != claimed {
				t.Fatalf("redelivered command: %v %d %s id %s (claimed %s) %q", a.err, a.r.Status, a.res.Status, a.res.CommandID, claimed, a.res.Error)
			}
		case <-time.After(40 * time.Second):
			t.Fatal("the command was not redelivered before its deadline")
		}
		if n := executions(s.Logs.String() + elogs.String())[claimed]; n != 1 {
			t.Fatalf("redelivered command ran %d times; want once", n)
		}
	})

	t.Run("a command still running after the ack delay is answered executor_lost when its executor dies", func(t *testing.T) {
		// The executor acks a command not answered within its ack delay
		// (the default), which records it as the holder; once it is gone
		// for the lost grace, the caller hears executor_lost instead of
		// waiting for the deadline.
		ectx, ecancel := context.WithCancel(context.Background())
		var ewg sync.WaitGroup
		defer func() { ecancel(); ewg.Wait() }()
		elogs := &testkit.SyncBuffer{}
		ewg.Go(func() {
			cfg := executorapp.Config{APIURL: s.URL, Cluster: lostCluster, Token: lostToken, Workers: 2, Queue: 4,
				MaxOutputBytes: 64 << 10, ExecutorID: "lost-exec", KubeQPS: 100, KubeBurst: 100}
			_ = executorapp.RunWith(ectx, cfg, &rest.Config{Host: kstack.Blackhole(t)}, logging.New(logging.Config{Format: "json", Output: elogs}))
		})
		ctx := context.Background()
		testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			conns, err := s.Store.Connected(ctx, lostCluster)
			if err != nil || len(conns) == 0 {
				return fmt.Errorf("executor not present yet: %w", err)
			}
			return nil
		})
		type answer struct {
			r   kstack.Response
			err error
		}
		done := make(chan answer, 1)
		go func() {
			r, err := s.Request(http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": lostCluster, "argv": []string{"get", "ns"}})
			done <- answer{r, err}
		}()
		var id string
		testkit.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
			for line := range strings.SplitSeq(elogs.String(), "\n") {
				var rec struct {
					Msg       string `json:"msg"`
					CommandID string `json:"command_id"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "command received" {
					id = rec.CommandID
				}
			}
			if id == "" {
				return fmt.Errorf("the executor received no command yet")
			}
			if h, err := s.Store.Holder(ctx, id); err != nil || h.ExecutorID != "lost-exec" {
				return fmt.Errorf("command %s: holder %+v (%w); want lost-exec, once the ack delay is up", id, h, err)
			}
			return nil
		})
		ecancel()
		ewg.Wait()
		select {
		case a := <-done:
			if a.err != nil {
				t.Fatal(a.err)
			}
			e := response{status: a.r.Status, body: a.r.Body}.apiError(t)
			if a.r.Status != http.StatusBadGateway || e.Code != contracts.CodeExecutorLost || !strings.Contains(e.Message, "lost-exec") {
				t.Fatalf("got %d %s %q; want 502 executor_lost naming lost-exec", a.r.Status, e.Code, e.Message)
			}
		case <-time.After(contracts.DefaultTimeout + 10*time.Second):
			t.Fatal("no answer")
		}
	})

	t.Run("a full queue refuses at once", func(t *testing.T) {
		// full-1 has no executor: fill its presence with a stand-in stream
		// that never claims (it reads nothing), then queue past the limit.
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/v1/executor/stream", nil)
		req.Header.Set("Authorization", "Bearer full-token-0123456789abcdef")
		req.Header.Set(contracts.HeaderClusterID, fullCluster)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("stand-in stream: %v %v", err, resp)
		}
		defer resp.Body.Close()
		testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			conns, err := s.Store.Connected(ctx, fullCluster)
			if err != nil || len(conns) == 0 {
				return fmt.Errorf("stand-in not present yet: %w", err)
			}
			return nil
		})
		// Queue up to the limit, one at a time so that each request sees
		// the one before it in the queue; the next one is refused at once.
		var wg sync.WaitGroup
		defer wg.Wait()
		for i := range queueLimit {
			wg.Go(func() {
				_, _ = s.Request(http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": fullCluster, "argv": []string{"get", "ns"}, "timeout_seconds": 5})
			})
			testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
				if d, err := s.Store.Depth(ctx, fullCluster); err != nil || d < i+1 {
					return fmt.Errorf("depth %d (%w); want %d", d, err, i+1)
				}
				return nil
			})
		}
		start := time.Now()
		r, err := s.Request(http.MethodPost, "/v1/execute", aliceKey, map[string]any{"cluster_id": fullCluster, "argv": []string{"get", "ns"}})
		if err != nil {
			t.Fatal(err)
		}
		e := response{status: r.Status, body: r.Body}.apiError(t)
		// "At once": well before the command's default 30 s timeout,
		// however busy the machine.
		if r.Status != http.StatusServiceUnavailable || !strings.Contains(e.Message, "is full") || time.Since(start) > contracts.DefaultTimeout/2 {
			t.Fatalf("over the queue limit: got %d %s %q after %v; want an immediate 503 saying the queue is full", r.Status, e.Code, e.Message, time.Since(start))
		}
	})
}
