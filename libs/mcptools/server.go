package mcptools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"kubently.io/libs/contracts"
)

// Budget bounds.
const (
	// DefaultMaxBytes is a tool answer's budget when the call names no
	// max_bytes.
	DefaultMaxBytes = 32 << 10
	// DefaultServerMaxBytes is Config.MaxBytes when zero: the largest
	// max_bytes a call may ask for.
	DefaultServerMaxBytes = 128 << 10
	// MinMaxBytes is the smallest max_bytes a call may ask for: room for
	// the answer's metadata, a hint and a line or two.
	MinMaxBytes = 2 << 10
	// maxContinueLen bounds a continue token (the executor's own token is
	// at most 4 KiB).
	maxContinueLen = 8 << 10
	// maxErrorText bounds the command's stderr kept in an answer.
	maxErrorText = 1 << 10
)

// ErrConfig reports a bad Config.
var ErrConfig = errors.New("mcptools: configuration")

// Backend runs the tools' commands for one caller.
type Backend interface {
	// Execute runs req.Argv on req.Cluster as POST /v1/execute does, on
	// behalf of the caller the context stands for; req.Tool names the
	// tool for audit. Caller, Principal and Gateway are the backend's to
	// fill. A command that ran (whatever its outcome) returns its result;
	// a request refused or not delivered returns an error, a
	// *contracts.Error when the gateway gave one.
	Execute(ctx context.Context, req contracts.ExecuteRequest) (contracts.CommandResult, error)
	// Clusters lists the clusters the caller may see.
	Clusters(ctx context.Context) ([]Cluster, error)
}

// Cluster is one cluster as clusters_list shows it.
type Cluster struct {
	// ID is the cluster id tools take as cluster.
	ID string `json:"cluster_id"`
	// Connected reports that an executor is connected now.
	Connected bool `json:"connected"`
	// Executors is how many executors are connected.
	Executors int `json:"executors"`
	// LastSeen is the last executor contact; nil if none.
	LastSeen *time.Time `json:"last_seen,omitempty"`
}

// Config configures New.
type Config struct {
	// Backend runs commands; required.
	Backend Backend
	// Name is the server's implementation name; empty means "kubently".
	Name string
	// Version is the server's implementation version; empty means
	// "dev".
	Version string
	// MaxBytes is the largest budget a call may ask for (max_bytes);
	// zero means DefaultServerMaxBytes. Values below MinMaxBytes are
	// refused.
	MaxBytes int
}

// server holds a Config with defaults applied.
type server struct {
	cfg Config
}

// New returns the MCP server with every tool and prompt registered.
func New(cfg Config) (*mcp.Server, error) {
	if cfg.Backend == nil {
		return nil, fmt.Errorf("%w: Backend is required", ErrConfig)
	}
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = DefaultServerMaxBytes
	}
	if cfg.MaxBytes < MinMaxBytes {
		return nil, fmt.Errorf("%w: MaxBytes %d is below %d", ErrConfig, cfg.MaxBytes, MinMaxBytes)
	}
	if cfg.Name == "" {
		cfg.Name = "kubently"
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	s := &server{cfg: cfg}
	srv := mcp.NewServer(&mcp.Implementation{Name: cfg.Name, Title: "Kubently", Version: cfg.Version}, &mcp.ServerOptions{
		Instructions: instructions,
		// One schema per Go type, not one per server (a gateway builds one
		// server; tests build many).
		SchemaCache: schemaCache,
	})
	for _, add := range tools {
		add(srv, s)
	}
	if fb, ok := cfg.Backend.(FleetBackend); ok {
		addFleet(srv, s, fb)
	}
	addPrompts(srv)
	return srv, nil
}

var schemaCache = mcp.NewSchemaCache()

// instructions tell a model how to use the tools well.
const instructions = `Kubently runs read-only kubectl-style commands on Kubernetes clusters through a policy (no writes, no exec, no Secret values), with every call audited.
Start with clusters_list, then narrow: resources_list (namespace, label_selector, field_selector), resources_describe, events_list (types=Warning), pods_log (grep searches inside the cluster, tail/since bound it).
Every answer is bounded by max_bytes; when truncated is true, pass the continue token back with the same arguments to read the next page, or narrow the query.
A refused call is a tool error with a reason code and a hint of what is allowed.`

// Target names the cluster and bounds the answer; the input of every
// command tool embeds it.
type Target struct {
	// Cluster is the cluster id; required.
	Cluster string `json:"cluster" jsonschema:"the cluster id, as clusters_list shows it"`
	// TimeoutSeconds bounds the command; zero means 30.
	TimeoutSeconds int `json:"timeout_seconds,omitempty" jsonschema:"the command's timeout in seconds (1-120; default 30)"`
	// MaxBytes is the answer's budget; zero means DefaultMaxBytes.
	MaxBytes int `json:"max_bytes,omitempty" jsonschema:"the most bytes the answer may hold (text plus structured content; default 32768, at most the server's budget, 131072 unless configured)"`
	// Continue is the token of the previous page's answer; empty for
	// the first page.
	Continue string `json:"continue,omitempty" jsonschema:"the continue token of a truncated answer: pass it back with the same arguments to read the next page"`
}

