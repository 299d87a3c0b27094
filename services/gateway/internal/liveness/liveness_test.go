package liveness

import (
	"sync"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
)

func TestTouch(t *testing.T) {
	r := New()
	clock := time.Unix(1000, 0)
	r.now = func() time.Time { return clock }
	conn, remove := r.Add("dev-1", "c1", "hash-dev")
	if got := conn.LastContact(); !got.Equal(clock) {
		t.Fatalf("LastContact after Add = %v; want %v", got, clock)
	}
	clock = clock.Add(time.Second)
	tests := []struct {
		name                   string
		cluster, connID, token string
		want                   bool
	}{
		{"own stream", "dev-1", "c1", "hash-dev", true},
		{"unknown conn", "dev-1", "c2", "hash-dev", false},
		{"another cluster", "prod-1", "c1", "hash-dev", false},
		{"another token", "dev-1", "c1", "hash-other", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := conn.LastContact()
			clock = clock.Add(time.Second)
			if got := r.Touch(tt.cluster, tt.connID, tt.token); got != tt.want {
				t.Fatalf("Touch = %v; want %v", got, tt.want)
			}
			if moved := !conn.LastContact().Equal(before); moved != tt.want {
				t.Errorf("LastContact moved = %v; want %v", moved, tt.want)
			}
		})
	}
	remove()
	if r.Touch("dev-1", "c1", "hash-dev") || r.Len() != 0 {
		t.Errorf("the removed stream is still known")
	}
}

func TestForward(t *testing.T) {
	nc := natstest.Connect(t, natstest.RunServer(t))
	holder := New()
	conn, _ := holder.Add("dev-1", "c1", "hash-dev")
	var mu sync.Mutex
	var relayed []bool
	sub, err := holder.Subscribe(nc, "gw-a.example.com", func(known bool) {
		mu.Lock()
		defer mu.Unlock()
		relayed = append(relayed, known)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if _, err := holder.Subscribe(nc, "gw.*", nil); err == nil {
		t.Errorf("Subscribe accepted a wildcard gateway name")
	}
	before := conn.LastContact()
	time.Sleep(time.Millisecond)
	tests := []struct {
		name    string
		gateway string
		ct      contracts.ExecutorContact
		want    bool
	}{
		{"known", "gw-a.example.com", contracts.ExecutorContact{Cluster: "dev-1", ConnID: "c1", TokenHash: "hash-dev"}, true},
		{"wrong token", "gw-a.example.com", contracts.ExecutorContact{Cluster: "dev-1", ConnID: "c1", TokenHash: "x"}, false},
		{"nobody listens", "gw-gone", contracts.ExecutorContact{Cluster: "dev-1", ConnID: "c1", TokenHash: "hash-dev"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Forward(t.Context(), nc, tt.gateway, tt.ct)
			if err != nil || got != tt.want {
				t.Errorf("Forward = %v, %v; want %v, nil", got, err, tt.want)
			}
		})
	}
	if !conn.LastContact().After(before) {
		t.Errorf("a forwarded contact did not move LastContact")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(relayed) != 2 || !relayed[0] || relayed[1] {
		t.Errorf("onContact saw %v; want [true false]", relayed)
	}
}
