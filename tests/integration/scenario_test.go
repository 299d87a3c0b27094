package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"kubently.io/cli/command"
	"kubently.io/libs/audit"
	"kubently.io/libs/testkit"
)

// Keys of the operator scenario, from the key file.
const (
	teamViewerKey   = "team-viewer-key-0123456789"
	teamOperatorKey = "team-operator-key-0123456789"
)

// cli runs the kubently CLI in-process with key against s.
func cli(t *testing.T, s *stack, key string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	env := func(k string) (string, bool) {
		switch k {
		case "KUBENTLY_API_URL":
			return s.url, true
		case "KUBENTLY_API_KEY":
			return key, true
		case "HOME":
			return t.TempDir(), true
		}
		return "", false
	}
	var out, errb bytes.Buffer
	code = command.ExecuteContext(context.Background(), "test", args, env, &out, &errb)
	return code, out.String(), errb.String()
}

// scrapeURL GETs a /metrics endpoint over HTTP, as Prometheus does.
func scrapeURL(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return string(body)
}

// scrape returns the text exposition of h's /metrics.
func scrape(t *testing.T, h http.Handler) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "/metrics", nil)
	rec := &responseRecorder{header: http.Header{}}
	h.ServeHTTP(rec, req)
	return rec.body.String()
}

