package tools_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/tools"
	"github.com/debugai/debugai/tools/toolstest"
)

// fixture is the store every test reads: the shared HotROD recording
// imported through the real path, plus kernel events, a lock inversion,
// findings and a report (package toolstest). Nil when the shared data is
// absent; skipReason says why.
var (
	fixture    *duckdb.Store
	skipReason string
)

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	ctx := context.Background()
	src, err := toolstest.SharedTestdata(toolstest.HotROD)
	if err != nil {
		skipReason = err.Error() + " (it lives beside the repository in CI)"
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "debugai-tools-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	path, err := toolstest.Build(ctx, dir, src)
	if err != nil {
		fmt.Fprintln(os.Stderr, "building test store:", err)
		return 1
	}
	if fixture, err = duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true}); err != nil {
		fmt.Fprintln(os.Stderr, "opening test store:", err)
		return 1
	}
	defer fixture.Close()
	return m.Run()
}

// newToolset returns the tools over the fixture store.
func newToolset(t testing.TB) *tools.Toolset {
	t.Helper()
	if fixture == nil {
		t.Skip(skipReason)
	}
	ts, err := tools.New(fixture, tools.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

// newClient returns an initialized in-process MCP client of the tools.
func newClient(t testing.TB) (*client.Client, *tools.Toolset) {
	t.Helper()
	ts := newToolset(t)
	c, err := client.NewInProcessClient(tools.NewMCPServer(ts, "test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx := context.Background()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	req := mcp.InitializeRequest{}
	req.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	req.Params.ClientInfo = mcp.Implementation{Name: "tools-test", Version: "1"}
	if _, err := c.Initialize(ctx, req); err != nil {
		t.Fatal(err)
	}
	return c, ts
}

// call runs a tool through the MCP client and returns its result and the
// JSON of its structured content.
func call(t testing.TB, c *client.Client, name string, args map[string]any) (*mcp.CallToolResult, []byte) {
	t.Helper()
	req := mcp.CallToolRequest{}
	req.Params.Name, req.Params.Arguments = name, args
	res, err := c.CallTool(context.Background(), req)
	if err != nil {
		t.Fatalf("%s(%v): protocol error %v", name, args, err)
	}
	if res.IsError {
		return res, nil
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatalf("%s: structured content: %v", name, err)
	}
	return res, b
}

// text returns a result's text content.
func text(res *mcp.CallToolResult) string {
	for _, c := range res.Content {
		if tc, ok := c.(mcp.TextContent); ok {
			return tc.Text
		}
	}
	return ""
}
