package dispatch

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil/natstest"
	"kubently.io/libs/policy"
	"kubently.io/libs/store"
)

// TestRecheck sends requests straight to NATS, bypassing any gateway: the
// dispatcher alone must refuse what the principal may not do.
func TestRecheck(t *testing.T) {
	e := newEnv(t, nil)
	bad := request(operator, online, "get", "pods")
	bad.Principal = nil
	mismatch := request(operator, online, "get", "pods")
	mismatch.Caller = "root"
	invalid := request(operator, online, "get", "pods")
	invalid.Principal.Role = "superuser"
	tests := []struct {
		name   string
		in     contracts.ExecuteRequest
		code   contracts.ErrorCode
		reason string
	}{
		{"no principal", bad, contracts.CodeUnauthorized, ""},
		{"caller is not the principal", mismatch, contracts.CodeUnauthorized, ""},
		{"invalid principal", invalid, contracts.CodeUnauthorized, ""},
		{"viewer may not execute", request(viewer, online, "get", "pods"), contracts.CodeForbidden, string(authz.ReasonRoleForbidden)},
		{"namespace out of scope", request(shopOp, online, "get", "pods", "-n", "kube-system"), contracts.CodeForbidden, string(authz.ReasonNamespaceOutOfScope)},
		{"default namespace out of scope", request(shopOp, online, "get", "pods"), contracts.CodeForbidden, string(authz.ReasonNamespaceOutOfScope)},
		{"all namespaces out of scope", request(shopOp, online, "get", "pods", "-A"), contracts.CodeForbidden, string(authz.ReasonAllNamespacesOutOfScope)},
		{"cluster-scoped for a namespaced scope", request(shopOp, online, "get", "nodes"), contracts.CodeForbidden, string(policy.ReasonClusterScoped)},
		{"cluster out of scope", request(shopOp, offline, "get", "pods", "-n", "shop"), contracts.CodeForbidden, string(authz.ReasonClusterOutOfScope)},
		{"policy", request(operator, online, "delete", "pods", "x"), contracts.CodeCommandDenied, string(policy.ReasonVerbNotAllowed)},
		{"policy restricted resource", request(admin, online, "get", "secrets"), contracts.CodeCommandDenied, string(policy.ReasonRestricted)},
		{"in scope", request(shopOp, online, "get", "pods", "-n", "shop"), "", ""},
		{"in scope, type/name", request(shopOp, online, "describe", "deploy/web", "--namespace=shop"), "", ""},
		{"admin anywhere", request(admin, online, "get", "nodes"), "", ""},
		{"operator -A", request(operator, online, "get", "pods", "-A"), "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err, corr := e.exec(t, tt.in)
			if tt.code == "" {
				if err != nil || res.Status != contracts.StatusSuccess {
					t.Fatalf("got %s %s; want success", res.Status, fmtErr(err))
				}
				return
			}
			if err == nil || err.Code != tt.code || err.Reason != tt.reason {
				t.Fatalf("got %s; want %s/%s", fmtErr(err), tt.code, tt.reason)
			}
			recs := byCorr(e.records(t, audit.Filter{}), corr)
			if len(recs) != 1 {
				t.Fatalf("got %d records; want 1: %+v", len(recs), recs)
			}
			rec := recs[0]
			if tt.code == contracts.CodeUnauthorized {
				if rec.Event != audit.EventAuthDenied || rec.Reason != string(contracts.CodeUnauthorized) {
					t.Errorf("record %s/%s; want auth_denied/unauthorized", rec.Event, rec.Reason)
				}
				return
			}
			if rec.Event != audit.EventCommandDenied || rec.Outcome != audit.OutcomeDenied || rec.Reason != tt.reason ||
				rec.Identity != tt.in.Caller || rec.Role != tt.in.Principal.Role || rec.ID != rec.CommandID+"-denied" {
				t.Errorf("record %+v; want command_denied/denied/%s by %s", rec, tt.reason, tt.in.Caller)
			}
		})
	}
	if n := e.queued(t, online); n != 0 {
		t.Errorf("%d commands left in the queue", n)
	}
	if got := testutil.ToFloat64(e.d.m.decisions.WithLabelValues("authz", string(authz.ReasonNamespaceOutOfScope))); got != 2 {
		t.Errorf("decisions{authz,namespace_out_of_scope} = %v; want 2", got)
	}
	if got := testutil.ToFloat64(e.d.m.decisions.WithLabelValues("authz", string(policy.ReasonClusterScoped))); got != 1 {
		t.Errorf("decisions{authz,cluster_scoped_resource} = %v; want 1", got)
	}
	if got := testutil.ToFloat64(e.d.m.decisions.WithLabelValues("policy", string(policy.ReasonRestricted))); got != 1 {
		t.Errorf("decisions{policy,restricted_resource} = %v; want 1", got)
	}
}

