package contracts

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestWireGolden pins the JSON of wire types: the ones that carry a
// command's result (embedding Outcome must leave every byte where it was)
// and HTTP bodies the gateway and its clients share. The JSON must decode
// back to the same value.
func TestWireGolden(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	outcome := Outcome{Status: StatusDenied, Output: "out\n", Error: "err", ExitCode: 1, Truncated: true, DurationMS: 42}
	res := CommandResult{CommandID: "c1", Cluster: "dev-1", SessionID: "s1", CorrelationID: "corr", Outcome: outcome,
		ExecutedAt: at, Reason: "restricted_resource", Structured: json.RawMessage(`{"a":1}`), Continue: "tok"}
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"executor result", ExecutorResult{CommandID: "c1", Outcome: outcome, ExecutedAt: at, ExecutorID: "ex-1", Reason: "restricted_resource",
			Structured: json.RawMessage(`{"a":1}`), Continue: "tok", Deadline: at.Add(time.Minute)},
			`{"command_id":"c1","status":"denied","output":"out\n","error":"err","exit_code":1,"truncated":true,"duration_ms":42,"executed_at":"2026-01-02T03:04:05.000000006Z","executor_id":"ex-1","reason":"restricted_resource","structured":{"a":1},"continue":"tok","deadline":"2026-01-02T03:05:05.000000006Z"}`},
		{"zero executor result", ExecutorResult{}, `{"command_id":"","status":"","output":"","exit_code":0,"truncated":false,"duration_ms":0,"executed_at":"0001-01-01T00:00:00Z"}`},
		{"command result", res, `{"command_id":"c1","cluster_id":"dev-1","session_id":"s1","correlation_id":"corr","status":"denied","output":"out\n","error":"err","exit_code":1,"truncated":true,"duration_ms":42,"executed_at":"2026-01-02T03:04:05.000000006Z","reason":"restricted_resource","structured":{"a":1},"continue":"tok"}`},
		{"zero command result", CommandResult{}, `{"command_id":"","cluster_id":"","status":"","output":"","exit_code":0,"truncated":false,"duration_ms":0}`},
		{"execute body", ExecuteBody{Cluster: "dev-1", Argv: []string{"get", "pods"}, Namespace: "shop"},
			`{"cluster_id":"dev-1","argv":["get","pods"],"namespace":"shop"}`},
		{"cluster list", ClusterList{Clusters: []ClusterInfo{{ID: "dev-1", Connected: true, Executors: 1, LastSeen: &at,
			Streams: []ExecutorInfo{}, Labels: map[string]string{"env": "prod"}}}, Count: 1},
			`{"clusters":[{"cluster_id":"dev-1","connected":true,"executors":1,"last_seen":"2026-01-02T03:04:05.000000006Z","streams":[],"labels":{"env":"prod"}}],"count":1}`},
		{"fleet result", FleetResult{Type: TypeFleetResult, FanoutID: "f1", Cluster: "dev-1", Outcome: FleetDenied, Result: &res, DurationMS: 7, Done: 1, Total: 2},
			`{"type":"io.kubently.fleet.v1.result","fanout_id":"f1","cluster_id":"dev-1","outcome":"denied","result":{"command_id":"c1","cluster_id":"dev-1","session_id":"s1","correlation_id":"corr","status":"denied","output":"out\n","error":"err","exit_code":1,"truncated":true,"duration_ms":42,"executed_at":"2026-01-02T03:04:05.000000006Z","reason":"restricted_resource","structured":{"a":1},"continue":"tok"},"duration_ms":7,"done":1,"total":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Fatalf("JSON changed:\n got %s\nwant %s", b, tt.want)
			}
			back := reflect.New(reflect.TypeOf(tt.v))
			if err := json.Unmarshal(b, back.Interface()); err != nil {
				t.Fatal(err)
			}
			if again, _ := json.Marshal(back.Elem().Interface()); string(again) != tt.want {
				t.Errorf("round trip: got %s", again)
			}
		})
	}
}
