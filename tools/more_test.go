package tools_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/tools"
	"github.com/debugai/debugai/tools/toolstest"
)

func TestSubmitHypothesisRunsTheVerifier(t *testing.T) {
	c, _ := newClient(t)
	ev := stampedTrace(t)
	span := evidence.SpanEvidenceID(ev.TraceID, ev.SpanID)
	it, err := fixture.Get(context.Background(), span)
	if err != nil || it.Span == nil {
		t.Fatalf("the stamped span: %+v, %v", it, err)
	}
	hyp := func(cites ...string) map[string]any {
		return map[string]any{"hypothesis": map[string]any{
			"summary": "requests queue on " + toolstest.LockA, "pattern": "lock_convoy", "confidence": 0.8,
			"location": map[string]any{"service": it.Span.Service},
			"claims":   []map[string]any{{"text": "the span waits on the lock", "citations": cites, "root_cause": true}},
		}}
	}
	tests := []struct {
		name   string
		args   map[string]any
		status string
		reason string
	}{
		{"two lines", hyp(span, ev.ID()), "accepted", ""},
		{"one line", hyp(span), "rejected", "insufficient_independent_lines"},
		{"unknown id", hyp(span, "kev:node-1/futex_wait/999999"), "rejected", "citation_not_found"},
		{"bad shape", map[string]any{"hypothesis": map[string]any{"summary": "x"}}, "rejected", "invalid_hypothesis"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, b := call(t, c, "submit_hypothesis", tc.args)
			if res.IsError {
				t.Fatalf("tool error: %s", text(res))
			}
			var out tools.SubmitHypothesisOutput
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			if out.Status != tc.status || (tc.reason != "" && !strings.Contains(string(b), tc.reason)) {
				t.Fatalf("verdict %s, want %s with %q", b, tc.status, tc.reason)
			}
		})
	}
}

func TestReportResourcesAndPrompt(t *testing.T) {
	c, _ := newClient(t)
	ctx := context.Background()
	list, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	if err != nil || len(list.Resources) != 1 || list.Resources[0].URI != tools.ReportURIPrefix+toolstest.ReportID {
		t.Fatalf("ListResources = %+v, %v", list, err)
	}
	req := mcp.ReadResourceRequest{}
	req.Params.URI = list.Resources[0].URI
	got, err := c.ReadResource(ctx, req)
	if err != nil || len(got.Contents) != 1 || !strings.Contains(got.Contents[0].(mcp.TextResourceContents).Text, "lock convoy") {
		t.Fatalf("ReadResource = %+v, %v", got, err)
	}
	req.Params.URI = tools.ReportURIPrefix + "report:missing"
	if _, err := c.ReadResource(ctx, req); err == nil {
		t.Fatal("reading a missing report succeeded")
	}
	pr := mcp.GetPromptRequest{}
	pr.Params.Name, pr.Params.Arguments = "investigate", map[string]string{"service": "customer"}
	p, err := c.GetPrompt(ctx, pr)
	if err != nil || len(p.Messages) != 1 || !strings.Contains(p.Messages[0].Content.(mcp.TextContent).Text, `Service: "customer"`) || !strings.Contains(p.Messages[0].Content.(mcp.TextContent).Text, "- list_findings:") {
		t.Fatalf("GetPrompt = %+v, %v", p, err)
	}
}

func TestCallAndSpecsWithoutMCP(t *testing.T) {
	ts := newToolset(t)
	ctx := context.Background()
	if _, err := ts.Call(ctx, "rm_rf", nil); !errors.Is(err, tools.ErrUnknownTool) {
		t.Fatalf("unknown tool: %v", err)
	}
	var ae *tools.ArgError
	if _, err := ts.Call(ctx, "query_spans", json.RawMessage(`{"limit": "ten"}`)); !errors.As(err, &ae) || ae.Tool != "query_spans" {
		t.Fatalf("bad JSON: %v", err)
	}
	out, err := ts.Call(ctx, "list_findings", json.RawMessage(`{"kinds":["lock_inversion"]}`))
	if err != nil || !strings.Contains(string(out), `"kind":"lock_inversion"`) {
		t.Fatalf("Call = %s, %v", out, err)
	}
	typed, err := ts.ListFindings(ctx, tools.ListFindingsInput{Kinds: []string{"lock_inversion"}})
	if err != nil || typed.Total != 1 {
		t.Fatalf("ListFindings = %+v, %v", typed, err)
	}
}

func TestHTTPConfigRequiresTokenOffLoopback(t *testing.T) {
	for _, tc := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:0", "", true},
		{"localhost:0", "", true},
		{"[::1]:0", "", true},
		{"0.0.0.0:4320", "", false},
		{":4320", "", false},
		{"0.0.0.0:4320", "s3cret", true},
	} {
		err := tools.HTTPConfig{Addr: tc.addr, Token: tc.token}.Validate()
		if (err == nil) != tc.ok || (err != nil && !errors.Is(err, tools.ErrTokenRequired)) {
			t.Errorf("Validate(%q, token %q) = %v, want ok=%v", tc.addr, tc.token, err, tc.ok)
		}
	}
}

func TestHTTPGuardsHostOriginAndToken(t *testing.T) {
	s := server.NewMCPServer("guard-test", "1")
	hs, err := tools.StartHTTP(s, tools.HTTPConfig{Addr: "127.0.0.1:0", Token: "s3cret", AllowedHosts: []string{"debugai.internal"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Shutdown(context.Background()) })
	const body = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	for _, tc := range []struct {
		name, host, origin, auth string
		want                     int
	}{
		{"ok", "", "", "Bearer s3cret", http.StatusOK},
		{"allowed host", "debugai.internal", "http://debugai.internal", "Bearer s3cret", http.StatusOK},
		{"rebinding host", "evil.example.com", "", "Bearer s3cret", http.StatusForbidden},
		{"rebinding origin", "", "http://evil.example.com", "Bearer s3cret", http.StatusForbidden},
		{"no token", "", "", "", http.StatusUnauthorized},
		{"wrong token", "", "", "Bearer nope", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, hs.URL(), strings.NewReader(body))
			req.RequestURI = ""
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if tc.host != "" {
				req.Host = tc.host
			}
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestListFindingsHighestScoreFirst: list_findings ranks by the share of
// the change a finding's location explains, across kinds, not by the
// detector's confidence.
func TestListFindingsHighestScoreFirst(t *testing.T) {
	ts := newToolset(t)
	out, err := ts.ListFindings(context.Background(), tools.ListFindingsInput{Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Findings) < 2 {
		t.Fatalf("fixture lists %d findings, want several", len(out.Findings))
	}
	byConfidence := true // does confidence order differ from score order anywhere?
	for i := 1; i < len(out.Findings); i++ {
		a, b := out.Findings[i-1], out.Findings[i]
		if a.Score < b.Score {
			t.Fatalf("row %d (%s, score %v) before row %d (%s, score %v)", i-1, a.Kind, a.Score, i, b.Kind, b.Score)
		}
		if a.Confidence < b.Confidence {
			byConfidence = false
		}
	}
	if byConfidence {
		t.Fatal("the fixture's findings are in confidence order too: the test cannot tell the orders apart")
	}
	if !strings.Contains(out.Summary, "highest score first") {
		t.Errorf("summary %q does not say the order", out.Summary)
	}
}