type responseRecorder struct {
	header http.Header
	body   bytes.Buffer
	code   int
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(code int)        { r.code = code }

// metricValue sums the samples of name whose labels contain every
// label="value" pair given.
func metricValue(text, name string, labels ...string) float64 {
	var sum float64
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(\{[^}]*\})? ([0-9.eE+-]+)$`)
	for _, m := range re.FindAllStringSubmatch(text, -1) {
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(m[1], l)
		}
		if ok {
			v, _ := strconv.ParseFloat(m[2], 64)
			sum += v
		}
	}
	return sum
}

// The "done when": an operator gives a teammate a viewer key
// scoped to one namespace of one cluster, sees everything that key did
// with `kubently audit`, and watches Kubently on a Prometheus scrape.
func TestOperatorScenario(t *testing.T) {
	a := startAccessStack(t, nil)
	writeKeyFile(t, a.keyFile, nsEntry+
		"  - {name: teammate, role: viewer, key: "+teamViewerKey+", scopes: [{clusters: ["+live+"], namespaces: [shop]}]}\n"+
		"  - {name: shop-op, role: operator, key: "+teamOperatorKey+", scopes: [{clusters: ["+live+"], namespaces: [shop]}]}\n")
	s := a.stack
	testkit.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		if r := s.do(t, http.MethodGet, "/v1/clusters", teamViewerKey, nil); r.status != http.StatusOK {
			return fmt.Errorf("teammate key not loaded yet: %d", r.status)
		}
		return nil
	})
	gwBefore := scrapeURL(t, s.url+"/metrics")
	dispBefore := scrape(t, promhttp.HandlerFor(s.Registries["dispatcher"], promhttp.HandlerOpts{}))

	// The teammate sees only the cluster in scope, and cannot run commands.
	r := s.do(t, http.MethodGet, "/v1/clusters", teamViewerKey, nil)
	if strings.Contains(string(r.body), offline) || !strings.Contains(string(r.body), live) {
		t.Fatalf("teammate clusters: got %s; want only %s", r.body, live)
	}
	r = s.do(t, http.MethodPost, "/v1/execute", teamViewerKey, execBody(live, "get", "pods", "-n", "shop"))
	if e := r.apiError(t); r.status != http.StatusForbidden || e.Reason != "role_forbidden" {
		t.Fatalf("viewer execute: got %d %s", r.status, r.body)
	}
	// An operator key scoped the same way runs commands in shop only.
	for _, tt := range []struct {
		argv   []string
		status int
		reason string
	}{
		{[]string{"get", "pods", "-n", "shop"}, http.StatusOK, ""},
		{[]string{"get", "pods", "-n", "kube-system"}, http.StatusForbidden, "namespace_out_of_scope"},
		{[]string{"get", "pods", "-A"}, http.StatusForbidden, "all_namespaces_out_of_scope"},
		{[]string{"get", "nodes"}, http.StatusForbidden, "namespace_out_of_scope"},
	} {
		r := s.do(t, http.MethodPost, "/v1/execute", teamOperatorKey, execBody(live, tt.argv...))
		if r.status != tt.status {
			t.Fatalf("shop-op %q: got %d %s; want %d", tt.argv, r.status, r.body, tt.status)
		}
		if tt.reason != "" {
			if e := r.apiError(t); e.Reason != tt.reason {
				t.Errorf("shop-op %q: reason %s; want %s", tt.argv, e.Reason, tt.reason)
			}
		}
	}

	// The admin sees everything each key did, with the CLI.
	var recs []audit.Record
	testkit.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		code, out, errOut := cli(t, s, accAdminKey, "audit", "--identity", "shop-op", "--since", "1h", "-o", "json")
		if code != command.ExitOK {
			return fmt.Errorf("kubently audit: exit %d: %s", code, errOut)
		}
		recs = nil
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			return fmt.Errorf("decode %q: %w", out, err)
		}
		final := 0
		for _, rec := range recs {
			if rec.Event == audit.EventCommandExecuted || rec.Event == audit.EventCommandDenied {
				final++
			}
		}
		if final != 4 {
			return fmt.Errorf("shop-op final records: got %d; want 4", final)
		}
		return nil
	})
	outcomes := map[audit.Outcome]int{}
	for _, rec := range recs {
		if rec.Event == audit.EventCommandDispatched {
			continue
		}
		outcomes[rec.Outcome]++
		if rec.Identity != "shop-op" || rec.Cluster != live || len(rec.Argv) == 0 {
			t.Errorf("record %+v: want identity shop-op, cluster %s and argv", rec, live)
		}
	}
	if outcomes[audit.OutcomeSuccess] != 1 || outcomes[audit.OutcomeDenied] != 3 {
		t.Errorf("shop-op outcomes: %v; want 1 success and 3 denied", outcomes)
	}
	code, out, errOut := cli(t, s, accAdminKey, "audit", "--identity", "teammate", "--since", "1h")
	if code != command.ExitOK || !strings.Contains(out, "command_denied") || !strings.Contains(out, "role_forbidden") {
		t.Errorf("admin audit of teammate (table): exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, _ = cli(t, s, accAdminKey, "audit", "--identity", "shop-op", "--since", "1h", "-o", "csv")
	if code != command.ExitOK || !strings.Contains(out, "namespace_out_of_scope") {
		t.Errorf("admin audit csv: exit %d\n%s", code, out)
	}
	// The teammate sees their own records and nobody else's.
	if code, out, errOut := cli(t, s, teamViewerKey, "audit", "--since", "1h", "-o", "json"); code != command.ExitOK || strings.Contains(out, "shop-op") || !strings.Contains(out, "teammate") {
		t.Errorf("teammate own audit: exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := cli(t, s, teamViewerKey, "audit", "--identity", "shop-op"); code != command.ExitRejected || !strings.Contains(errOut, "forbidden") {
		t.Errorf("teammate reading shop-op's audit: exit %d %s; want rejected/forbidden", code, errOut)
	}

	// And it all shows on a Prometheus scrape, moving.
	gwAfter := scrapeURL(t, s.url+"/metrics")
	dispAfter := scrape(t, promhttp.HandlerFor(s.Registries["dispatcher"], promhttp.HandlerOpts{}))
	if got := metricValue(gwAfter, "kubently_gateway_connected_executors", `cluster="`+live+`"`); got != 1 {
		t.Errorf("kubently_gateway_connected_executors{cluster=%q} = %v; want 1", live, got)
	}
	for _, m := range []struct {
		text, before, name string
		labels             []string
	}{
		{gwAfter, gwBefore, "kubently_gateway_http_request_duration_seconds_count", []string{`route="/v1/execute"`}},
		{gwAfter, gwBefore, "kubently_gateway_http_request_duration_seconds_count", []string{`route="/v1/audit"`}},
		{dispAfter, dispBefore, "kubently_dispatcher_command_duration_seconds_count", []string{`cluster="` + live + `"`}},
		{dispAfter, dispBefore, "kubently_dispatcher_command_outcomes_total", nil},
	} {
		if after, before := metricValue(m.text, m.name, m.labels...), metricValue(m.before, m.name, m.labels...); after <= before {
			t.Errorf("%s%v did not move: %v -> %v", m.name, m.labels, before, after)
		}
	}
	if metricValue(dispAfter, "kubently_policy_loaded") != 1 {
		t.Errorf("kubently_policy_loaded != 1 on the dispatcher")
	}
	for _, k := range []string{teamViewerKey, teamOperatorKey, accAdminKey} {
		if strings.Contains(s.logs.String(), k) {
			t.Errorf("logs contain a key (%s…)", k[:8])
		}
	}
}
