package faults

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// contactTimeout is the gateways' executor contact timeout in the
// harness: KUBENTLY_EXECUTOR_CONTACT_TIMEOUT is not set, so 3 heartbeats.
const contactTimeout = 3 * heartbeat

// 8. black-hole every executor connection: half-open TCP connections that
// neither side sees closed.
//
// What must happen: each executor notices its silent stream (3 missed
// heartbeats), drops it and reconnects through fresh connections; each
// gateway notices that the executor of a frozen stream stopped posting
// heartbeats and closes it within seconds, so presence lists exactly the
// live streams; commands written into a frozen stream were never
// acknowledged and are redelivered after the visibility timeout; nothing
// is lost or run twice.
func TestStreamsFrozen(t *testing.T) {
	skipShort(t)
	h := newHarness(t)
	ids := []string{"ha-1-a", "ha-1-b", "solo-1-a"}
	frozen := map[string]string{} // executor id → conn id of its frozen stream
	for _, id := range ids {
		frozen[id] = h.connID(id)
	}
	closedBefore := h.contactCloses()
	var reconnected, closed time.Duration
	_, tl, _ := scenario(t, h, "", func() window {
		before := h.connects()
		w := window{from: time.Now()}
		if n := h.ExecProxy.Freeze(); n < 3 {
			t.Errorf("froze %d executor connections; want at least 3 (one stream each)", n)
		}
		h.waitReconnected(ids, before, 20*time.Second)
		reconnected = time.Since(w.from)
		// The gateways close the frozen streams: presence lists exactly
		// one stream per executor, the one it holds now.
		testkit.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error { return h.presenceIsLive(ids) })
		closed = time.Since(w.from)
		w.to = time.Now().Add(time.Second)
		return w
	})
	t.Logf("executors reconnected %v after the freeze; gateways closed the frozen streams and presence was exact after %v",
		reconnected.Round(time.Millisecond), closed.Round(time.Millisecond))
	assertNoLossNoDup(t, tl)
	if tl.unavailable+tl.transport+tl.other != 0 {
		t.Errorf("unexpected failures: unavailable %d, transport %d, other %d; want 0", tl.unavailable, tl.transport, tl.other)
	}
	// The gateway side noticed on its own (it never saw the connections
	// close): each frozen stream was closed for want of contact.
	if n := h.contactCloses() - closedBefore; n < len(ids) {
		t.Errorf("streams closed for want of executor contact: %d; want %d (one per frozen stream)", n, len(ids))
	}
	// Within seconds: the executor keeps heartbeating a frozen stream
	// until it drops it (3 heartbeats), then the gateway waits the contact
	// timeout (checked every heartbeat).
	if bound := 3*heartbeat + contactTimeout + heartbeat + 3*time.Second; closed > bound {
		t.Errorf("frozen streams closed after %v; want within %v", closed.Round(time.Millisecond), bound)
	}
	for _, id := range ids {
		if now := h.connID(id); now == frozen[id] {
			t.Errorf("%s still reports the frozen stream %s as its last", id, now)
		}
	}
}

// connID returns the conn id of executor id's latest stream (from its
// "connected to gateway" logs).
func (h *Harness) connID(id string) string {
	recs := h.Executors[id].logLines("connected to gateway")
	if len(recs) == 0 {
		return ""
	}
	s, _ := recs[len(recs)-1]["conn_id"].(string)
	return s
}

// contactCloses counts the streams the gateways closed for want of
// executor contact.
func (h *Harness) contactCloses() int {
	n := 0
	for _, gw := range h.Gateways {
		n += gw.count("executor stream closed: no contact from the executor")
	}
	return n
}

// presenceIsLive checks GET /v1/clusters: the streams listed for the
// executors ids are exactly their current ones, one each.
func (h *Harness) presenceIsLive(ids []string) error {
	req, err := http.NewRequest(http.MethodGet, h.Client.URL()+"/v1/clusters", nil)
	if err != nil {
		return err
	}
	req.Header.Set(contracts.HeaderAPIKey, adminKey)
	resp, err := httpClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	var body contracts.ClusterList
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("GET /v1/clusters: %d: %w", resp.StatusCode, err)
	}
	var got, want []string
	for _, c := range body.Clusters {
		for _, s := range c.Streams {
			got = append(got, s.ExecutorID+"/"+s.ConnID)
		}
	}
	for _, id := range ids {
		want = append(want, id+"/"+h.connID(id))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return fmt.Errorf("presence lists streams %v; want exactly the live %v", got, want)
	}
	return nil
}
