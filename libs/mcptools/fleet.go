package mcptools

import (
	"context"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

// FleetBackend is a Backend that also fans one read or diagnosis out to
// many clusters (POST /v1/fleet/*): each cluster's command goes the way
// of Execute (role, scopes, rate limit, policy, audit), linked by the
// fan-out's id. New serves the fleet tools (fleet_run, fleet_diagnose)
// only when Config.Backend is one.
type FleetBackend interface {
	// FleetExecute runs req on every cluster it selects and returns the
	// results in the order they arrived, then the summary. A request
	// refused up front returns an error, a *contracts.Error when the
	// gateway gave one.
	FleetExecute(ctx context.Context, req contracts.FleetExecuteRequest) ([]contracts.FleetResult, contracts.FleetSummary, error)
	// FleetDiagnose is FleetExecute for a diagnosis.
	FleetDiagnose(ctx context.Context, req contracts.FleetDiagnoseRequest) ([]contracts.FleetResult, contracts.FleetSummary, error)
}

// minClusterBytes is the least output a fleet answer keeps per cluster.
const minClusterBytes = 256

// FleetSelect picks the clusters of a fleet tool and bounds its answer.
type FleetSelect struct {
	// Selector is a label selector over cluster labels.
	Selector string `json:"selector,omitempty" jsonschema:"label selector over cluster labels, e.g. env=prod or region in (eu,us); give it or clusters"`
	// Clusters lists cluster ids.
	Clusters []string `json:"clusters,omitempty" jsonschema:"cluster ids, instead of selector"`
	// Concurrency is how many clusters run at once.
	Concurrency int `json:"concurrency,omitempty" jsonschema:"clusters run at once (1-256; default 32)"`
	// TimeoutSeconds is each cluster's deadline.
	TimeoutSeconds int `json:"timeout_seconds,omitempty" jsonschema:"each cluster's deadline in seconds (1-120)"`
	// MaxBytes is the whole answer's budget, shared by the clusters.
	MaxBytes int `json:"max_bytes,omitempty" jsonschema:"the most bytes the answer may hold, shared by the clusters (default 32768)"`
}

// FleetRunInput is fleet_run's input.
type FleetRunInput struct {
	FleetSelect
	// Argv is the command without "kubectl".
	Argv []string `json:"argv" jsonschema:"the read-only kubectl command as an argv list without 'kubectl', e.g. [\"get\",\"pods\",\"-A\"]"`
	// Namespace is added as -n unless argv names one.
	Namespace string `json:"namespace,omitempty" jsonschema:"namespace to add as -n unless argv names one"`
}

// FleetDiagnoseInput is fleet_diagnose's input.
type FleetDiagnoseInput struct {
	FleetSelect
	// Namespace is the namespace to diagnose on every cluster.
	Namespace string `json:"namespace,omitempty" jsonschema:"the namespace to diagnose (default: default)"`
	// AllNamespaces diagnoses whole clusters.
	AllNamespaces bool `json:"all_namespaces,omitempty" jsonschema:"diagnose every namespace and the nodes"`
}

// FleetClusterOutput is one cluster in a fleet tool's answer.
type FleetClusterOutput struct {
	Cluster string `json:"cluster"`
	Outcome string `json:"outcome"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// Output is the cluster's output (or diagnosis text), cut to its
	// share of the budget; Truncated says it was cut.
	Output    string `json:"output,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	// Findings counts a diagnosis's findings.
	Findings int `json:"findings,omitempty"`
}

// FleetOutput is the structured answer of the fleet tools.
type FleetOutput struct {
	FanoutID    string               `json:"fanout_id,omitempty"`
	Total       int                  `json:"total"`
	Succeeded   int                  `json:"succeeded"`
	Failed      int                  `json:"failed"`
	Denied      int                  `json:"denied"`
	Unreachable int                  `json:"unreachable"`
	TimedOut    int                  `json:"timed_out"`
	Clusters    []FleetClusterOutput `json:"clusters"`
	// Code, Reason and Error are set when the call was refused.
	Code   string `json:"code,omitempty"`
	Reason string `json:"reason,omitempty"`
	Error  string `json:"error,omitempty"`
}

func (f FleetSelect) maxBytes() int { return f.MaxBytes }

func addFleet(srv *mcp.Server, s *server, fb FleetBackend) {
	runTool(srv, s, mcp.Tool{Name: "fleet_run", Title: "Run one read on many clusters",
		Description: "Run one read-only kubectl-style command on every cluster a label selector (or a list) picks, e.g. to compare versions or find a pod across the fleet. " +
			"Each cluster's answer is cut to its share of max_bytes; the summary counts succeeded, failed, denied, unreachable and timed-out clusters with reasons. " +
			"Example: {\"selector\":\"env=prod\",\"argv\":[\"get\",\"deploy\",\"-n\",\"shop\"]}."},
		func(ctx context.Context, in FleetRunInput, budget int) (*mcp.CallToolResult, FleetOutput, error) {
			if len(in.Argv) == 0 {
				return nil, FleetOutput{}, badArg("argv is required, e.g. [\"get\",\"pods\"]")
			}
			req := contracts.FleetExecuteRequest{FleetTarget: in.target(budget), Argv: in.Argv, Namespace: in.Namespace}
			results, sum, err := fb.FleetExecute(ctx, req)
			if err != nil {
				return nil, FleetOutput{}, err
			}
			return fleetAnswer(results, sum, budget, func(r contracts.FleetResult) (string, int) {
				if r.Result == nil {
					return "", 0
				}
				return r.Result.Output + r.Result.Error, 0
			})
		}, fleetReject[FleetRunInput])
	runTool(srv, s, mcp.Tool{Name: "fleet_diagnose", Title: "Diagnose a namespace on many clusters",
		Description: "Run Kubently's diagnosis (one finding per root cause, with evidence and next read commands) of one namespace, or whole clusters, on every cluster a label selector (or a list) picks. " +
			"Example: {\"selector\":\"env=prod\",\"namespace\":\"shop\"}."},
		func(ctx context.Context, in FleetDiagnoseInput, budget int) (*mcp.CallToolResult, FleetOutput, error) {
			req := contracts.FleetDiagnoseRequest{FleetTarget: in.target(budget), Namespace: in.Namespace, AllNamespaces: in.AllNamespaces}
			results, sum, err := fb.FleetDiagnose(ctx, req)
			if err != nil {
				return nil, FleetOutput{}, err
			}
			return fleetAnswer(results, sum, budget, func(r contracts.FleetResult) (string, int) {
				if r.Report == nil {
					return "", 0
				}
				var b strings.Builder
				_ = r.Report.WriteText(&b, r.Cluster)
				return b.String(), len(r.Report.Findings)
			})
		}, fleetReject[FleetDiagnoseInput])
}

// target is the fan-out's target with each cluster's output bounded by
// its share of the budget (the gateway cuts it there too).
func (f FleetSelect) target(budget int) contracts.FleetTarget {
	share := budget / 2
	if n := len(f.Clusters); n > 0 {
		share = budget / n
	}
	return contracts.FleetTarget{Selector: f.Selector, Clusters: f.Clusters, Concurrency: f.Concurrency, TimeoutSeconds: f.TimeoutSeconds,
		MaxOutputBytes: min(max(share, minClusterBytes), contracts.MaxFleetOutputBytes)}
}

// fleetAnswer renders the results within budget: each cluster gets an
// equal share of it for its output.
func fleetAnswer(results []contracts.FleetResult, sum contracts.FleetSummary, budget int, body func(contracts.FleetResult) (string, int)) (*mcp.CallToolResult, FleetOutput, error) {
	out := FleetOutput{FanoutID: sum.FanoutID, Total: sum.Total, Succeeded: sum.Succeeded, Failed: sum.Failed, Denied: sum.Denied,
		Unreachable: sum.Unreachable, TimedOut: sum.TimedOut, Clusters: []FleetClusterOutput{}}
	// Structured and text both carry the output: half the budget each.
	share := max(budget/2/max(len(results), 1)-128, minClusterBytes/2)
	var text strings.Builder
	fmt.Fprintf(&text, "%d clusters: %d succeeded, %d failed, %d denied, %d unreachable, %d timed out (fan-out %s)\n",
		sum.Total, sum.Succeeded, sum.Failed, sum.Denied, sum.Unreachable, sum.TimedOut, sum.FanoutID)
	for _, r := range results {
		s, findings := body(r)
		c := FleetClusterOutput{Cluster: r.Cluster, Outcome: string(r.Outcome), Reason: r.Reason, Message: clip(r.Message, 256), Findings: findings}
		c.Output = clip(s, share)
		c.Truncated = len(c.Output) < len(s) || (r.Result != nil && r.Result.Truncated)
		out.Clusters = append(out.Clusters, c)
		fmt.Fprintf(&text, "== %s: %s", r.Cluster, r.Outcome)
		if r.Reason != "" {
			fmt.Fprintf(&text, " (%s) %s", r.Reason, c.Message)
		}
		text.WriteString("\n")
		if c.Output != "" {
			text.WriteString(strings.TrimRight(c.Output, "\n"))
			text.WriteString("\n")
		}
		if c.Truncated {
			text.WriteString("(truncated: narrow the command or select fewer clusters)\n")
		}
	}
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text.String()}}}, out, nil
}

// fleetReject answers a fleet call refused before any cluster ran.
func fleetReject[In any](_ In, _ FleetOutput, err error, _ int) (*mcp.CallToolResult, FleetOutput, error) {
	e := contracts.AsError(err)
	out := FleetOutput{Clusters: []FleetClusterOutput{}, Code: string(e.Code), Reason: e.Reason, Error: clip(e.Message, maxErrorText)}
	text, _ := refusal(e, out.Error)
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}, out, nil
}
