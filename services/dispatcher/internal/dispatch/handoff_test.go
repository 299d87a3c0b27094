package dispatch

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/contracts"
	"kubently.io/libs/redistest"
	"kubently.io/libs/store/backend"
)

// TestHandOff runs commands on the Redis store, which leases a command as
// it queues it (store.HandOff), with the online cluster's one stream
// (conn-1) held by a fake gateway replica "gw". Leases last a minute, far
// past the commands' deadlines, so a command leased to conn-1 reaches
// the claiming executor only if the dispatcher released it.
func TestHandOff(t *testing.T) {
	tests := []struct {
		name string
		// gateway answers a hand-off: the reply's status, or "" for none
		// (no reply); nil means no replica listens on the subject.
		gateway func(e *env, h contracts.CommandHandOff) string
		want    contracts.Status
		outcome string
		claimed bool // the command reached the executor by a Claim
	}{
		{"delivered", func(e *env, h contracts.CommandHandOff) string {
			for _, cmd := range h.Commands {
				go e.handle(testCtx(t), cmd)
			}
			return contracts.HandOffDelivered
		}, contracts.StatusSuccess, contracts.HandOffDelivered, false},
		{"no stream: released", func(*env, contracts.CommandHandOff) string { return contracts.HandOffNoStream },
			contracts.StatusSuccess, contracts.HandOffNoStream, true},
		{"no replica: released", nil, contracts.StatusSuccess, "no_responders", true},
		{"no answer: the lease stands", func(*env, contracts.CommandHandOff) string { return "" },
			contracts.StatusTimeout, "error", false},
		{"unknown answer: the lease stands", func(*env, contracts.CommandHandOff) string { return "written_elsewhere" },
			contracts.StatusTimeout, "error", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := redistest.Start(t)
			e := newEnvOn(t, backend.Config{RedisURL: srv.URL(), Visibility: time.Minute}, func(cfg *Config) {
				cfg.HandOffTimeout = 500 * time.Millisecond
			})
			got := make(chan contracts.CommandHandOff, 1)
			if tt.gateway != nil {
				subj, _ := contracts.HandOffSubject("gw")
				sub, err := e.nc.Subscribe(subj, func(m *nats.Msg) {
					var h contracts.CommandHandOff
					if err := json.Unmarshal(m.Data, &h); err != nil || h.Type != contracts.TypeCommandHandOff {
						t.Errorf("malformed hand-off %s: %v", m.Data, err)
						return
					}
					got <- h
					if status := tt.gateway(e, h); status != "" {
						b, _ := json.Marshal(contracts.CommandHandOffReply{Type: contracts.TypeCommandHandOffReply, Status: status})
						_ = m.Respond(b)
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = sub.Unsubscribe() })
				if err := e.nc.Flush(); err != nil {
					t.Fatal(err)
				}
			}
			in := request(operator, online, "get", "pods")
			in.TimeoutSeconds = 3
			res, cerr, _ := e.exec(t, in)
			if cerr != nil || res.Status != tt.want {
				t.Fatalf("exec = %+v, %s; want status %s", res, fmtErr(cerr), tt.want)
			}
			if tt.gateway != nil {
				h := <-got
				if h.Cluster != online || h.ConnID != "conn-1" || len(h.Commands) != 1 || h.Commands[0].ID != res.CommandID {
					t.Errorf("hand-off = %s/%s with %d commands; want %s/conn-1 with command %s", h.Cluster, h.ConnID, len(h.Commands), online, res.CommandID)
				}
			}
			if n := testutil.ToFloat64(e.d.m.handOffs.WithLabelValues(tt.outcome)); n != 1 {
				t.Errorf("kubently_dispatcher_handoffs_total{outcome=%q} = %v; want 1", tt.outcome, n)
			}
			if claimed := e.claimed.Load() > 0; claimed != tt.claimed {
				t.Errorf("claimed by the executor = %v; want %v", claimed, tt.claimed)
			}
			if tt.outcome != "error" {
				return
			}
			// A replica that left a hand-off unanswered is paused: the
			// next command takes the notify path and is claimed.
			in.TimeoutSeconds = 30
			if res, cerr, _ := e.exec(t, in); cerr != nil || res.Status != contracts.StatusSuccess {
				t.Fatalf("exec after the unanswered hand-off = %+v, %s; want success", res, fmtErr(cerr))
			}
			if len(got) != 0 {
				t.Errorf("a command was handed to the paused replica")
			}
		})
	}
}
