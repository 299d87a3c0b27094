package worker

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"kubently.io/libs/contracts"
	"kubently.io/libs/logging"
	"kubently.io/libs/policy"
	"kubently.io/libs/testkit"
)

// want is a metric value to wait for.
type want struct {
	name string
	c    prometheus.Collector
	v    float64
}

func waitMetrics(t testing.TB, wants ...want) {
	t.Helper()
	testkit.CheckFor(t, 5*time.Second, 5*time.Millisecond, func() error {
		var errs []error
		for _, w := range wants {
			if got := testutil.ToFloat64(w.c); got != w.v {
				errs = append(errs, fmt.Errorf("%s = %v; want %v", w.name, got, w.v))
			}
		}
		return errors.Join(errs...)
	})
}

// observations returns how many values the histogram series o holds.
func observations(t testing.TB, o prometheus.Observer) uint64 {
	t.Helper()
	var m dto.Metric
	if err := o.(prometheus.Metric).Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetHistogram().GetSampleCount()
}

func TestPoolMetrics(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	runner := RunnerFunc(func(_ context.Context, c *policy.Command) Outcome {
		if c.Args[0] == "fail" {
			return Outcome{Error: "not found", ExitCode: 1}
		}
		return Outcome{Output: "ok\n"}
	})
	p := &posted{}
	post := func(ctx context.Context, r contracts.ExecutorResult, giveUp time.Time) error {
		_ = p.post(ctx, r, giveUp)
		if r.CommandID == "lost" {
			return errors.New("gateway gone")
		}
		return nil
	}
	pool, ctx, _ := startPool(t, Config{Runner: runner, Post: post, Log: logging.Discard(), Workers: 2, Registerer: reg})

	expired := cmd("old", "get", "pods")
	expired.Deadline = time.Now().Add(-time.Second)
	for _, c := range []contracts.Command{
		cmd("a", "get", "pods"),
		cmd("a", "get", "pods"), // duplicate delivery
		cmd("b", "get", "fail"),
		cmd("c", "delete", "pod", "x"),
		cmd("d", "frobnicate", "now"),
		cmd("e", "logs", "-n", "shop", "web-1"),
		cmd("lost", "get", "pods"),
		expired,
	} {
		pool.Submit(ctx, c)
	}
	p.wait(t, 6)
	m := pool.m
	waitMetrics(t,
		want{"commands_total{get,success}", m.commands.WithLabelValues("get", "success"), 2},
		want{"commands_total{get,failure}", m.commands.WithLabelValues("get", "failure"), 1},
		want{"commands_total{logs,success}", m.commands.WithLabelValues("logs", "success"), 1},
		want{"commands_total{other,denied}", m.commands.WithLabelValues("other", "denied"), 2},
		want{"duplicates_total", m.duplicates, 1},
		want{"expired_total", m.expired, 1},
		want{"result_post_errors_total", m.postErrors, 1},
		want{"busy_total", m.busy, 0},
		want{"queue_depth", m.queue, 0},
	)
	if got := testutil.CollectAndCount(m.commands); got != 4 {
		t.Errorf("commands_total has %d series; want 4 (get/success, get/failure, logs/success, other/denied)", got)
	}
	if got := observations(t, m.duration.WithLabelValues("get", "success")); got != 2 {
		t.Errorf("command_duration_seconds{get,success} holds %d observations; want 2", got)
	}
	if got := observations(t, m.duration.WithLabelValues("other", "denied")); got != 2 {
		t.Errorf("command_duration_seconds{other,denied} holds %d observations; want 2", got)
	}
	names := []string{
		"kubently_executor_commands_total", "kubently_executor_command_duration_seconds",
		"kubently_executor_queue_depth", "kubently_executor_busy_total", "kubently_executor_duplicates_total",
		"kubently_executor_expired_total", "kubently_executor_result_post_errors_total",
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather() = %v; want nil", err)
	}
	got := map[string]bool{}
	for _, mf := range mfs {
		got[mf.GetName()] = true
	}
	for _, n := range names {
		if !got[n] {
			t.Errorf("%s not registered", n)
		}
	}
}

func TestPoolBusyMetrics(t *testing.T) {
	block, started := make(chan struct{}), make(chan struct{}, 1)
	runner := RunnerFunc(func(ctx context.Context, c *policy.Command) Outcome {
		started <- struct{}{}
		<-block
		return Outcome{}
	})
	p := &posted{}
	pool, ctx, _ := startPool(t, Config{Runner: runner, Post: p.post, Log: logging.Discard(), Workers: 1, Queue: 1})
	m := pool.m

	pool.Submit(ctx, cmd("1", "get", "pods")) // taken by the worker
	<-started
	pool.Submit(ctx, cmd("2", "get", "pods")) // waits in the queue
	waitMetrics(t, want{"queue_depth", m.queue, 1})
	pool.Submit(ctx, cmd("3", "get", "pods")) // refused
	waitMetrics(t,
		want{"busy_total", m.busy, 1},
		want{"commands_total{get,error}", m.commands.WithLabelValues("get", "error"), 1},
		want{"queue_depth", m.queue, 1},
	)
	if got := observations(t, m.duration.WithLabelValues("get", "error")); got != 0 {
		t.Errorf("command_duration_seconds{get,error} holds %d observations; want 0 (a refused command never ran)", got)
	}
	close(block)
	<-started
	p.wait(t, 3)
	waitMetrics(t,
		want{"queue_depth", m.queue, 0},
		want{"commands_total{get,success}", m.commands.WithLabelValues("get", "success"), 2},
	)
}

func TestNewRegisterConflict(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Runner: RunnerFunc(func(context.Context, *policy.Command) Outcome { return Outcome{} }),
		Post: (&posted{}).post, Log: logging.Discard(), Registerer: reg}
	if _, err := New(cfg); err != nil {
		t.Fatalf("first New() = %v; want nil", err)
	}
	if _, err := New(cfg); err == nil {
		t.Fatal("second New() on the same registry = nil error; want a registration error")
	}
}