func (t Target) target() Target { return t }

// targeted is what every command tool's input provides (by embedding
// Target).
type targeted interface {
	budgeted
	target() Target
}

// Output is the structured content of every command tool's answer: what
// ran, how it ended, paging, and the executor's structured JSON when it
// has one and it fits the budget. The text content holds the command's
// output (kubectl's compact form).
type Output struct {
	// Cluster is the cluster the command ran on.
	Cluster string `json:"cluster"`
	// Command is the argv the tool ran.
	Command []string `json:"command,omitempty"`
	// CommandID identifies the command in the audit log; empty when it
	// was refused before it was dispatched.
	CommandID string `json:"command_id,omitempty"`
	// Status is success, failure (it ran and failed, like kubectl exiting
	// 1), denied, timeout, error or rejected (refused before it ran).
	Status string `json:"status"`
	// ExitCode is kubectl's exit code.
	ExitCode int `json:"exit_code,omitempty"`
	// Code is the error code of a rejected call (e.g. forbidden,
	// command_denied, unknown_cluster, executor_unavailable).
	Code string `json:"code,omitempty"`
	// Reason is the policy or authorization reason code, if any.
	Reason string `json:"reason,omitempty"`
	// Hint says what to do instead; empty on success.
	Hint string `json:"hint,omitempty"`
	// Error is the command's stderr or the rejection's message, cut to
	// 1 KiB.
	Error string `json:"error,omitempty"`
	// Bytes is the size of the text content.
	Bytes int `json:"bytes"`
	// Truncated reports that more output exists than this answer holds.
	Truncated bool `json:"truncated"`
	// Continue reads the next page: pass it back with the same arguments.
	Continue string `json:"continue,omitempty"`
	// Structured is the executor's JSON form of the objects (events,
	// top, api-resources, get -o json); omitted when there is none or it
	// does not fit the budget.
	Structured any `json:"structured,omitempty" jsonschema:"the objects as JSON (the kubectl -o json shape), when the executor has them and they fit max_bytes"`
}

// commandSpec describes one command tool.
type commandSpec struct {
	// header: the output's first line is a table header, repeated on
	// every page.
	header bool
}

// budgeted is what every tool's input provides: its max_bytes.
type budgeted interface{ maxBytes() int }

func (t Target) maxBytes() int { return t.MaxBytes }

// runTool registers t, read-only, in the one shape every tool has: resolve
// the call's budget, run, and answer a refusal — a bad max_bytes (with the
// least budget), or run's error — with refuse, which gets what run had
// filled in of the answer when it failed.
func runTool[In budgeted, Out any](srv *mcp.Server, s *server, t mcp.Tool,
	run func(ctx context.Context, in In, budget int) (*mcp.CallToolResult, Out, error),
	refuse func(in In, out Out, err error, budget int) (*mcp.CallToolResult, Out, error)) {
	readOnly(&t)
	mcp.AddTool(srv, &t, func(ctx context.Context, _ *mcp.CallToolRequest, in In) (*mcp.CallToolResult, Out, error) {
		var out Out
		budget, err := s.budget(in.maxBytes())
		if err != nil {
			return refuse(in, out, err, MinMaxBytes)
		}
		res, out, err := run(ctx, in, budget)
		if err != nil {
			return refuse(in, out, err, budget)
		}
		return res, out, nil
	})
}

// command is the registration of a command tool: it runs the argv argv
// builds from its input.
func command[In targeted](t mcp.Tool, spec commandSpec, argv func(In) ([]string, error)) func(*mcp.Server, *server) {
	return func(srv *mcp.Server, s *server) {
		runTool(srv, s, t, func(ctx context.Context, in In, budget int) (*mcp.CallToolResult, Output, error) {
			tg := in.target()
			out := Output{Cluster: tg.Cluster}
			args, err := argv(in)
			if err != nil {
				return nil, out, err
			}
			out.Command = args
			tok, err := decodeToken(tg.Continue, args)
			if err != nil {
				return nil, out, err
			}
			run := args
			if tok.Exec != "" {
				run = append(append([]string(nil), args...), "--continue="+tok.Exec)
				out.Command = run
			}
			res, err := s.cfg.Backend.Execute(ctx, contracts.ExecuteRequest{
				Cluster: tg.Cluster, Argv: run, TimeoutSeconds: tg.TimeoutSeconds, Tool: t.Name,
			})
			if err != nil {
				return nil, out, err
			}
			return answer(out, res, args, tok, spec, budget)
		}, func(in In, out Output, err error, budget int) (*mcp.CallToolResult, Output, error) {
			out.Cluster = in.target().Cluster
			return s.reject(out, err, budget)
		})
	}
}

// readOnly marks t read-only, idempotent and non-destructive.
func readOnly(t *mcp.Tool) {
	f := false
	if t.Annotations == nil {
		t.Annotations = &mcp.ToolAnnotations{}
	}
	t.Annotations.ReadOnlyHint = true
	t.Annotations.IdempotentHint = true
	t.Annotations.DestructiveHint = &f
	if t.Annotations.OpenWorldHint == nil {
		t.Annotations.OpenWorldHint = &f
	}
}

