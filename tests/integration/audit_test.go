package integration

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"k8s.io/client-go/rest"

	"kubently.io/libs/audit"
	"kubently.io/libs/authz"
	"kubently.io/libs/contracts"
	"kubently.io/libs/natsutil"
	"kubently.io/libs/testbed"
	"kubently.io/libs/testkit"
	executorapp "kubently.io/services/executor/app"
	kstack "kubently.io/tests/stack"
)

// Clusters of the audit stack.
const (
	auditLive    = "alive-1"   // testbed, readOnly
	auditStrict  = "astrict-1" // testbed, profile strict (executor denies bk)
	auditSmall   = "asmall-1"  // testbed, 1 KiB output cap
	auditSlow    = "aslow-1"   // API server never answers
	auditOffline = "aoffline-1"
)

const auditPolicy = `apiVersion: kubently.io/v1
kind: Policy
profiles:
  - name: strict
    verbs: [get, describe, logs, events]
    restrictedResources: [configmaps, backups.shop.example.com]
    namespaces: {allow: [shop, data], deny: [kube-*]}
clusters:
  - {match: "astrict-*", profile: strict}
`

// Principals as the gateway forwards them.
var (
	auditAdmin = authz.Identity{Name: "root", Role: authz.RoleAdmin, Source: authz.SourceAPIKey}
	auditOp    = authz.Identity{Name: "alice", Role: authz.RoleOperator, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
	auditShop  = authz.Identity{Name: "sam", Role: authz.RoleOperator, Source: authz.SourceAPIKey,
		Scopes: []authz.Scope{{Clusters: []string{"a*"}, Namespaces: []string{"shop"}}}}
	auditViewer = authz.Identity{Name: "vera", Role: authz.RoleViewer, Source: authz.SourceAPIKey, Scopes: authz.AllClusters()}
)

func startAuditStack(t *testing.T) *stack {
	t.Helper()
	rc, err := executorapp.RESTConfig(executorapp.Config{Kubeconfig: testbed.Kubeconfig(t)})
	if err != nil {
		t.Fatalf("kubeconfig: %v", err)
	}
	path := filepath.Join(t.TempDir(), "policy.yaml")
	writeFile(t, path, auditPolicy)
	s := kstack.Start(t, kstack.Config{
		PolicyFile: path,
		Clusters: []kstack.Cluster{
			{ID: auditLive, Token: "alive-token-0123456789abcdef", REST: rc},
			{ID: auditStrict, Token: "astrict-token-0123456789abcdef", REST: rc},
			{ID: auditSmall, Token: "asmall-token-0123456789abcdef", REST: rc, MaxOutputBytes: 1024},
			{ID: auditSlow, Token: "aslow-token-0123456789abcdef", REST: &rest.Config{Host: kstack.Blackhole(t), Timeout: 0}},
			{ID: auditOffline, Token: "aoffline-token-0123456789abcdef"},
		},
	})
	// A namespace-scoped caller's types are judged by the cluster's
	// discovery: wait until the executors on the testbed have published
	// theirs, or a CRD short name reads as an unknown type.
	testkit.CheckFor(t, 2*time.Minute, 100*time.Millisecond, func() error {
		for _, c := range []string{auditLive, auditStrict, auditSmall} {
			if _, err := s.Store.GetDiscovery(context.Background(), c); err != nil {
				return fmt.Errorf("discovery of %s: %w", c, err)
			}
		}
		return nil
	})
	return &stack{Stack: s, url: s.URL, nc: s.Conn, store: s.Store, logs: s.Logs}
}

// dispatch sends an ExecuteRequest straight to the dispatcher over NATS,
// as the gateway does, with a fresh correlation id (returned). in.Caller
// and in.Gateway are filled from p unless set.
func (s *stack) dispatch(t *testing.T, in contracts.ExecuteRequest) (contracts.CommandResult, *contracts.Error, string) {
	t.Helper()
	if in.Gateway == "" {
		in.Gateway = "gw-test"
	}
	corr := "audit-" + contracts.NewID()[:16]
	ctx, cancel := context.WithTimeout(contracts.WithCorrelationID(context.Background(), corr), 90*time.Second)
	defer cancel()
	res, err := natsutil.Request(ctx, s.nc, contracts.DispatchExecute, in)
	if err != nil {
		return res, contracts.AsError(err), corr
	}
	return res, nil, corr
}

func as(id authz.Identity, cluster string, argv ...string) contracts.ExecuteRequest {
	p := id.Wire()
	return contracts.ExecuteRequest{Cluster: cluster, Argv: argv, Caller: id.Principal(), Principal: &p}
}

// auditRecords reads every record of the stack's audit stream.
func (s *stack) auditRecords(t *testing.T) []audit.Record {
	t.Helper()
	js, err := jetstream.New(s.nc)
	if err != nil {
		t.Fatal(err)
	}
	r, err := audit.NewReader(audit.ReaderConfig{JS: js})
	if err != nil {
		t.Fatal(err)
	}
	var all []audit.Record
	cursor := ""
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		res, err := r.Query(ctx, audit.Filter{}, audit.Page{Cursor: cursor, Limit: audit.MaxLimit})
		cancel()
		if err != nil {
			t.Fatalf("audit query: %v", err)
		}
		all = append(all, res.Records...)
		if res.NextCursor == "" {
			return all
		}
		cursor = res.NextCursor
	}
}

