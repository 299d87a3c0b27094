// Package mcptools is Kubently's Model Context Protocol tool set: typed,
// read-only tools (clusters_list, command_run, resources_list,
// resources_get, resources_describe, pods_log, events_list, pods_top,
// nodes_top, rollout_history, rollout_status, api_resources, explain) and
// two prompts, built on the official Go SDK
// (github.com/modelcontextprotocol/go-sdk).
//
// Every command tool translates its typed input into one kubectl-style argv
// and hands it to a Backend, which runs it exactly as POST /v1/execute does:
// the gateway's backend calls the dispatcher with the caller's identity
// (roles, scopes, rate limits, the command policy in the dispatcher and the
// executor, audit), and the CLI's backend (`kubently mcp`) calls the
// gateway's HTTP API. There is no second policy here: a tool can only ask
// for what the caller could ask for with `kubently exec`.
//
// Output is bounded for a model's context window: every tool takes
// max_bytes (at most the server's Config.MaxBytes) and the text content
// plus the structured content of its answer never exceed it. An answer
// cut at the budget (or at the executor's own cap) says truncated and
// carries a continue token; passing it back with the same arguments reads
// the next page. Text is the compact kubectl form (tables); the
// executor's structured JSON, when it has one and it fits, is the
// structured content. Denials, rejections, timeouts and unreachable
// clusters are tool errors (isError) with the reason code and a hint,
// never protocol errors.
//
// # Usage
//
//	srv, err := mcptools.New(mcptools.Config{Backend: b, Version: "1.0"})
//	if err != nil {
//		return err
//	}
//	h := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv },
//		&mcp.StreamableHTTPOptions{Stateless: true})
//
// Adding a command tool is one row in tools.go's table: declare its input
// type (embedding Target), its mcp.Tool, and a func that builds its argv
// (cmd(...).check(...).scope(...).flag(...).done()); command registers it
// through runTool, the one shape every tool has (budget, run, refuse).
//
// # Concurrency
//
// The server returned by New is safe for concurrent use; tool calls run
// concurrently and the Backend must allow that.
package mcptools
