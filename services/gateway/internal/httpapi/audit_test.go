package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

type auditPageT struct {
	Records    []audit.Record `json:"records"`
	NextCursor *string        `json:"next_cursor"`
}

func (e *env) audit(t *testing.T, key, query string) (resp, auditPageT) {
	t.Helper()
	r := e.do(t, "GET", "/v1/audit"+query, key, nil)
	var p auditPageT
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
	}
	return r, p
}

func (e *env) seed(t *testing.T, recs ...audit.Record) {
	t.Helper()
	w, err := audit.NewWriter(audit.WriterConfig{JS: e.js, Source: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if err := w.Write(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAuditQuery(t *testing.T) {
	e := newEnv(t, envOpts{})
	e.seed(t,
		audit.Record{Event: audit.EventCommandExecuted, Identity: "viewer", Cluster: "dev-1", Outcome: audit.OutcomeSuccess},
		audit.Record{Event: audit.EventCommandExecuted, Identity: "operator", Cluster: "dev-1", Outcome: audit.OutcomeSuccess},
		audit.Record{Event: audit.EventCommandDenied, Identity: "operator", Cluster: "prod-1", Outcome: audit.OutcomeDenied},
	)
	// A bad key is audited (without the key).
	if r := e.do(t, "GET", "/v1/clusters", "bad-key-0123456789abcdef", nil); r.status != http.StatusUnauthorized {
		t.Fatalf("got %d; want 401", r.status)
	}

	r, p := e.audit(t, viewerKey, "")
	if r.status != http.StatusOK || len(p.Records) != 1 || p.Records[0].Identity != "viewer" || p.NextCursor == nil {
		t.Errorf("viewer: got %d %s; want only its own record and a next_cursor field", r.status, r.body)
	}
	if r, _ := e.audit(t, viewerKey, "?identity=operator"); r.status != http.StatusForbidden || r.apiError(t).Code != contracts.CodeForbidden {
		t.Errorf("viewer asking for operator: got %d %s; want 403", r.status, r.body)
	}
	if r, p := e.audit(t, viewerKey, "?identity=viewer"); r.status != http.StatusOK || len(p.Records) != 1 {
		t.Errorf("viewer asking for itself: got %d %s; want its record", r.status, r.body)
	}
	if _, p := e.audit(t, operatorKey, ""); len(p.Records) != 2 {
		t.Errorf("operator: got %d records; want its 2", len(p.Records))
	}
	_, p = e.audit(t, adminKey, "")
	if len(p.Records) != 4 {
		t.Errorf("admin: got %d records; want all 4", len(p.Records))
	}
	_, p = e.audit(t, adminKey, "?event=auth_denied")
	if len(p.Records) != 1 || p.Records[0].Reason != "invalid_api_key" || p.Records[0].Remote == "" || p.Records[0].Gateway != "gw-test" {
		t.Errorf("auth_denied records: %+v; want one with reason, remote and gateway", p.Records)
	} else if raw, _ := json.Marshal(p.Records[0]); strings.Contains(string(raw), "bad-key-0123456789abcdef") {
		t.Errorf("auth_denied record holds the key: %s", raw)
	}
	_, p = e.audit(t, adminKey, "?cluster=dev-1&outcome=success&identity=operator")
	if len(p.Records) != 1 {
		t.Errorf("filtered: got %d records; want 1", len(p.Records))
	}
	// Paging with the cursor visits every record once.
	var seen []string
	cursor := ""
	for range 10 {
		_, p := e.audit(t, adminKey, "?limit=1&cursor="+cursor)
		for _, r := range p.Records {
			seen = append(seen, r.ID)
		}
		if *p.NextCursor == "" {
			break
		}
		cursor = *p.NextCursor
	}
	if len(seen) != 4 {
		t.Errorf("paged through %d records; want 4", len(seen))
	}

	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=x", "?since=yesterday", "?until=2020-01-01",
		"?since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "?outcome=maybe", "?event=nope", "?cursor=garbage", "?cluster=Bad_Cluster", "?bogus=1"} {
		if r, _ := e.audit(t, adminKey, q); r.status != http.StatusBadRequest || r.apiError(t).Code != contracts.CodeBadRequest {
			t.Errorf("%s: got %d %s; want 400 bad_request", q, r.status, r.body)
		}
	}
}

func TestAuditStream(t *testing.T) {
	e := newEnv(t, envOpts{auditPing: 50 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	since := time.Now().Add(-time.Second).UTC().Format(time.RFC3339)
	req, _ := http.NewRequestWithContext(ctx, "GET", e.http.URL+"/v1/audit/stream?since="+since, nil)
	req.Header.Set(contracts.HeaderAPIKey, viewerKey)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %s; want 200 text/event-stream", res.StatusCode, res.Header.Get("Content-Type"))
	}
	testkit.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		if testutilGauge(e, "audit") != 1 {
			return fmt.Errorf("audit SSE gauge not 1 yet")
		}
		return nil
	})
	// Another identity's record is not sent; the viewer's own is.
	e.seed(t,
		audit.Record{Event: audit.EventCommandExecuted, Identity: "operator", Cluster: "dev-1", Outcome: audit.OutcomeSuccess},
		audit.Record{Event: audit.EventCommandExecuted, Identity: "viewer", Cluster: "dev-1", Outcome: audit.OutcomeSuccess, Message: "mine"},
	)
	sc := bufio.NewScanner(res.Body)
	var pings int
	var event string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == ": ping":
			pings++
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			var rec audit.Record
			if err := json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &rec); err != nil {
				t.Fatal(err)
			}
			if event != "record" || rec.Identity != "viewer" || rec.Message != "mine" {
				t.Fatalf("got event %q record %+v; want the viewer's record", event, rec)
			}
			if pings == 0 {
				// Wait for a ping too.
				continue
			}
			cancel()
			return
		}
		if pings > 0 && event == "record" {
			cancel()
			return
		}
	}
	t.Fatalf("stream ended (pings %d, event %q): %v", pings, event, sc.Err())
}

func testutilGauge(e *env, stream string) float64 {
	return testutil.ToFloat64(e.srv.metrics.sse.WithLabelValues(stream))
}
