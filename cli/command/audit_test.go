package command

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"kubently.io/cli/client"
	"kubently.io/cli/internal/auditfake"
	"kubently.io/libs/audit"
	"kubently.io/libs/contracts"
	"kubently.io/libs/testkit"
)

// testNow is the clock of these tests; records are an hour before it.
var testNow = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// runCLI runs kubently with args against url and returns the exit code,
// stdout and stderr.
// wantContains fails t for each of want that the output called name
// (stdout, stderr) lacks.
func wantContains(t testing.TB, name, got string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			t.Errorf("%s lacks %q:\n%s", name, w, got)
		}
	}
}

func runCLI(t testing.TB, ctx context.Context, url string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr testkit.SyncBuffer
	env := func(k string) (string, bool) {
		switch k {
		case "KUBENTLY_API_URL":
			return url, true
		case "KUBENTLY_API_KEY":
			return auditfake.Key, true
		}
		return "", false
	}
	o := &Options{
		env: env, stdout: &stdout, stderr: &stderr, now: func() time.Time { return testNow }, loc: time.UTC,
		follow: client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StaleAfter: 5 * time.Second},
	}
	code := execute(ctx, newRoot(o, "test"), args, &stderr)
	return code, stdout.String(), stderr.String()
}

// sampleRecords covers every column: a command that failed, a denied one
// with a long argv, a session event without exit or duration, and a
// denied authentication naming no cluster whose claimed identity holds a
// terminal escape (the table shows it as '?').
func sampleRecords() []audit.Record {
	base := testNow.Add(-time.Hour)
	return []audit.Record{
		{
			Type: audit.RecordType, ID: "r1", Time: base, Event: audit.EventCommandExecuted,
			Identity: "alice", Role: "operator", Cluster: "prod-eu", Namespace: "shop",
			Argv: []string{"get", "pods", "-l", "app=web"}, Outcome: audit.OutcomeFailure, Reason: "kubectl_error",
			ExitCode: 1, DurationMS: 1234, Bytes: 2048, Truncated: true, CommandID: "cmd1", SessionID: "s1",
			CorrelationID: "corr1", Gateway: "gw-0", Source: "dispatcher", Replica: "d-0",
		},
		{
			Type: audit.RecordType, ID: "r2", Time: base.Add(time.Minute), Event: audit.EventCommandDenied,
			Identity: "bob", Role: "viewer", Cluster: "prod-eu",
			Argv:    []string{"logs", "web-7d4b9", "-n", "shop", "--tail", "100", "--since", "10m", "--timestamps", "\x1b[31mred"},
			Outcome: audit.OutcomeDenied, Reason: "verb_not_allowed", CommandID: "cmd2", Message: "logs denied, by \"policy\"",
		},
		{
			Type: audit.RecordType, ID: "r3", Time: base.Add(2 * time.Minute), Event: audit.EventSessionCreated,
			Identity: "alice", Cluster: "prod-eu", SessionID: "s1",
		},
		{
			Type: audit.RecordType, ID: "r4", Time: base.Add(3 * time.Minute), Event: audit.EventAuthDenied,
			Identity: "eve\x1b[2J", Remote: "10.0.0.9", Outcome: audit.OutcomeDenied, Reason: "unknown_key", Suppressed: 3,
		},
		{
			Type: audit.RecordType, ID: "r5", Time: base.Add(4 * time.Minute), Event: audit.EventCommandExecuted,
			Identity: "carol", Cluster: "dev", Argv: []string{"get", "events", "--field-selector", "type=Warning", ""},
			Outcome: audit.OutcomeSuccess, DurationMS: 80, Bytes: 10, CommandID: "cmd5",
		},
	}
}

