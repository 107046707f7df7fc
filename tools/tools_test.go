package tools_test

import (
	"context"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/tools"
	"github.com/debugai/debugai/tools/toolstest"
)

// maxTokens is the budget of a default answer (approximated as bytes/4).
const maxTokens = 2000

var idPattern = regexp.MustCompile(`"(span|sev|kev|edge|log|res|finding|cp|ks):[^"]+"`)

// rowsOf returns every element of the answer's top-level arrays of objects.
func rowsOf(t *testing.T, b []byte) map[string][]json.RawMessage {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		t.Fatalf("answer is not an object: %v", err)
	}
	out := map[string][]json.RawMessage{}
	for k, v := range top {
		var arr []json.RawMessage
		if json.Unmarshal(v, &arr) == nil && len(arr) > 0 && arr[0][0] == '{' {
			out[k] = arr
		}
	}
	return out
}

// stampedTrace returns a trace with kernel events.
func stampedTrace(t *testing.T) evidence.KernelEvent {
	t.Helper()
	evs, err := fixture.KernelEvents(context.Background(), evidence.KernelEventFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		t.Fatalf("fixture has no kernel events: %v", err)
	}
	return evs[0]
}

func TestEveryToolAnswersBoundedWithIDs(t *testing.T) {
	c, _ := newClient(t)
	ev := stampedTrace(t)
	trace := ev.TraceID.String()
	tests := []struct {
		tool    string
		args    map[string]any
		rowKeys []string // arrays that must be non-empty
		want    string   // in the summary
	}{
		{"list_findings", nil, []string{"findings"}, "findings"},
		{"list_findings", map[string]any{"kinds": []string{"lock_inversion"}}, []string{"findings"}, "lock_inversion 1"},
		{"query_spans", nil, []string{"spans"}, "spans 1-20"},
		{"query_spans", map[string]any{"status": "error", "min_duration_ms": 1}, nil, ""},
		{"get_trace", map[string]any{"trace_id": trace}, []string{"timeline"}, "events joined"},
		{"critical_path", nil, []string{"ops"}, "largest"},
		{"critical_path", map[string]any{"trace_id": evidence.SpanEvidenceID(ev.TraceID, ev.SpanID)}, []string{"segments"}, "critical path of trace"},
		{"kernel_overlays", nil, []string{"spans"}, "spans with kernel time"},
		{"kernel_overlays", map[string]any{"trace_id": trace, "sort": "runqueue"}, []string{"spans"}, ""},
		{"lock_graph", nil, []string{"cycles", "edges"}, "1 cycles"},
		{"changepoints", nil, []string{"findings"}, "change points"},
		{"compare_versions", nil, nil, "debugai detect"},
		{"slice_dimensions", nil, []string{"dimensions"}, "slow"},
		{"get_evidence", map[string]any{"ids": []string{ev.ID(), "span:" + trace + "/" + ev.SpanID.String(), "edge:" + toolstest.LockA + ">" + toolstest.LockB}}, []string{"items"}, "3 of 3"},
	}
	for _, tc := range tests {
		t.Run(tc.tool, func(t *testing.T) {
			res, b := call(t, c, tc.tool, tc.args)
			if res.IsError {
				t.Fatalf("tool error: %s", text(res))
			}
			if tokens := len(text(res)) / 4; tokens > maxTokens {
				t.Errorf("answer is ~%d tokens, budget %d", tokens, maxTokens)
			}
			var head struct {
				Summary string `json:"summary"`
			}
			if err := json.Unmarshal(b, &head); err != nil || head.Summary == "" || !strings.Contains(head.Summary, tc.want) {
				t.Errorf("summary %q (%v), want it to mention %q", head.Summary, err, tc.want)
			}
			if !strings.HasPrefix(text(res), `{"summary":`) {
				t.Errorf("answer does not start with its summary: %.80s", text(res))
			}
			rows := rowsOf(t, b)
			for _, k := range tc.rowKeys {
				if len(rows[k]) == 0 {
					t.Errorf("%s is empty: %s", k, b)
				}
			}
			for k, rs := range rows {
				if len(rs) > tools.DefaultConfig().DefaultLimit {
					t.Errorf("%s has %d rows, more than the default page", k, len(rs))
				}
				for i, r := range rs {
					if !idPattern.Match(r) {
						t.Errorf("%s[%d] carries no evidence ID: %s", k, i, r)
					}
				}
			}
		})
	}
}

func TestPagingIsContiguous(t *testing.T) {
	c, _ := newClient(t)
	type page struct {
		Spans []struct {
			ID string `json:"id"`
		} `json:"spans"`
		NextCursor string `json:"next_cursor"`
	}
	var pages []page
	cursor := ""
	for range 3 {
		_, b := call(t, c, "query_spans", map[string]any{"limit": 7, "cursor": cursor})
		var p page
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatal(err)
		}
		pages = append(pages, p)
		cursor = p.NextCursor
	}
	_, b := call(t, c, "query_spans", map[string]any{"limit": 21})
	var all page
	if err := json.Unmarshal(b, &all); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pages {
		if len(p.Spans) != 7 || p.NextCursor == "" {
			t.Fatalf("page has %d spans, cursor %q", len(p.Spans), p.NextCursor)
		}
		for _, s := range p.Spans {
			got = append(got, s.ID)
		}
	}
	for i, s := range all.Spans {
		if got[i] != s.ID {
			t.Fatalf("row %d: paged %s, unpaged %s", i, got[i], s.ID)
		}
	}
}

