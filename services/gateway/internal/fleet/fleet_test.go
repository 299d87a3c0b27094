package fleet

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

type fakeRegistry struct {
	recs   []store.ClusterRecord
	labels map[string]map[string]string
	err    error
}

func (f fakeRegistry) ListClusters(context.Context) ([]store.ClusterRecord, error) {
	return f.recs, f.err
}
func (f fakeRegistry) ListClusterLabels(context.Context) (map[string]map[string]string, error) {
	return f.labels, f.err
}

func TestSelect(t *testing.T) {
	reg := fakeRegistry{
		recs: []store.ClusterRecord{{ID: "a"}, {ID: "b"}, {ID: "c"}, {ID: "hidden"}},
		labels: map[string]map[string]string{
			"a": {"env": "prod", "region": "eu"}, "b": {"env": "prod", "region": "us"}, "c": {"env": "dev"}, "hidden": {"env": "prod"},
		},
	}
	visible := func(id string) bool { return id != "hidden" }
	tests := []struct {
		name    string
		target  contracts.FleetTarget
		want    []string
		wantErr string
	}{
		{"equality", contracts.FleetTarget{Selector: "env=prod"}, []string{"a", "b"}, ""},
		{"set", contracts.FleetTarget{Selector: "region in (eu,us)"}, []string{"a", "b"}, ""},
		{"not", contracts.FleetTarget{Selector: "env!=prod"}, []string{"c"}, ""},
		{"absent key", contracts.FleetTarget{Selector: "!region"}, []string{"c"}, ""},
		{"list kept as given, deduplicated", contracts.FleetTarget{Clusters: []string{"z", "a", "z", "hidden"}}, []string{"a", "hidden", "z"}, ""},
		{"bad selector", contracts.FleetTarget{Selector: "env in (prod"}, nil, "invalid selector"},
		{"no match", contracts.FleetTarget{Selector: "env=staging"}, nil, "matches no cluster"},
		{"only out of scope", contracts.FleetTarget{Selector: "env=prod,region notin (eu,us)"}, nil, "matches no cluster"},
		{"no target", contracts.FleetTarget{}, nil, "give selector or clusters"},
		{"concurrency", contracts.FleetTarget{Selector: "env=prod", Concurrency: contracts.MaxFleetConcurrency + 1}, nil, "concurrency"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Select(t.Context(), reg, tt.target, visible)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || contracts.AsError(err).Code != contracts.CodeBadRequest {
					t.Fatalf("Select = %v, %v; want a bad_request error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("Select (-want +got):\n%s", d)
			}
		})
	}
	if _, err := Select(t.Context(), fakeRegistry{err: errors.New("down")}, contracts.FleetTarget{Selector: "a=b"}, visible); contracts.AsError(err).Code != contracts.CodeUnavailable {
		t.Errorf("Select with the registry down = %v; want unavailable", err)
	}
}

// TestRunDoesNotWaitForTheSlow: a cluster that blocks until released
// holds back only its own result: every other one is emitted first.
func TestRunDoesNotWaitForTheSlow(t *testing.T) {
	release := make(chan struct{})
	clusters := []string{"slow", "a", "b", "c", "d"}
	var emitted []string
	job := func(ctx context.Context, cluster string) contracts.FleetResult {
		if cluster == "slow" {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return contracts.FleetResult{Outcome: contracts.FleetTimedOut, Reason: "timeout", Message: "slow"}
		}
		return contracts.FleetResult{Outcome: contracts.FleetSucceeded}
	}
	sum := Run(t.Context(), "f1", clusters, 2, job, func(r contracts.FleetResult) error {
		emitted = append(emitted, r.Cluster)
		if r.FanoutID != "f1" || r.Type != contracts.TypeFleetResult || r.Total != 5 || r.Done != len(emitted) {
			t.Errorf("result %+v: want fanout f1, total 5, done %d", r, len(emitted))
		}
		if len(emitted) == 4 {
			close(release)
		}
		return nil
	})
	if d := cmp.Diff([]string{"a", "b", "c", "d", "slow"}, sortedHead(emitted, 4)); d != "" {
		t.Errorf("emit order (-want +got):\n%s", d)
	}
	want := contracts.FleetSummary{Type: contracts.TypeFleetSummary, FanoutID: "f1", Total: 5, Succeeded: 4, TimedOut: 1,
		Failures: []contracts.FleetFailure{{Cluster: "slow", Outcome: contracts.FleetTimedOut, Reason: "timeout", Message: "slow"}}}
	sum.DurationMS = 0
	if d := cmp.Diff(want, sum); d != "" {
		t.Errorf("summary (-want +got):\n%s", d)
	}
}

// sortedHead sorts the first n entries (their order among themselves is
// the scheduler's).
func sortedHead(s []string, n int) []string {
	out := append([]string(nil), s...)
	head := out[:min(n, len(out))]
	for i := range head {
		for j := i + 1; j < len(head); j++ {
			if head[j] < head[i] {
				head[i], head[j] = head[j], head[i]
			}
		}
	}
	return out
}

func TestRunBoundsConcurrency(t *testing.T) {
	var running, peak atomic.Int32
	clusters := make([]string, 40)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("c%d", i)
	}
	sum := Run(t.Context(), "f", clusters, 3, func(context.Context, string) contracts.FleetResult {
		n := running.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(time.Millisecond)
		running.Add(-1)
		return contracts.FleetResult{Outcome: contracts.FleetSucceeded}
	}, func(contracts.FleetResult) error { return nil })
	if p := peak.Load(); p > 3 {
		t.Errorf("peak concurrency %d; want at most 3", p)
	}
	if sum.Succeeded != 40 {
		t.Errorf("succeeded %d; want 40", sum.Succeeded)
	}
}