// queued reports how many commands wait in a cluster's queue, claiming
// them (only for clusters without a fake executor).
func (e *env) queued(tb testing.TB, cluster string) int {
	tb.Helper()
	if cluster == online {
		return 0 // the fake executor drains it
	}
	cmds, err := e.st.Claim(testCtx(tb), cluster, "probe", 100)
	if err != nil {
		tb.Fatal(err)
	}
	return len(cmds)
}

// TestAuditOutcomes runs one command per outcome and checks its records.
func TestAuditOutcomes(t *testing.T) {
	e := newEnv(t, nil)
	type want struct {
		event      audit.Event
		outcome    audit.Outcome
		reason     string
		exit       int
		bytes      int64
		truncated  bool
		dispatched bool
		code       contracts.ErrorCode // the reply's error code, if any
	}
	tests := []struct {
		name string
		in   contracts.ExecuteRequest
		run  func(contracts.Command) (contracts.ExecutorResult, bool)
		want want
	}{
		{"success", request(operator, online, "get", "pods", "-n", "shop"), nil,
			want{event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess, bytes: 12, dispatched: true}},
		{"failure", request(operator, online, "get", "pods", "nope", "-n", "shop"), func(c contracts.Command) (contracts.ExecutorResult, bool) {
			return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusFailure, Output: "x", Error: `pods "nope" not found`, ExitCode: 1}}, true
		}, want{event: audit.EventCommandExecuted, outcome: audit.OutcomeFailure, reason: "command_failed", exit: 1, bytes: 1, dispatched: true}},
		{"truncated", request(operator, online, "get", "pods", "-A"), func(c contracts.Command) (contracts.ExecutorResult, bool) {
			return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: strings.Repeat("y", 2048), Truncated: true}}, true
		}, want{event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess, bytes: 2048, truncated: true, dispatched: true}},
		{"denied by executor", request(operator, online, "get", "bk", "-n", "shop"), func(c contracts.Command) (contracts.ExecutorResult, bool) {
			return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusDenied, Error: "restricted", ExitCode: 1}, Reason: "restricted_resource"}, true
		}, want{event: audit.EventCommandExecuted, outcome: audit.OutcomeDenied, reason: "restricted_resource", exit: 1, dispatched: true}},
		{"executor error", request(operator, online, "get", "pods"), func(c contracts.Command) (contracts.ExecutorResult, bool) {
			return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusError, Error: "boom", ExitCode: 1}}, true
		}, want{event: audit.EventCommandExecuted, outcome: audit.OutcomeError, reason: "executor_error", exit: 1, dispatched: true}},
		{"timeout", withTimeout(request(operator, online, "get", "pods"), 1), func(contracts.Command) (contracts.ExecutorResult, bool) {
			return contracts.ExecutorResult{}, false
		}, want{event: audit.EventCommandExecuted, outcome: audit.OutcomeTimeout, reason: "timeout", exit: 1, dispatched: true}},
		{"executor unavailable", request(operator, offline, "get", "pods"), nil,
			want{event: audit.EventCommandExecuted, outcome: audit.OutcomeUnavailable, reason: string(contracts.CodeExecutorUnavailable), code: contracts.CodeExecutorUnavailable}},
		{"unknown cluster", request(operator, "nowhere", "get", "pods"), nil,
			want{event: audit.EventCommandExecuted, outcome: audit.OutcomeUnavailable, reason: string(contracts.CodeUnknownCluster), code: contracts.CodeUnknownCluster}},
		{"policy denial", request(operator, online, "get", "pods", "--token=x"), nil,
			want{event: audit.EventCommandDenied, outcome: audit.OutcomeDenied, reason: string(policy.ReasonCredentialFlag), code: contracts.CodeCommandDenied}},
		{"invalid input", withTimeout(request(operator, online, "get", "pods"), 100000), nil,
			want{event: audit.EventCommandDenied, outcome: audit.OutcomeDenied, reason: string(contracts.CodeInvalidTimeout), code: contracts.CodeInvalidTimeout}},
		// No session service answers: a routing failure, not a denial.
		{"session service down", withSession(request(operator, online, "get", "pods"), "sess-1"), nil,
			want{event: audit.EventCommandExecuted, outcome: audit.OutcomeUnavailable, reason: string(contracts.CodeUnavailable), code: contracts.CodeUnavailable}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.run != nil {
				e.setRun(tt.run)
				defer e.setRun(func(c contracts.Command) (contracts.ExecutorResult, bool) {
					return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess, Output: "pod-a\npod-b\n"}}, true
				})
			}
			res, err, corr := e.exec(t, tt.in)
			if tt.want.code != "" {
				if err == nil || err.Code != tt.want.code {
					t.Fatalf("got %s; want %s", fmtErr(err), tt.want.code)
				}
			} else if err != nil {
				t.Fatalf("got %s; want a result", fmtErr(err))
			}
			recs := byCorr(e.records(t, audit.Filter{}), corr)
			rec := final(t, recs, corr)
			if rec.Event != tt.want.event || rec.Outcome != tt.want.outcome || rec.Reason != tt.want.reason ||
				rec.ExitCode != tt.want.exit || rec.Bytes != tt.want.bytes || rec.Truncated != tt.want.truncated {
				t.Errorf("record %s/%s/%s exit %d bytes %d truncated %v; want %+v",
					rec.Event, rec.Outcome, rec.Reason, rec.ExitCode, rec.Bytes, rec.Truncated, tt.want)
			}
			if rec.Identity != operator.Principal() || rec.Role != "operator" || rec.Gateway != "gw-0" ||
				!slices.Equal(rec.Argv, scrubbed(tt.in.Argv)) || rec.Source != "dispatcher" || rec.CommandID == "" {
				t.Errorf("record fields %+v; want identity, role, gateway, argv, source and command id", rec)
			}
			if contracts.ValidateID("cluster", tt.in.Cluster) == nil && rec.Cluster != tt.in.Cluster {
				t.Errorf("record cluster %q; want %q", rec.Cluster, tt.in.Cluster)
			}
			if err == nil && (res.CommandID != rec.CommandID || res.CorrelationID != corr) {
				t.Errorf("result ids %s/%s; want %s/%s", res.CommandID, res.CorrelationID, rec.CommandID, corr)
			}
			var dispatched []audit.Record
			for _, r := range recs {
				if r.Event == audit.EventCommandDispatched {
					dispatched = append(dispatched, r)
				}
				if r.CommandID != rec.CommandID {
					t.Errorf("record %s has command id %s; want %s", r.ID, r.CommandID, rec.CommandID)
				}
			}
			if got := len(dispatched) == 1; got != tt.want.dispatched || len(dispatched) > 1 {
				t.Errorf("%d dispatched records; want dispatched=%v", len(dispatched), tt.want.dispatched)
			}
			if tt.want.dispatched && dispatched[0].ID != rec.CommandID+"-dispatched" {
				t.Errorf("dispatched record id %s", dispatched[0].ID)
			}
			raw, _ := json.Marshal(recs)
			if strings.Contains(string(raw), "pod-a") || strings.Contains(string(raw), "yyyy") {
				t.Errorf("a record holds command output: %s", raw)
			}
		})
	}
	if got := testutil.ToFloat64(e.d.m.outcomes.WithLabelValues("timeout", "timeout")); got != 1 {
		t.Errorf("outcomes{timeout} = %v; want 1", got)
	}
	if got := testutil.CollectAndCount(e.d.m.latency); got == 0 {
		t.Error("no latency observed")
	}
}

