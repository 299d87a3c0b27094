package integration

import (
	"context"
	"net/http"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// BenchmarkMCPOverhead measures what a tool call adds to the same command
// sent to POST /v1/execute: both run `get namespaces` on the real cluster
// through the whole path; "mcp" calls command_run over Streamable HTTP
// (one HTTP request per call, as the stateless endpoint serves it).
// Compare the two ns/op of one run: the ratio is the MCP overhead.
func BenchmarkMCPOverhead(b *testing.B) {
	s := startStack(b, false)
	b.Run("execute", func(b *testing.B) { benchExecute(b, s.url, "get", "namespaces") })
	tr := &mcp.StreamableClientTransport{Endpoint: s.url + "/mcp", HTTPClient: &http.Client{Transport: keyTransport{aliceKey}}}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "bench", Version: "1"}, nil).Connect(context.Background(), tr, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer cs.Close()
	params := &mcp.CallToolParams{Name: "command_run", Arguments: map[string]any{"cluster": live, "argv": []string{"get", "namespaces"}}}
	b.Run("mcp", func(b *testing.B) {
		for b.Loop() {
			res, err := cs.CallTool(context.Background(), params)
			if err != nil || res.IsError {
				b.Fatalf("%v %+v", err, res)
			}
		}
	})
}
