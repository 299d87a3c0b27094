package worker

import (
	"context"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
)

type posted struct {
	mu  sync.Mutex
	res []contracts.ExecutorResult
}

func (p *posted) post(_ context.Context, r contracts.ExecutorResult, _ time.Time) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res = append(p.res, r)
	return nil
}

func (p *posted) wait(t *testing.T, n int) []contracts.ExecutorResult {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		if len(p.res) >= n {
			out := append([]contracts.ExecutorResult(nil), p.res...)
			p.mu.Unlock()
			return out
		}
		p.mu.Unlock()
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("fewer than %d results posted", n)
	return nil
}

func cmd(id string, argv ...string) contracts.Command {
	return contracts.Command{ID: id, Cluster: "c", Argv: argv, Deadline: time.Now().Add(10 * time.Second)}
}

func TestPoolOutcomes(t *testing.T) {
	var runs atomic.Int32
	runner := RunnerFunc(func(ctx context.Context, c *policy.Command) Outcome {
		runs.Add(1)
		switch c.Args[0] {
		case "fail":
			return Outcome{Error: "Error from server (NotFound)", ExitCode: 1}
		case "slow":
			<-ctx.Done()
			return Outcome{Error: ctx.Err().Error(), ExitCode: 1}
		case "panic":
			panic("boom")
		}
		return Outcome{Output: "ok\n"}
	})
	p := &posted{}
	pool, ctx, _ := startPool(t, Config{Runner: runner, Post: p.post, Log: logging.Discard(), Workers: 2, ExecutorID: "e"})

	slow := cmd("slow", "get", "slow")
	slow.Deadline = time.Now().Add(200 * time.Millisecond)
	expired := cmd("old", "get", "pods")
	expired.Deadline = time.Now().Add(-time.Second)
	pool.Submit(ctx, cmd("a", "get", "pods"))
	pool.Submit(ctx, cmd("a", "get", "pods")) // duplicate delivery
	pool.Submit(ctx, cmd("b", "get", "fail"))
	pool.Submit(ctx, cmd("c", "delete", "pod", "x"))
	pool.Submit(ctx, slow)
	pool.Submit(ctx, expired)
	pool.Submit(ctx, cmd("p", "get", "panic"))

	res := p.wait(t, 5)
	time.Sleep(100 * time.Millisecond) // let a wrong extra result show up
	got := map[string]contracts.ExecutorResult{}
	for _, r := range p.res {
		if _, dup := got[r.CommandID]; dup {
			t.Errorf("command %s answered twice", r.CommandID)
		}
		got[r.CommandID] = r
		if r.ExecutorID != "e" {
			t.Errorf("result %s without executor id", r.CommandID)
		}
	}
	_ = res
	want := map[string]contracts.Status{"a": contracts.StatusSuccess, "b": contracts.StatusFailure, "c": contracts.StatusDenied,
		"slow": contracts.StatusTimeout, "p": contracts.StatusFailure}
	for id, st := range want {
		if got[id].Status != st {
			t.Errorf("command %s: status %s (%+v); want %s", id, got[id].Status, got[id], st)
		}
	}
	if _, ran := got["old"]; ran {
		t.Errorf("expired command was answered; want it skipped")
	}
	if got["c"].Reason != "verb_not_allowed" || !strings.Contains(got["c"].Error, "denied") {
		t.Errorf("denied result = %+v", got["c"])
	}
	if n := runs.Load(); n != 4 {
		t.Errorf("runner ran %d times; want 4 (a, b, slow, panic)", n)
	}
}

func TestPoolBusy(t *testing.T) {
	block, started := make(chan struct{}), make(chan struct{}, 1)
	runner := RunnerFunc(func(ctx context.Context, c *policy.Command) Outcome { started <- struct{}{}; <-block; return Outcome{} })
	p := &posted{}
	pool, ctx, _ := startPool(t, Config{Runner: runner, Post: p.post, Log: logging.Discard(), Workers: 1, Queue: 1})
	pool.Submit(ctx, cmd("1", "get", "pods")) // taken by the worker
	select {
	case <-started:
	case <-time.After(30 * time.Second):
		t.Fatal("the worker did not take command 1 within 30s")
	}
	pool.Submit(ctx, cmd("2", "get", "pods")) // waits in the queue
	pool.Submit(ctx, cmd("3", "get", "pods")) // refused
	res := p.wait(t, 1)
	if res[0].CommandID != "3" || res[0].Status != contracts.StatusError || !strings.Contains(res[0].Error, "busy") {
		t.Fatalf("got %+v; want command 3 refused as busy", res[0])
	}
	close(block)
	p.wait(t, 3)
}

func TestNewRequiresDeps(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Fatal("New(empty) = nil error")
	}
}

// startPool starts a pool with cfg until the test ends; it returns the
// pool and the context it runs with, and the func that ends it sooner.
func startPool(t *testing.T, cfg Config) (*Pool, context.Context, context.CancelFunc) {
	t.Helper()
	pool, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go pool.Run(ctx)
	return pool, ctx, cancel
}
