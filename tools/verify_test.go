package tools_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/debugai/debugai/agent/verify/verifytest"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/tools"
)

// TestSubmitHypothesisAdversarial sends package verifytest's correct and
// adversarial hypotheses through the MCP client, as JSON, with the scope
// (window, services, baseline window) as tool arguments: every verdict
// is the one due.
func TestSubmitHypothesisAdversarial(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f, err := verifytest.Write(ctx, st)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := tools.New(st, tools.DefaultConfig(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.NewInProcessClient(tools.NewMCPServer(ts, "test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "verify-test", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatal(err)
	}
	rfc := func(ns int64) string { return time.Unix(0, ns).UTC().Format(time.RFC3339Nano) }
	accepted := 0
	for _, tc := range f.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			h, err := json.Marshal(tc.H)
			if err != nil {
				t.Fatal(err)
			}
			var hm map[string]any
			if err := json.Unmarshal(h, &hm); err != nil {
				t.Fatal(err)
			}
			args := map[string]any{"hypothesis": hm, "since": rfc(tc.Scope.SinceNS), "until": rfc(tc.Scope.UntilNS)}
			if len(tc.Scope.Services) > 0 {
				args["services"] = tc.Scope.Services
			}
			if len(tc.Scope.Baseline) == 1 {
				args["baseline_since"], args["baseline_until"] = rfc(tc.Scope.Baseline[0].SinceNS), rfc(tc.Scope.Baseline[0].UntilNS)
			}
			res, b := call(t, c, "submit_hypothesis", args)
			if res.IsError {
				t.Fatalf("tool error: %s", text(res))
			}
			var out tools.SubmitHypothesisOutput
			if err := json.Unmarshal(b, &out); err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, r := range out.Reasons {
				codes = append(codes, r.Code)
			}
			var lines []string
			for _, l := range tc.Lines {
				lines = append(lines, string(l))
			}
			want := "rejected"
			if tc.Accepted() {
				want = "accepted"
				accepted++
			}
			if lines == nil {
				lines = []string{}
			}
			if out.Status != want || !reflect.DeepEqual(codes, tc.Codes) || !reflect.DeepEqual(out.Lines, lines) {
				t.Errorf("verdict %s %v lines %v; want %s %v lines %v", out.Status, codes, out.Lines, want, tc.Codes, lines)
			}
		})
	}
	if accepted == 0 {
		t.Error("no correct hypothesis among the cases")
	}
}

// TestSubmitHypothesisBaselineArgs: a baseline needs both ends, and a bad
// one names its argument.
func TestSubmitHypothesisBaselineArgs(t *testing.T) {
	c, _ := newClient(t)
	h := map[string]any{"summary": "x", "pattern": "lock_convoy", "confidence": 0.5,
		"claims": []map[string]any{{"text": "x", "citations": []string{"span:01/02"}, "root_cause": true}}}
	for _, tc := range []struct {
		args map[string]any
		want string
	}{
		{map[string]any{"hypothesis": h, "baseline_since": "10m"}, "baseline_since"},
		{map[string]any{"hypothesis": h, "baseline_since": "10m", "baseline_until": "soon"}, "baseline_until"},
	} {
		res, _ := call(t, c, "submit_hypothesis", tc.args)
		if !res.IsError || !containsAll(text(res), tc.want) {
			t.Errorf("%v: IsError=%v %q, want an error naming %s", tc.args, res.IsError, text(res), tc.want)
		}
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}