// scrubbed is argv as an audit record keeps it.
func scrubbed(argv []string) []string {
	out, _ := policy.ScrubArgv(argv)
	return out
}

// TestAuditScrubsCredentials sends refused commands carrying credential,
// target and file flags in every spelling, as argv and as command lines
// split the way the gateway splits them, and checks that no stored
// record keeps the value.
func TestAuditScrubsCredentials(t *testing.T) {
	e := newEnv(t, nil)
	const secret = "s3cr3tV4lue"
	lines := []string{
		"get pods --token=" + secret,
		"get pods --token " + secret,
		"get pods --password=" + secret,
		"get pods --password " + secret,
		"get pods --username " + secret,
		"get pods -s " + secret,
		"get pods -s" + secret,
		"get pods -s=" + secret,
		"get pods -As " + secret,
		"get pods --server=https://" + secret,
		"get pods --kubeconfig /tmp/" + secret,
		"get pods --as " + secret,
		"get pods --as-group=" + secret,
		"get pods --client-key " + secret,
		"get pods --certificate-authority=" + secret,
		"get pods --insecure-skip-tls-verify=" + secret,
		"get pods --tok=" + secret,
		"get pods --token-file " + secret,
		"get -f " + secret,
		"get pods -k" + secret,
		"get pods -- --token=" + secret,
		"get pods -l --server=" + secret,
		"--token=" + secret + " get pods",
		"logs web --grep postgres://u:" + secret + "@db --token " + secret,
		"kubectl describe pod web --password='" + secret + "'",
	}
	for _, line := range lines {
		argv, err := policy.SplitLine(line)
		if err != nil {
			t.Fatalf("SplitLine(%q): %v", line, err)
		}
		_, cerr, corr := e.exec(t, request(operator, online, argv...))
		if cerr == nil {
			t.Fatalf("%q: ran; want it refused", line)
		}
		recs := byCorr(e.records(t, audit.Filter{}), corr)
		if len(recs) == 0 {
			t.Fatalf("%q: no audit record", line)
		}
		raw, _ := json.Marshal(recs)
		if strings.Contains(string(raw), secret) {
			t.Errorf("%q: an audit record keeps the credential: %s", line, raw)
		}
	}
}

