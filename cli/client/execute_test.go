package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"kubently.io/cli/client"
	"kubently.io/libs/contracts"
)

// TestExecuteRetriesNotDispatched: a command the gateway settled as
// not_dispatched (lost before queueing, fenced: it never ran) is sent
// again, up to twice; result_lost (it ran), executor_lost and
// dispatcher_lost (it may have run) and other errors are not.
func TestExecuteRetriesNotDispatched(t *testing.T) {
	notDispatched := contracts.Error{Code: contracts.CodeUnavailable, Reason: contracts.ReasonNotDispatched, Message: "lost; retry"}
	tests := []struct {
		name      string
		failures  []contracts.Error // answered in order before success
		wantCalls int64
		wantErr   string // reason of the final error; "" for success
	}{
		{"once lost", []contracts.Error{notDispatched}, 2, ""},
		{"twice lost", []contracts.Error{notDispatched, notDispatched}, 3, ""},
		{"lost every time", []contracts.Error{notDispatched, notDispatched, notDispatched}, 3, contracts.ReasonNotDispatched},
		{"result lost", []contracts.Error{{Code: contracts.CodeUnavailable, Reason: contracts.ReasonResultLost, Message: "ran"}}, 1, contracts.ReasonResultLost},
		{"executor lost", []contracts.Error{{Code: contracts.CodeExecutorLost, Message: "executor exec-a went away; may have run"}}, 1, string(contracts.CodeExecutorLost)},
		{"dispatcher lost", []contracts.Error{{Code: contracts.CodeUnavailable, Reason: contracts.ReasonDispatcherLost, Message: "may still run"}}, 1, contracts.ReasonDispatcherLost},
		{"plain unavailable", []contracts.Error{{Code: contracts.CodeUnavailable, Message: "store down"}}, 1, "unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := calls.Add(1)
				w.Header().Set("Content-Type", "application/json")
				if int(n) <= len(tt.failures) {
					w.WriteHeader(tt.failures[n-1].Code.Status())
					_ = json.NewEncoder(w).Encode(tt.failures[n-1])
					return
				}
				_ = json.NewEncoder(w).Encode(contracts.CommandResult{CommandID: "c1", Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "ok"}})
			}))
			defer srv.Close()
			c, err := client.New(srv.URL, "key", nil)
			if err != nil {
				t.Fatal(err)
			}
			res, err := c.Execute(context.Background(), contracts.ExecuteBody{Cluster: "dev-1", Argv: []string{"get", "pods"}})
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("requests: %d; want %d", got, tt.wantCalls)
			}
			var ae *client.APIError
			switch {
			case tt.wantErr == "" && (err != nil || res.Output != "ok"):
				t.Errorf("Execute = %+v, %v; want the result", res, err)
			case tt.wantErr != "" && (!errors.As(err, &ae) || (ae.Err.Reason != tt.wantErr && string(ae.Err.Code) != tt.wantErr)):
				t.Errorf("Execute error %v; want %s", err, tt.wantErr)
			}
		})
	}
}