// golden compares got with testdata/name; UPDATE_GOLDEN=1 rewrites it.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if os.Getenv("UPDATE_GOLDEN") != "" {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (regenerate with UPDATE_GOLDEN=1 go test ./...): %v", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestAuditFlagValidation(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string // in stderr
	}{
		{"bad duration", []string{"--since", "5x"}, `--since "5x": want a duration ago`},
		{"negative duration", []string{"--since", "-1h"}, `--since "-1h"`},
		{"bad days", []string{"--until", "0d"}, `--until "0d"`},
		{"bad time", []string{"--since", "2026-13-01T00:00:00Z"}, `--since "2026-13-01T00:00:00Z"`},
		{"until before since", []string{"--since", "1h", "--until", "2h"}, "is not after --since"},
		{"follow with past until", []string{"-f", "--until", "1h"}, "drop --follow"},
		{"bad outcome", []string{"--outcome", "ok"}, `--outcome "ok": want one of success, failure, denied, timeout, unavailable, error`},
		{"bad event", []string{"--event", "exec"}, `--event "exec": want one of`},
		{"bad cluster", []string{"--cluster", "Prod"}, `--cluster "Prod"`},
		{"bad command id", []string{"--command-id", "a/b"}, `--command-id "a/b"`},
		{"long identity", []string{"--identity", strings.Repeat("x", audit.MaxFieldLen+1)}, "--identity is"},
		{"limit too big", []string{"--limit", "1001"}, "--limit 1001: want 1 to 1000"},
		{"negative limit", []string{"--limit", "-1"}, "--limit -1"},
		{"negative max", []string{"--max", "-5"}, "--max -5"},
		{"bad output", []string{"-o", "yaml"}, `--output "yaml": want table, json or csv`},
		{"positional arg", []string{"prod"}, "unknown command"},
		{"unknown flag", []string{"--clusters", "x"}, "unknown flag: --clusters"},
		{"bad int", []string{"--limit", "many"}, "invalid argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No server: validation must fail before any request.
			code, stdout, stderr := runCLI(t, context.Background(), "http://127.0.0.1:1", append([]string{"audit"}, tt.args...)...)
			if code != ExitUsage {
				t.Errorf("got exit %d; want %d (stderr %q)", code, ExitUsage, stderr)
			}
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("got stderr %q; want it to contain %q", stderr, tt.want)
			}
			if stdout != "" {
				t.Errorf("got stdout %q; want none", stdout)
			}
		})
	}
}

func TestAuditValidFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		query map[string]string
	}{
		{"relative since", []string{"--since", "1h"}, map[string]string{"since": "2026-05-01T11:00:00Z"}},
		{"days", []string{"--since", "2d", "--until", "1d"}, map[string]string{"since": "2026-04-29T12:00:00Z", "until": "2026-04-30T12:00:00Z"}},
		{"rfc3339 with zone", []string{"--since", "2026-05-01T12:30:00+02:00"}, map[string]string{"since": "2026-05-01T10:30:00Z"}},
		{"filters", []string{"--cluster", "prod-eu", "--identity", "alice", "--outcome", "error", "--event", "command_executed", "--command-id", "cmd1"},
			map[string]string{"cluster": "prod-eu", "identity": "alice", "outcome": "error", "event": "command_executed", "command_id": "cmd1"}},
		{"no cluster", []string{"--cluster", "_"}, map[string]string{"cluster": "_"}},
		{"limit", []string{"--limit", "50", "--max", "0"}, map[string]string{"limit": "50"}},
		{"table max shrinks the page", []string{"--max", "3"}, map[string]string{"limit": "3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{})
			code, _, stderr := runCLI(t, context.Background(), fake.URL, append([]string{"audit"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("got exit %d; want 0 (stderr %q)", code, stderr)
			}
			reqs := fake.Requests()
			if len(reqs) != 1 {
				t.Fatalf("got %d requests; want 1", len(reqs))
			}
			got := map[string]string{}
			for k, v := range reqs[0].URL.Query() {
				got[k] = v[0]
			}
			if diff := cmp.Diff(tt.query, got); diff != "" {
				t.Errorf("query (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAuditOutput(t *testing.T) {
	tests := []struct {
		name, golden string
		args         []string
	}{
		{"table", "audit_table.golden", nil},
		{"json", "audit_json.golden", []string{"-o", "json"}},
		{"csv", "audit_csv.golden", []string{"-o", "csv"}},
		{"empty json", "audit_empty_json.golden", []string{"-o", "json", "--cluster", "none"}},
		{"empty csv", "audit_empty_csv.golden", []string{"-o", "csv", "--cluster", "none"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{Records: sampleRecords()})
			code, stdout, stderr := runCLI(t, context.Background(), fake.URL, append([]string{"audit", "--since", "2h"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("got exit %d; want 0 (stderr %q)", code, stderr)
			}
			if tt.name == "table" && strings.ContainsRune(stdout, '\x1b') {
				t.Errorf("table output holds an escape character")
			}
			golden(t, tt.golden, stdout)
		})
	}
}

func TestAuditEmptyTable(t *testing.T) {
	fake := auditfake.New(t, auditfake.Config{Records: sampleRecords()})
	code, stdout, stderr := runCLI(t, context.Background(), fake.URL, "audit", "--cluster", "none")
	if code != ExitOK || stdout != "" || !strings.Contains(stderr, "No audit records found.") {
		t.Errorf("got exit %d, stdout %q, stderr %q; want 0, none, a note", code, stdout, stderr)
	}
}

func TestAuditMax(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantRows int
		wantNote bool
	}{
		{"max below total", []string{"--max", "3"}, 3, true},
		{"max equals total", []string{"--max", "5", "--limit", "5"}, 5, false},
		{"max zero is unlimited", []string{"--max", "0"}, 5, false},
		{"json unlimited by default", []string{"-o", "json"}, 5, false},
		{"max over pages", []string{"--max", "4", "--limit", "1"}, 4, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{Records: sampleRecords()})
			code, stdout, stderr := runCLI(t, context.Background(), fake.URL, append([]string{"audit"}, tt.args...)...)
			if code != ExitOK {
				t.Fatalf("got exit %d (stderr %q)", code, stderr)
			}
			rows := strings.Count(stdout, "\n") - 1 // header
			if strings.Contains(strings.Join(tt.args, " "), "json") {
				rows = strings.Count(stdout, `"id": "`)
			}
			if rows != tt.wantRows {
				t.Errorf("got %d rows; want %d\n%s", rows, tt.wantRows, stdout)
			}
			if got := strings.Contains(stderr, "stopped after"); got != tt.wantNote {
				t.Errorf("got note %t; want %t (stderr %q)", got, tt.wantNote, stderr)
			}
		})
	}
}

func TestAuditHTTPErrors(t *testing.T) {
	tests := []struct {
		name     string
		fail     *auditfake.Failure
		key      string
		wantCode int
		want     string
	}{
		{"400", &auditfake.Failure{Status: 400, Code: contracts.CodeBadRequest}, "", ExitRejected, "bad_request: fake bad_request"},
		{"401", nil, "wrong", ExitRejected, "unauthorized"},
		{"403", &auditfake.Failure{Status: 403, Code: contracts.CodeForbidden}, "", ExitRejected, "forbidden"},
		{"429", &auditfake.Failure{Status: 429, Code: contracts.CodeRateLimited, RetryAfter: "12"}, "", ExitRejected, "rate_limited: fake rate_limited (retry after 12s)"},
		{"503", &auditfake.Failure{Status: 503, Code: contracts.CodeUnavailable}, "", ExitRejected, "unavailable"},
		{"503 from a proxy", &auditfake.Failure{Status: 503, Body: "<html>down</html>"}, "", ExitRejected, "gateway answered 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{Records: sampleRecords(), Fail: func(*http.Request) *auditfake.Failure { return tt.fail }})
			args := []string{"audit"}
			if tt.key != "" {
				args = append(args, "--api-key", tt.key)
			}
			code, _, stderr := runCLI(t, context.Background(), fake.URL, args...)
			if code != tt.wantCode || !strings.Contains(stderr, tt.want) {
				t.Errorf("got exit %d, stderr %q; want %d, %q", code, stderr, tt.wantCode, tt.want)
			}
		})
	}
}

// followCLI runs `kubently audit -f args` until stdout holds want lines,
// then cancels it, and returns its exit code and output.
func followCLI(t *testing.T, url string, wantLines int, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var (
		code           int
		stdout, stderr string
	)
	done := make(chan struct{})
	go func() {
		defer close(done)
		code, stdout, stderr = runCLIWatch(t, ctx, url, func(s string) {
			if strings.Count(s, "\n") >= wantLines {
				cancel()
			}
		}, append([]string{"audit", "-f"}, args...)...)
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("follow did not end after cancel")
	}
	if ctx.Err() == context.DeadlineExceeded {
		t.Fatalf("follow timed out; stdout %q stderr %q", stdout, stderr)
	}
	return code, stdout, stderr
}

// watchBuffer calls watch with its contents after each write.
type watchBuffer struct {
	testkit.SyncBuffer
	watch func(string)
}

func (w *watchBuffer) Write(p []byte) (int, error) {
	n, err := w.SyncBuffer.Write(p)
	w.watch(w.String())
	return n, err
}

func runCLIWatch(t testing.TB, ctx context.Context, url string, watch func(string), args ...string) (int, string, string) {
	t.Helper()
	stdout := &watchBuffer{watch: watch}
	var stderr testkit.SyncBuffer
	env := func(k string) (string, bool) {
		switch k {
		case "KUBENTLY_API_URL":
			return url, true
		case "KUBENTLY_API_KEY":
			return auditfake.Key, true
		}
		return "", false
	}
	o := &Options{
		env: env, stdout: stdout, stderr: &stderr, now: func() time.Time { return testNow }, loc: time.UTC,
		follow: client.FollowOptions{MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond, StaleAfter: 5 * time.Second},
	}
	code := execute(ctx, newRoot(o, "test"), args, &stderr)
	return code, stdout.String(), stderr.String()
}

// followRecords are sampleRecords with the last three moved to around
// testNow, so the stream's since (testNow less audit.ClockSlack) selects
// them: r3 is in the backlog and replayed, r4 and r5 are new.
func followRecords() []audit.Record {
	rs := sampleRecords()
	rs[2].Time = testNow.Add(-time.Minute)
	rs[3].Time = testNow.Add(time.Second)
	rs[4].Time = testNow.Add(2 * time.Second)
	return rs
}

func TestAuditFollow(t *testing.T) {
	rs := followRecords()
	tests := []struct {
		name   string
		args   []string
		lines  int
		golden string
	}{
		// No --since: no backlog query, the stream only.
		{"json lines, new only", []string{"-o", "json"}, 2, "audit_follow_json.golden"},
		// --since: the backlog (r1..r3) first, then the stream, which
		// replays r3 (skipped) and adds r4 and r5.
		{"table with backlog", []string{"--since", "2h"}, 6, "audit_follow_table.golden"},
		{"csv with backlog", []string{"--since", "2h", "-o", "csv"}, 6, "audit_follow_csv.golden"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := auditfake.New(t, auditfake.Config{
				Records: rs[:3],
				Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
					if r.URL.Query().Get("since") != "" {
						w.Record("", rs[2])
					}
					w.Raw(": ping\n\n")
					w.Record("", rs[3])
					w.Record("", rs[4])
					<-r.Context().Done()
				},
			})
			code, stdout, stderr := followCLI(t, fake.URL, tt.lines, tt.args...)
			if code != ExitOK {
				t.Fatalf("got exit %d; want 0 after cancel (stderr %q)", code, stderr)
			}
			golden(t, tt.golden, stdout)
			if strings.Contains(strings.Join(tt.args, " "), "--since") {
				reqs := fake.Requests()
				last := reqs[len(reqs)-1]
				want := testNow.Add(-audit.ClockSlack).Format(time.RFC3339Nano)
				if last.URL.Path != "/v1/audit/stream" || last.URL.Query().Get("since") != want {
					t.Errorf("got stream request %s; want since=%s", last.URL, want)
				}
			}
		})
	}
}

func TestAuditFollowReconnectNote(t *testing.T) {
	rs := sampleRecords()
	fake := auditfake.New(t, auditfake.Config{Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
		w.Record("", rs[conn])
		if conn > 0 {
			<-r.Context().Done()
		}
	}})
	code, stdout, stderr := followCLI(t, fake.URL, 2, "-o", "json")
	if code != ExitOK || strings.Count(stdout, "\n") != 2 {
		t.Errorf("got exit %d, stdout %q; want 0 and two records", code, stdout)
	}
	if !strings.Contains(stderr, "kubently: audit stream: audit stream ended; reconnecting in") {
		t.Errorf("got stderr %q; want a reconnect note", stderr)
	}
}