// budget resolves a call's max_bytes.
func (s *server) budget(maxBytes int) (int, error) {
	switch {
	case maxBytes == 0:
		return min(DefaultMaxBytes, s.cfg.MaxBytes), nil
	case maxBytes < MinMaxBytes || maxBytes > s.cfg.MaxBytes:
		return 0, contracts.Errorf(contracts.CodeBadRequest, "max_bytes %d is out of range [%d, %d]", maxBytes, MinMaxBytes, s.cfg.MaxBytes)
	}
	return maxBytes, nil
}

// reject answers a call refused before or instead of running as a tool
// error with the error's code, reason and a hint.
func (s *server) reject(out Output, err error, budget int) (*mcp.CallToolResult, Output, error) {
	e := contracts.AsError(err)
	if !errors.As(err, new(*contracts.Error)) {
		// Not the gateway's answer: the gateway (or the bus behind it)
		// could not be reached or failed.
		e = &contracts.Error{Code: contracts.CodeUnavailable, Message: err.Error()}
	}
	out.Status = "rejected"
	out.Code = string(e.Code)
	out.Reason = e.Reason
	out.Error = clip(e.Message, maxErrorText)
	var text string
	text, out.Hint = refusal(e, out.Error)
	return fit(out, text, budget, true)
}

// refusal is the text of a refused call — code (reason): message, and a
// hint of what to do instead — and the hint.
func refusal(e *contracts.Error, message string) (text, hint string) {
	text = string(e.Code)
	if e.Reason != "" {
		text += " (" + e.Reason + ")"
	}
	text += ": " + message
	if hint = hintFor(string(e.Code), e.Reason); hint != "" {
		text += "\nhint: " + hint
	}
	return text, hint
}

// answer turns a command's result into the tool's answer: one page of
// its output within budget, paging state and, for anything but success,
// a tool error with a hint.
func answer(out Output, res contracts.CommandResult, args []string, tok token, spec commandSpec, budget int) (*mcp.CallToolResult, Output, error) {
	out.CommandID = res.CommandID
	out.Status = string(res.Status)
	out.ExitCode = res.ExitCode
	out.Reason = res.Reason
	out.Error = clip(strings.TrimRight(res.Error, "\n"), maxErrorText)
	isErr := res.Status != contracts.StatusSuccess
	if isErr {
		out.Hint = hintFor(string(res.Status), res.Reason)
	}
	// The note after the output: stderr (kubectl's own notes, a
	// truncation hint), then our hint.
	var note strings.Builder
	if out.Error != "" {
		note.WriteString("\n" + out.Error)
	}
	if out.Hint != "" {
		note.WriteString("\nhint: " + out.Hint)
	}
	if len(res.Structured) > 0 && json.Valid(res.Structured) {
		out.Structured = json.RawMessage(res.Structured)
	}
	// Room for the text: the budget less what the structured content
	// costs without the structured JSON itself, counted as if the text
	// were as large as the room (the text is not part of it; only its
	// length and the paging fields are).
	longest := tok.Exec
	if len(res.Continue) > len(longest) {
		longest = res.Continue
	}
	meta := metaSize(out) + len(note.String())*2 + len(encodeToken(token{Exec: longest, Skip: 1 << 30}, args)) + 64
	room := max(budget-meta, 64)
	pg := paginate(res.Output, spec.header, tok.Skip, room)
	out.Truncated = pg.more || res.Truncated
	switch {
	case pg.more:
		out.Continue = encodeToken(token{Exec: tok.Exec, Skip: tok.Skip + pg.consumed}, args)
		out.Structured = nil // it holds every row, not this page's
	case res.Continue != "":
		out.Continue = encodeToken(token{Exec: res.Continue}, args)
	}
	if tok.Skip > 0 {
		out.Structured = nil // it holds the rows of earlier pages too
	}
	text := pg.text + note.String()
	if pg.text == "" && note.Len() > 0 {
		text = strings.TrimPrefix(note.String(), "\n")
	}
	if text == "" {
		text = "(no output)"
	}
	return fit(out, text, budget, isErr)
}

// metaSize is the JSON size of out without its structured JSON.
func metaSize(out Output) int {
	out.Structured = nil
	b, _ := json.Marshal(out)
	return len(b)
}

// fit builds the tool result: text as the content, out as the structured
// content, dropping the structured JSON (then clipping the text) until
// both fit the budget.
func fit(out Output, text string, budget int, isErr bool) (*mcp.CallToolResult, Output, error) {
	size := func() int {
		out.Bytes = len(text)
		b, _ := json.Marshal(out)
		return len(text) + len(b)
	}
	if out.Structured != nil && size() > budget {
		out.Structured = nil
	}
	if over := size() - budget; over > 0 {
		text = clip(text, max(len(text)-over-16, 0))
		out.Truncated = true
		out.Bytes = len(text)
	}
	out.Bytes = len(text)
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}, IsError: isErr}, out, nil
}
