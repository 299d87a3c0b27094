package mcptools

import (
	"context"
	"fmt"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// addPrompts registers the prompts: investigate a failing pod, health check
// a namespace.
func addPrompts(srv *mcp.Server) {
	srv.AddPrompt(&mcp.Prompt{
		Name: "investigate_pod", Title: "Investigate a failing pod",
		Description: "Find out why a pod is failing (CrashLoopBackOff, ImagePullBackOff, Pending, OOMKilled, ...) with read-only tools.",
		Arguments: []*mcp.PromptArgument{
			{Name: "cluster", Description: "the cluster id", Required: true},
			{Name: "namespace", Description: "the pod's namespace", Required: true},
			{Name: "pod", Description: "the pod's name (or a workload as kind/name)", Required: true},
		},
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		a := req.Params.Arguments
		if err := need(a, "cluster", "namespace", "pod"); err != nil {
			return nil, err
		}
		text := fmt.Sprintf(`Investigate why %[3]s in namespace %[2]s on cluster %[1]s is failing, using only Kubently's read-only tools.
1. resources_describe kind=pod name=%[3]s: read its status, container states (Waiting/Terminated reasons, exit codes, restart counts) and events.
2. events_list namespace=%[2]s for=pod/%[3]s: warnings about scheduling, image pulls, probes, OOM kills.
3. pods_log name=%[3]s with previous=true if it restarted (why the last instance died), else the current log; use grep (e.g. "error|panic|fatal" with grep_regex) and tail to stay small.
4. If it belongs to a workload, resources_get its owner (deployment, statefulset, job) and rollout_status for a stuck rollout; check referenced ConfigMaps, Services and PVCs with resources_list.
Conclude with the root cause, the evidence (quote the lines) and the fix a human should apply; you cannot change anything yourself.`, a["cluster"], a["namespace"], a["pod"])
		return &mcp.GetPromptResult{Description: "Investigate a failing pod",
			Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}}, nil
	})
	srv.AddPrompt(&mcp.Prompt{
		Name: "namespace_health", Title: "Health check a namespace",
		Description: "Check the health of every workload in a namespace and report what is broken and why.",
		Arguments: []*mcp.PromptArgument{
			{Name: "cluster", Description: "the cluster id", Required: true},
			{Name: "namespace", Description: "the namespace", Required: true},
		},
	}, func(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		a := req.Params.Arguments
		if err := need(a, "cluster", "namespace"); err != nil {
			return nil, err
		}
		text := fmt.Sprintf(`Health check namespace %[2]s on cluster %[1]s with Kubently's read-only tools.
1. resources_list kind=pods namespace=%[2]s with field_selector=status.phase!=Running, then all pods (look at READY, STATUS, RESTARTS).
2. resources_list kind=deployments, statefulsets, daemonsets, jobs namespace=%[2]s: READY and AVAILABLE against desired; rollout_status for any that lag.
3. events_list namespace=%[2]s types=Warning.
4. For each unhealthy pod: resources_describe, then pods_log (previous=true after restarts; grep for errors).
5. pods_top namespace=%[2]s if metrics are available.
Report a table: workload, state, root cause, evidence, suggested fix. Stay within small answers: use selectors, tail and grep, and follow continue tokens only when needed.`, a["cluster"], a["namespace"])
		return &mcp.GetPromptResult{Description: "Health check a namespace",
			Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}}, nil
	})
}

// need checks that the prompt arguments names are set and are names.
func need(args map[string]string, names ...string) error {
	for _, n := range names {
		if err := name(n, args[n], true); err != nil {
			return err
		}
	}
	return nil
}