// auditCase is one command and the final record it must leave.
type auditCase struct {
	name      string
	in        contracts.ExecuteRequest
	event     audit.Event
	outcome   audit.Outcome
	reason    string
	namespace string
	code      contracts.ErrorCode // the reply's error code; empty: a result
	exit      int
	truncated bool

	corr   string
	result contracts.CommandResult
}

// TestAuditCompleteness runs commands of every outcome, restarts the
// dispatcher half way, and checks that the audit stream holds exactly one
// final record per command with the right fields and no output.
func TestAuditCompleteness(t *testing.T) {
	s := startAuditStack(t)
	timeout := as(auditOp, auditSlow, "get", "pods", "-n", "shop")
	timeout.TimeoutSeconds = 2
	before := []*auditCase{
		{name: "success", in: as(auditOp, auditLive, "get", "pods", "-n", "shop"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess, namespace: "shop"},
		{name: "success cluster-scoped", in: as(auditAdmin, auditLive, "get", "nodes"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess},
		{name: "failure", in: as(auditOp, auditLive, "get", "pod", "does-not-exist", "-n", "shop"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeFailure, reason: "command_failed", namespace: "shop", exit: 1},
		{name: "denied by policy", in: as(auditOp, auditLive, "get", "secrets", "-n", "shop"),
			event: audit.EventCommandDenied, outcome: audit.OutcomeDenied, reason: "restricted_resource", namespace: "shop", code: contracts.CodeCommandDenied},
		{name: "denied by role", in: as(auditViewer, auditLive, "get", "pods", "-n", "shop"),
			event: audit.EventCommandDenied, outcome: audit.OutcomeDenied, reason: string(authz.ReasonRoleForbidden), code: contracts.CodeForbidden},
		{name: "denied by scope", in: as(auditShop, auditLive, "get", "pods", "-n", "kube-system"),
			event: audit.EventCommandDenied, outcome: audit.OutcomeDenied, reason: string(authz.ReasonNamespaceOutOfScope), namespace: "kube-system", code: contracts.CodeForbidden},
	}
	after := []*auditCase{
		{name: "denied by executor", in: as(auditShop, auditStrict, "get", "bk", "-n", "shop"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeDenied, reason: "restricted_resource", namespace: "shop", exit: 1},
		{name: "timeout", in: timeout,
			event: audit.EventCommandExecuted, outcome: audit.OutcomeTimeout, reason: "timeout", namespace: "shop", exit: 1},
		{name: "executor unavailable", in: as(auditOp, auditOffline, "get", "pods"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeUnavailable, reason: string(contracts.CodeExecutorUnavailable), namespace: "default", code: contracts.CodeExecutorUnavailable},
		{name: "unknown cluster", in: as(auditOp, "anowhere-1", "get", "pods"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeUnavailable, reason: string(contracts.CodeUnknownCluster), namespace: "default", code: contracts.CodeUnknownCluster},
		{name: "success after restart", in: as(auditShop, auditLive, "describe", "deploy/frontend", "-n", "shop"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess, namespace: "shop"},
		{name: "truncated", in: as(auditAdmin, auditSmall, "get", "pods", "-A"),
			event: audit.EventCommandExecuted, outcome: audit.OutcomeSuccess, truncated: true},
	}
	run := func(cases []*auditCase) {
		for _, c := range cases {
			res, err, corr := s.dispatch(t, c.in)
			c.corr, c.result = corr, res
			switch {
			case c.code != "" && (err == nil || err.Code != c.code):
				t.Errorf("%s: got %v (%s); want error %s", c.name, err, res.Status, c.code)
			case c.code == "" && err != nil:
				t.Errorf("%s: got error %v; want a result", c.name, err)
			}
		}
	}
	run(before)
	firstHalf := s.auditRecords(t)

	s.RestartDispatcher(t)
	run(after)
	all := s.auditRecords(t)

	// Records written before the restart are all still there.
	ids := map[string]bool{}
	for _, r := range all {
		ids[r.ID] = true
	}
	for _, r := range firstHalf {
		if !ids[r.ID] {
			t.Errorf("record %s (%s) written before the restart is gone", r.ID, r.Event)
		}
	}

	cases := append(slices.Clone(before), after...)
	finals := 0
	for _, r := range all {
		if r.Event == audit.EventCommandExecuted || r.Event == audit.EventCommandDenied {
			finals++
		}
	}
	if finals != len(cases) {
		t.Errorf("%d final records; want exactly %d (one per command)", finals, len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mine []audit.Record
			for _, r := range all {
				if r.CorrelationID == c.corr {
					mine = append(mine, r)
				}
			}
			var fin []audit.Record
			var dispatched int
			for _, r := range mine {
				switch r.Event {
				case audit.EventCommandExecuted, audit.EventCommandDenied:
					fin = append(fin, r)
				case audit.EventCommandDispatched:
					dispatched++
				}
			}
			if len(fin) != 1 {
				t.Fatalf("%d final records; want 1: %+v", len(fin), mine)
			}
			r := fin[0]
			if r.Event != c.event || r.Outcome != c.outcome || r.Reason != c.reason {
				t.Errorf("record %s/%s/%s; want %s/%s/%s", r.Event, r.Outcome, r.Reason, c.event, c.outcome, c.reason)
			}
			if r.Identity != c.in.Caller || r.Role != c.in.Principal.Role || r.Cluster != c.in.Cluster ||
				r.Namespace != c.namespace || !slices.Equal(r.Argv, c.in.Argv) || r.Gateway != "gw-test" || r.Source != "dispatcher" {
				t.Errorf("record who/where/what %q %q %q %q %q %q %q; want %q %q %q %q %q gw-test dispatcher",
					r.Identity, r.Role, r.Cluster, r.Namespace, r.Argv, r.Gateway, r.Source,
					c.in.Caller, c.in.Principal.Role, c.in.Cluster, c.namespace, c.in.Argv)
			}
			if r.ExitCode != c.exit || r.Truncated != c.truncated {
				t.Errorf("record exit %d truncated %v; want %d %v", r.ExitCode, r.Truncated, c.exit, c.truncated)
			}
			if r.CommandID == "" || r.ID != r.CommandID+map[audit.Event]string{audit.EventCommandExecuted: "-executed", audit.EventCommandDenied: "-denied"}[r.Event] {
				t.Errorf("record id %q command id %q", r.ID, r.CommandID)
			}
			for _, o := range mine {
				if o.CommandID != r.CommandID {
					t.Errorf("record %s has command id %s; want %s", o.ID, o.CommandID, r.CommandID)
				}
			}
			if c.code == "" {
				if c.result.CommandID != r.CommandID || c.result.CorrelationID != c.corr {
					t.Errorf("result ids %s/%s; record %s/%s", c.result.CommandID, c.result.CorrelationID, r.CommandID, c.corr)
				}
				if r.Bytes != int64(len(c.result.Output)) {
					t.Errorf("record bytes %d; want %d (the output returned)", r.Bytes, len(c.result.Output))
				}
				if dispatched != 1 {
					t.Errorf("%d dispatched records; want 1 (written before the command ran)", dispatched)
				}
			} else if dispatched != 0 {
				t.Errorf("%d dispatched records for a command that never reached the bridge", dispatched)
			}
			if c.outcome == audit.OutcomeSuccess && r.Bytes == 0 {
				t.Errorf("success with no bytes recorded")
			}
			raw, _ := json.Marshal(mine)
			if strings.Contains(string(raw), `"output"`) {
				t.Errorf("a record has an output field: %s", raw)
			}
			if out := strings.TrimSpace(c.result.Output); len(out) > 40 && strings.Contains(string(raw), out[:40]) {
				t.Errorf("a record holds the command's output: %s", raw)
			}
		})
	}
}

// TestAuditForgedRequests publishes requests straight to NATS, bypassing
// the gateway: the dispatcher alone refuses what the principal may not do,
// runs nothing, and audits the refusal.
func TestAuditForgedRequests(t *testing.T) {
	s := startAuditStack(t)
	noPrincipal := as(auditOp, auditLive, "get", "pods", "-n", "shop")
	noPrincipal.Principal = nil
	forgedCaller := as(auditViewer, auditLive, "get", "pods", "-n", "shop")
	forgedCaller.Caller = "root"
	tests := []struct {
		name   string
		in     contracts.ExecuteRequest
		code   contracts.ErrorCode
		reason string
		event  audit.Event
	}{
		{"viewer principal", as(auditViewer, auditLive, "get", "pods", "-n", "shop"), contracts.CodeForbidden, string(authz.ReasonRoleForbidden), audit.EventCommandDenied},
		{"namespace out of scope", as(auditShop, auditLive, "get", "pods", "-n", "default"), contracts.CodeForbidden, string(authz.ReasonNamespaceOutOfScope), audit.EventCommandDenied},
		{"all namespaces out of scope", as(auditShop, auditLive, "get", "pods", "-A"), contracts.CodeForbidden, string(authz.ReasonAllNamespacesOutOfScope), audit.EventCommandDenied},
		{"missing principal", noPrincipal, contracts.CodeUnauthorized, "", audit.EventAuthDenied},
		{"caller not the principal", forgedCaller, contracts.CodeUnauthorized, "", audit.EventAuthDenied},
	}
	ran := executed(s)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err, corr := s.dispatch(t, tt.in)
			if err == nil || err.Code != tt.code || err.Reason != tt.reason {
				t.Fatalf("got %v; want %s/%s", err, tt.code, tt.reason)
			}
			var got []audit.Record
			for _, r := range s.auditRecords(t) {
				if r.CorrelationID == corr {
					got = append(got, r)
				}
			}
			if len(got) != 1 || got[0].Event != tt.event {
				t.Fatalf("records %+v; want one %s", got, tt.event)
			}
		})
	}
	if n := executed(s) - ran; n != 0 {
		t.Errorf("executors ran %d forged commands", n)
	}
}