// TestRunStopsWhenTheClientLeaves: an emit error cancels the clusters not
// started; they are counted failed (canceled) and the summary still adds
// up.
func TestRunStopsWhenTheClientLeaves(t *testing.T) {
	var started atomic.Int32
	clusters := make([]string, 20)
	for i := range clusters {
		clusters[i] = fmt.Sprintf("c%02d", i)
	}
	sum := Run(t.Context(), "f", clusters, 1, func(context.Context, string) contracts.FleetResult {
		started.Add(1)
		return contracts.FleetResult{Outcome: contracts.FleetSucceeded}
	}, func(contracts.FleetResult) error { return errors.New("client gone") })
	if n := started.Load(); n >= 20 {
		t.Errorf("%d jobs started after the client left; want fewer than 20", n)
	}
	if sum.Total != 20 || sum.Succeeded+sum.Failed != 20 || sum.Failed == 0 {
		t.Errorf("summary %+v; want 20 in all, the unstarted failed", sum)
	}
	for _, f := range sum.Failures {
		if f.Reason != "canceled" {
			t.Errorf("failure %+v; want reason canceled", f)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		name    string
		res     contracts.CommandResult
		err     error
		outcome contracts.FleetOutcome
		reason  string
	}{
		{"success", contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}, nil, contracts.FleetSucceeded, ""},
		{"exit 1", contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusFailure, Error: "NotFound", ExitCode: 1}}, nil, contracts.FleetFailed, "exit_code"},
		{"executor policy", contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusDenied}, Reason: "restricted_resource"}, nil, contracts.FleetDenied, "restricted_resource"},
		{"timeout result", contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusTimeout}}, nil, contracts.FleetTimedOut, "timeout"},
		{"executor error", contracts.CommandResult{Outcome: contracts.Outcome{Status: contracts.StatusError}, Reason: "executor_lost"}, nil, contracts.FleetFailed, "executor_lost"},
		{"scope", contracts.CommandResult{}, &contracts.Error{Code: contracts.CodeForbidden, Reason: "namespace_out_of_scope", Message: "m"}, contracts.FleetDenied, "namespace_out_of_scope"},
		{"rate limit", contracts.CommandResult{}, &contracts.Error{Code: contracts.CodeRateLimited, Reason: "cluster", Message: "m"}, contracts.FleetDenied, "cluster"},
		{"policy", contracts.CommandResult{}, &contracts.Error{Code: contracts.CodeCommandDenied, Reason: "verb_not_allowed", Message: "m"}, contracts.FleetDenied, "verb_not_allowed"},
		{"no executor", contracts.CommandResult{}, contracts.Errorf(contracts.CodeExecutorUnavailable, "none"), contracts.FleetUnreachable, "executor_unavailable"},
		{"unknown", contracts.CommandResult{}, contracts.Errorf(contracts.CodeUnknownCluster, "none"), contracts.FleetUnreachable, "unknown_cluster"},
		{"transport timeout", contracts.CommandResult{}, contracts.Errorf(contracts.CodeTimeout, "late"), contracts.FleetTimedOut, "timeout"},
		{"internal", contracts.CommandResult{}, contracts.Errorf(contracts.CodeInternal, "x"), contracts.FleetFailed, "internal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, r, _ := Classify(tt.res, tt.err)
			if o != tt.outcome || r != tt.reason {
				t.Errorf("Classify = %s %q; want %s %q", o, r, tt.outcome, tt.reason)
			}
		})
	}
}

func TestCut(t *testing.T) {
	res := Cut(contracts.CommandResult{Outcome: contracts.Outcome{Output: "héllo world"}, Structured: []byte(`{"a":1}`)}, 2)
	if res.Output != "h" || !res.Truncated || res.Structured != nil {
		t.Errorf("Cut(2) = %q truncated=%v structured=%s; want \"h\" (not half a rune), truncated, no structured", res.Output, res.Truncated, res.Structured)
	}
	res = Cut(contracts.CommandResult{Outcome: contracts.Outcome{Output: "ok"}}, 10)
	if res.Output != "ok" || res.Truncated {
		t.Errorf("Cut(10) = %+v; want unchanged", res)
	}
}

func TestStream(t *testing.T) {
	for _, sse := range []bool{false, true} {
		t.Run(fmt.Sprint("sse=", sse), func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/fleet/execute", nil)
			if sse {
				req.Header.Set("Accept", "text/event-stream")
			}
			w := httptest.NewRecorder()
			st := NewStream(w, req, time.Second)
			if err := st.Start("f1"); err != nil {
				t.Fatal(err)
			}
			if err := st.Result(contracts.FleetResult{Type: contracts.TypeFleetResult, Cluster: "a"}); err != nil {
				t.Fatal(err)
			}
			if err := st.Summary(contracts.FleetSummary{Type: contracts.TypeFleetSummary}); err != nil {
				t.Fatal(err)
			}
			body := w.Body.String()
			ct := w.Header().Get("Content-Type")
			if w.Header().Get(contracts.HeaderFanoutID) != "f1" {
				t.Errorf("fan-out header %q", w.Header().Get(contracts.HeaderFanoutID))
			}
			if sse {
				if ct != ContentTypeSSE || !strings.HasPrefix(body, "event: result\ndata: {") || !strings.Contains(body, "\n\nevent: summary\ndata: {") {
					t.Errorf("SSE stream %s: %q", ct, body)
				}
				return
			}
			lines := strings.Split(strings.TrimSuffix(body, "\n"), "\n")
			if ct != ContentTypeNDJSON || len(lines) != 2 || !strings.Contains(lines[0], contracts.TypeFleetResult) || !strings.Contains(lines[1], contracts.TypeFleetSummary) {
				t.Errorf("NDJSON stream %s: %q", ct, body)
			}
		})
	}
}
