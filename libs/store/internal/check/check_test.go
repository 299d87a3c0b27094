package check

import (
	"errors"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/store"
)

func TestSeconds(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want int
	}{
		{in: time.Nanosecond, want: 1},
		{in: time.Second, want: 1},
		{in: 1500 * time.Millisecond, want: 2},
		{in: time.Hour, want: 3600},
		{in: 0, want: 1},
	}
	for _, tt := range tests {
		if got := Seconds(tt.in); got != tt.want {
			t.Errorf("Seconds(%v) = %d; want %d", tt.in, got, tt.want)
		}
	}
}

func TestInvalid(t *testing.T) {
	deadline := time.Now().Add(time.Minute)
	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{name: "cluster ok", err: Cluster("prod-eu-1"), ok: true},
		{name: "cluster empty", err: Cluster("")},
		{name: "cluster dot", err: Cluster("a.b")},
		{name: "session ok", err: SessionID(contracts.NewID()), ok: true},
		{name: "session wildcard", err: SessionID(">")},
		{name: "command ok", err: CommandID("Ab_9-x"), ok: true},
		{name: "command space", err: CommandID("a b")},
		{name: "token ok", err: Token("consumer", "exec-1"), ok: true},
		{name: "token dot", err: Token("consumer", "a.b")},
		{name: "ttl ok", err: TTL(time.Second), ok: true},
		{name: "ttl zero", err: TTL(0)},
		{name: "max ok", err: Max(1), ok: true},
		{name: "max zero", err: Max(0)},
		{name: "command no deadline", err: Command(contracts.Command{ID: "x", Cluster: "c"})},
		{name: "command ok", err: Command(contracts.Command{ID: "x", Cluster: "c", Deadline: deadline}), ok: true},
		{name: "info no conn", err: Info(contracts.ExecutorInfo{Cluster: "c"}, time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok {
				if tt.err != nil {
					t.Errorf("got %v; want nil", tt.err)
				}
				return
			}
			if !errors.Is(tt.err, store.ErrInvalid) {
				t.Errorf("got %v; want %v", tt.err, store.ErrInvalid)
			}
		})
	}
}