func withTimeout(in contracts.ExecuteRequest, s int) contracts.ExecuteRequest {
	in.TimeoutSeconds = s
	return in
}

func withSession(in contracts.ExecuteRequest, id string) contracts.ExecuteRequest {
	in.SessionID = id
	return in
}

// TestAuditUnavailable: when the dispatched record cannot be stored, the
// command is not run and the caller gets 503.
func TestAuditUnavailable(t *testing.T) {
	// An audit writer on a server without the audit stream: every write
	// fails (no stream answers) until its timeout.
	other := natstest.Connect(t, natstest.RunServer(t))
	ojs, err := jetstream.New(other)
	if err != nil {
		t.Fatal(err)
	}
	w, err := audit.NewWriter(audit.WriterConfig{JS: ojs, AttemptTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Audit = w; c.AuditTimeout = 500 * time.Millisecond })
	ran := make(chan string, 1)
	e.setRun(func(c contracts.Command) (contracts.ExecutorResult, bool) {
		ran <- c.ID
		return contracts.ExecutorResult{CommandID: c.ID, Outcome: contracts.Outcome{Status: contracts.StatusSuccess}}, true
	})
	_, rerr, _ := e.exec(t, request(operator, online, "get", "pods"))
	if rerr == nil || rerr.Code != contracts.CodeUnavailable || !strings.Contains(rerr.Message, "not run") {
		t.Fatalf("got %s; want unavailable: command not run", fmtErr(rerr))
	}
	select {
	case id := <-ran:
		t.Fatalf("command %s ran without an audit record", id)
	case <-time.After(300 * time.Millisecond):
	}
	if got := testutil.ToFloat64(e.d.m.auditErrors.WithLabelValues(string(audit.EventCommandDispatched))); got != 1 {
		t.Errorf("audit_write_errors{command_dispatched} = %v; want 1", got)
	}
}