func TestBadArgumentsAreToolErrors(t *testing.T) {
	c, _ := newClient(t)
	tests := []struct {
		tool string
		args map[string]any
		want string
	}{
		{"query_spans", map[string]any{"status": "broken"}, `status: want one of unset, ok, error`},
		{"query_spans", map[string]any{"since": "yesterday"}, "since"},
		{"query_spans", map[string]any{"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}, "not after since"},
		{"query_spans", map[string]any{"limit": 1000}, "limit: 1000: want 1..100"},
		{"query_spans", map[string]any{"cursor": "abc"}, "cursor"},
		{"query_spans", map[string]any{"trace_id": "xyz"}, "trace_id"},
		{"query_spans", map[string]any{"servce": "typo"}, `an argument the tool does not take`},
		{"query_spans", map[string]any{"service": 3}, `argument service: a JSON number, want string`},
		{"query_spans", map[string]any{"trace_id": "deadbeefnothexnothexnothexnothex"}, "trace_id: want 32 hex digits"},
		{"query_spans", map[string]any{"min_duration_ms": -1}, "min_duration_ms"},
		{"list_findings", map[string]any{"kinds": []string{"nope"}}, "kinds"},
		{"list_findings", map[string]any{"min_confidence": 2}, "min_confidence"},
		{"get_trace", nil, "trace_id: required"},
		{"get_trace", map[string]any{"trace_id": strings.Repeat("ab", 16)}, "not found"},
		{"kernel_overlays", map[string]any{"sort": "fastest"}, "sort"},
		{"slice_dimensions", map[string]any{"slow_quantile": 0.1}, "slow_quantile"},
		{"get_evidence", map[string]any{"ids": []string{}}, "ids"},
		{"get_evidence", map[string]any{"ids": make([]string, 21)}, "ids"},
		{"submit_hypothesis", map[string]any{"hypothesis": map[string]any{}, "since": "soon"}, "since"},
	}
	for _, tc := range tests {
		t.Run(tc.tool+"/"+tc.want, func(t *testing.T) {
			res, _ := call(t, c, tc.tool, tc.args)
			if !res.IsError || !strings.Contains(text(res), tc.want) {
				t.Fatalf("IsError=%v text %q, want an error mentioning %q", res.IsError, text(res), tc.want)
			}
			// The error names the argument, never its value (nor a key the
			// tool does not take).
			for k, v := range tc.args {
				vals := []string{k}
				switch v := v.(type) {
				case string:
					vals = append(vals, v)
				case []string:
					vals = append(vals, v...)
				}
				for _, s := range vals {
					if _, err := evidence.ParseTraceID(s); err == nil {
						continue // a well-formed id may be named: "trace <id>: not found"
					}
					if len(s) >= 3 && !strings.Contains(tc.want, s) && k != "since" && k != "until" && k != s && strings.Contains(text(res), s) {
						t.Errorf("error %q quotes the argument value %q", text(res), s)
					}
				}
				if _, known := map[string]bool{"servce": true}[k]; known && strings.Contains(text(res), k) {
					t.Errorf("error %q quotes the unknown key %q", text(res), k)
				}
			}
		})
	}
}

func TestToolsAreReadOnlyAndTyped(t *testing.T) {
	c, ts := newClient(t)
	res, err := c.ListTools(context.Background(), mcp.ListToolsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"list_findings", "query_spans", "get_trace", "critical_path", "kernel_overlays", "lock_graph",
		"changepoints", "compare_versions", "slice_dimensions", "get_evidence", "submit_hypothesis"}
	if len(res.Tools) != len(want) || len(ts.Specs()) != len(want) {
		t.Fatalf("%d tools over MCP, %d specs, want %d", len(res.Tools), len(ts.Specs()), len(want))
	}
	byName := map[string]mcp.Tool{}
	for _, tl := range res.Tools {
		byName[tl.Name] = tl
	}
	for _, name := range want {
		tl, ok := byName[name]
		switch {
		case !ok:
			t.Errorf("tool %s missing", name)
		case tl.Annotations.ReadOnlyHint == nil || !*tl.Annotations.ReadOnlyHint:
			t.Errorf("%s is not annotated read-only", name)
		case tl.Annotations.DestructiveHint == nil || *tl.Annotations.DestructiveHint:
			t.Errorf("%s is not annotated non-destructive", name)
		case tl.OutputSchema.Type != "object" && len(tl.RawOutputSchema) == 0:
			t.Errorf("%s has no output schema", name)
		}
	}
	for _, s := range ts.Specs() {
		var schema struct {
			Type       string         `json:"type"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(s.InputSchema, &schema); err != nil || schema.Type != "object" {
			t.Errorf("%s: input schema %s (%v)", s.Name, s.InputSchema, err)
		}
	}
	for tool, enum := range map[string]string{"query_spans": `"enum":["unset","ok","error"]`,
		"list_findings": `"lock_inversion"`, "kernel_overlays": `"enum":["total"`, "submit_hypothesis": `"lock_convoy"`} {
		for _, s := range ts.Specs() {
			if s.Name == tool && !strings.Contains(string(s.InputSchema), enum) {
				t.Errorf("%s input schema lacks %s: %s", tool, enum, s.InputSchema)
			}
		}
	}
}
