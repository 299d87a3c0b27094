package natsutil_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"kubently.io/libs/logging"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/natsutil/natstest"
)

// TestOnReconnect: across a real server restart, every registered callback
// runs once with the time the connection dropped, after the handlers
// Connect installed.
func TestOnReconnect(t *testing.T) {
	dir := t.TempDir()
	s := natstest.RunServerAt(t, -1, dir)
	_, portStr, _ := net.SplitHostPort(s.Addr().String())
	port, _ := strconv.Atoi(portStr)
	opts, err := natstest.ConnConfig(natsutil.RoleGateway).Options()
	if err != nil {
		t.Fatal(err)
	}
	nc, err := natsutil.Connect(context.Background(), s.ClientURL(), "t", logging.Discard(), append(opts, natsutil.RoleOption(natsutil.RoleGateway))...)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	type call struct{ at, seen time.Time }
	a, b := make(chan call, 4), make(chan call, 4)
	natsutil.OnReconnect(nc, func(at time.Time) { a <- call{at, time.Now()} })
	natsutil.OnReconnect(nc, func(at time.Time) { b <- call{at, time.Now()} })

	before := time.Now()
	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(300 * time.Millisecond) // stay down a moment; time-based on purpose
	restarted := time.Now()
	natstest.RunServerAt(t, port, dir)
	for name, ch := range map[string]chan call{"first": a, "second": b} {
		select {
		case c := <-ch:
			if c.at.Before(before) || !c.at.Before(restarted) {
				t.Errorf("%s callback: disconnected at %v; want between %v and %v", name, c.at, before, restarted)
			}
			if c.seen.Before(restarted) {
				t.Errorf("%s callback ran at %v, before the server was back at %v", name, c.seen, restarted)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s callback not called within 10s of the restart", name)
		}
	}
	if !nc.IsConnected() {
		t.Errorf("connection not connected after the callbacks")
	}
	select {
	case c := <-a:
		t.Errorf("first callback called twice (again at %v)", c.seen)
	case <-time.After(100 * time.Millisecond):
	}
}