func TestAuditFollowMax(t *testing.T) {
	rs := followRecords()
	fake := auditfake.New(t, auditfake.Config{Records: rs[:2], Stream: func(conn int, w *auditfake.Writer, r *http.Request) {
		for _, rec := range rs[2:] {
			w.Record("", rec)
		}
		<-r.Context().Done()
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	code, stdout, stderr := runCLI(t, ctx, fake.URL, "audit", "-f", "--since", "2h", "--max", "3", "-o", "json")
	if code != ExitOK || strings.Count(stdout, "\n") != 3 || !strings.Contains(stderr, "stopped after 3 records") {
		t.Errorf("got exit %d, stdout %q, stderr %q; want 0, three records, a note", code, stdout, stderr)
	}
}

func TestAuditCompletion(t *testing.T) {
	for _, o := range outcomes {
		if !o.Known() {
			t.Errorf("outcome %q is not audit.Outcome.Known", o)
		}
	}
	tests := []struct {
		flag string
		want []string
	}{
		{"--outcome", []string{"success", "failure", "denied", "timeout", "unavailable", "error"}},
		{"-o", []string{"table", "json", "csv"}},
	}
	for _, tt := range tests {
		t.Run(tt.flag, func(t *testing.T) {
			_, stdout, _ := runCLI(t, context.Background(), "", "__complete", "audit", tt.flag, "")
			lines := strings.Split(strings.TrimSpace(stdout), "\n")
			if diff := cmp.Diff(append(tt.want, ":4"), lines); diff != "" {
				t.Errorf("completion (-want +got):\n%s", diff)
			}
		})
	}
}