// TestSessionPrincipal: the dispatcher forwards the principal to the
// session service, which decides who may use the session.
func TestSessionPrincipal(t *testing.T) {
	e := newEnv(t, nil)
	got := make(chan contracts.SessionRequest, 1)
	svc, err := micro.AddService(e.nc, micro.Config{Name: "fake-session", Version: "0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Stop() })
	err = svc.AddEndpoint("keepalive", micro.HandlerFunc(func(r micro.Request) {
		var env contracts.SessionRequest
		_ = json.Unmarshal(r.Data(), &env)
		got <- env
		resp, _ := contracts.NewResponse(contracts.TypeSession, contracts.Session{ID: env.ID, Cluster: online, Owner: "alice", State: contracts.SessionActive})
		_ = r.RespondJSON(resp)
	}), micro.WithEndpointSubject(contracts.SessionKeepaliveSubject))
	if err != nil {
		t.Fatal(err)
	}
	in := withSession(request(admin, online, "get", "pods"), "sess-of-alice")
	res, rerr, corr := e.exec(t, in)
	if rerr != nil || res.Status != contracts.StatusSuccess {
		t.Fatalf("got %s %s; want success", res.Status, fmtErr(rerr))
	}
	req := <-got
	if req.Principal == nil || req.Principal.Name != "root" || req.Principal.Role != "admin" || req.Caller != "root" {
		t.Errorf("session request %+v; want the admin principal forwarded", req)
	}
	rec := final(t, e.records(t, audit.Filter{}), corr)
	if rec.SessionID != "sess-of-alice" || rec.Identity != "root" {
		t.Errorf("record session %q identity %q; want sess-of-alice, root", rec.SessionID, rec.Identity)
	}
}

// TestLogFields: every log line about a command names it, its cluster,
// correlation id and caller.
func TestLogFields(t *testing.T) {
	e := newEnv(t, nil)
	_, _, _ = e.exec(t, request(operator, online, "get", "pods"))
	_, _, _ = e.exec(t, request(operator, online, "delete", "pods"))
	_, _, _ = e.exec(t, request(operator, offline, "get", "pods"))
	lines := strings.Split(strings.TrimSpace(e.logs.String()), "\n")
	n := 0
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		if m["msg"] != "command finished" && m["msg"] != "command rejected" && m["msg"] != "command dispatched" {
			continue
		}
		n++
		for _, k := range []string{"correlation_id", "command_id", "cluster", "identity"} {
			if s, _ := m[k].(string); s == "" {
				t.Errorf("log line %s has no %s", l, k)
			}
		}
	}
	if n < 3 {
		t.Errorf("%d command log lines; want at least 3:\n%s", n, e.logs.String())
	}
}

// TestStopUnregisters: Stop lets a new dispatcher register on the same
// registry, as a restarted process would.
func TestStopUnregisters(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.d.Stop(); err != nil {
		t.Fatal(err)
	}
	d2, err := New(testCtx(t), e.d.cfg)
	if err != nil {
		t.Fatalf("New after Stop: %v", err)
	}
	t.Cleanup(func() { _ = d2.Stop() })
	res, rerr, _ := e.exec(t, request(operator, online, "get", "pods"))
	if rerr != nil || res.Status != contracts.StatusSuccess {
		t.Fatalf("got %s %s; want success", res.Status, fmtErr(rerr))
	}
}

// TestQueueFull: a cluster whose queue holds MaxQueue commands not yet
// acknowledged refuses more with 503 unavailable, before anything is
// dispatched, and the refusal is audited and counted.
func TestQueueFull(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.MaxQueue = 2 })
	ctx := testCtx(t)
	const busy = "busy-1"
	if err := e.st.PutCluster(ctx, store.ClusterRecord{ID: busy, TokenHash: strings.Repeat("0", 64), CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := e.st.Refresh(ctx, contracts.ExecutorInfo{Cluster: busy, ConnID: "conn-b", ExecutorID: "exec-b", Gateway: "gw",
		ConnectedAt: time.Now(), LastSeen: time.Now()}, time.Minute); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := e.st.Enqueue(ctx, contracts.Command{ID: contracts.NewID(), Cluster: busy, Argv: []string{"get", "pods"}, Deadline: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	_, err, corr := e.exec(t, request(operator, busy, "get", "pods"))
	want := "queue for cluster busy-1 is full (2 commands waiting)"
	if err == nil || err.Code != contracts.CodeUnavailable || !strings.Contains(err.Message, want) {
		t.Fatalf("got %s; want %s %q", fmtErr(err), contracts.CodeUnavailable, want)
	}
	recs := byCorr(e.records(t, audit.Filter{}), corr)
	for _, r := range recs {
		if r.Event == audit.EventCommandDispatched {
			t.Errorf("a refused command has a dispatched record: %+v", r)
		}
	}
	if got := final(t, recs, corr); got.Outcome != audit.OutcomeUnavailable {
		t.Errorf("final record outcome = %s; want %s", got.Outcome, audit.OutcomeUnavailable)
	}
	if got := testutil.ToFloat64(e.d.m.queueFull); got != 1 {
		t.Errorf("kubently_dispatcher_queue_full_total = %v; want 1", got)
	}
	// The online cluster, whose executor acknowledges, is not affected.
	if _, err, _ := e.exec(t, request(operator, online, "get", "pods")); err != nil {
		t.Errorf("online cluster: got %s; want success", fmtErr(err))
	}
}
