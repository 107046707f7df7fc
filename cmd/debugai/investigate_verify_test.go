package main

import (
	"context"
	"encoding/json"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/mcp"

	"github.com/debugai/debugai/eval"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/tools"
)

// TestVerifierOnConvoyRecording submits, through the MCP client and the
// submit_hypothesis tool, the adversarial hypotheses about the
// recorded convoy bundle (the lock convoy is in the service the truth
// names; its caller is healthy) and the correct one: a convoy placed in
// the caller, citing one callee lock wait and one fast caller span, is
// rejected, with or without the endpoint existing; so is a service that
// does not exist, and the correct hypothesis outside the scope's
// services; the correct one is accepted.
func TestVerifierOnConvoyRecording(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join("..", "..", "eval", "incidents", "convoy")
	b, err := eval.OpenBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	truth, err := eval.ReadTruth(dir)
	if err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	if _, stderr, err := runCLI(t, append([]string{"import", "--store", store}, b.Files()...)...); err != nil {
		t.Fatalf("import: %v\n%s", err, stderr)
	}
	st, err := duckdb.Open(ctx, store, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := b.Split()
	if err != nil || len(bs.Incident) == 0 || len(bs.Baseline) == 0 {
		t.Fatalf("split %+v, %v", bs, err)
	}
	split := bs.Incident[0].SinceNS // this recording's baseline precedes its incident
	cause := truth.RootCauseService
	var caller string
	for _, s := range stats.Services {
		if s != cause {
			caller = s
		}
	}
	incident := evidence.SpanFilter{SinceNS: split, UntilNS: stats.MaxEndNS + 1, Limit: 5000, Fields: evidence.SpanFieldsCore}
	spansOf := func(service, name string) []evidence.Span {
		f := incident
		f.Service, f.Name = service, name
		spans, err := st.Spans(ctx, f)
		if err != nil || len(spans) == 0 {
			t.Fatalf("spans of %s %s: %d, %v", service, name, len(spans), err)
		}
		return spans
	}
	// The slowest incident span of the truth's operation, and the fastest
	// incident span of the caller's server operation.
	slow := slices.MaxFunc(spansOf(cause, truth.RootCauseOperation), func(a, b evidence.Span) int { return int(a.DurationNS() - b.DurationNS()) })
	// A healthy caller span: the fastest incident span of a caller
	// operation, no slower than that operation's baseline median.
	var fast evidence.Span
	names := map[string]bool{}
	for _, sp := range spansOf(caller, "") {
		names[sp.Name] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		cand := slices.MinFunc(spansOf(caller, name), func(a, b evidence.Span) int { return int(a.DurationNS() - b.DurationNS()) })
		base, err := st.Spans(ctx, evidence.SpanFilter{Service: caller, Name: name, SinceNS: stats.MinStartNS, UntilNS: split, Limit: 1000, Fields: evidence.SpanFieldsCore})
		if err != nil {
			t.Fatal(err)
		}
		durs := make([]int64, len(base))
		for i := range base {
			durs[i] = base[i].DurationNS()
		}
		slices.Sort(durs)
		if len(durs) >= 5 && cand.DurationNS() <= durs[(len(durs)-1)/2] && cand.StatusCode != evidence.StatusError {
			fast = cand
			break
		}
	}
	if fast.Name == "" {
		t.Fatal("the caller has no healthy incident span")
	}
	fastName := fast.Name
	waits, err := st.KernelEvents(ctx, evidence.KernelEventFilter{Node: slow.Host, PID: slow.ProcessPID, Types: []evidence.KernelEventType{evidence.KernelFutexWait},
		SinceNS: split, UntilNS: stats.MaxEndNS + 1, Limit: 5000})
	if err != nil || len(waits) == 0 {
		t.Fatalf("futex waits of the cause's process: %d, %v", len(waits), err)
	}
	wait := slices.MaxFunc(waits, func(a, b evidence.KernelEvent) int { return int(a.DurationNS - b.DurationNS) })

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
	hyp := func(service, endpoint string, cites ...string) map[string]any {
		var claims []map[string]any
		for _, id := range cites {
			claims = append(claims, map[string]any{"text": "evidence", "citations": []string{id}, "root_cause": true})
		}
		return map[string]any{"schema": "debugai.hypothesis/v1", "summary": "requests queue on one lock", "pattern": "lock_convoy",
			"location": map[string]any{"service": service, "endpoint": endpoint}, "confidence": 0.8, "claims": claims}
	}
	for _, tc := range []struct {
		name     string
		h        map[string]any
		services []string
		want     []string // reason codes that must be among the reasons; none: accepted
	}{
		{"the issue's case", hyp(caller, "GET /healthz", wait.ID(), fast.ID()), nil, []string{"unknown_location", "location_mismatch", "no_change"}},
		{"an existing caller endpoint", hyp(caller, fastName, wait.ID(), fast.ID()), nil, []string{"location_mismatch", "no_change", "insufficient_independent_lines"}},
		{"a service that does not exist", hyp("nosuchsvc", "", wait.ID(), slow.ID()), nil, []string{"unknown_location"}},
		{"the correct one outside the services", hyp(cause, truth.RootCauseOperation, wait.ID(), slow.ID()), []string{"nosuchsvc"}, []string{"location_out_of_scope"}},
		{"the correct one", hyp(cause, truth.RootCauseOperation, wait.ID(), slow.ID()), nil, nil},
		{"the correct one within its service", hyp(cause, truth.RootCauseOperation, wait.ID(), slow.ID()), []string{cause}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := map[string]any{"hypothesis": tc.h, "since": rfc(split), "until": rfc(stats.MaxEndNS + 1),
				"baseline_since": rfc(stats.MinStartNS), "baseline_until": rfc(split)}
			if tc.services != nil {
				args["services"] = tc.services
			}
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = "submit_hypothesis", args
			res, err := c.CallTool(ctx, req)
			if err != nil || res.IsError {
				t.Fatalf("submit_hypothesis: %v %+v", err, res)
			}
			raw, _ := json.Marshal(res.StructuredContent)
			var out tools.SubmitHypothesisOutput
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatal(err)
			}
			var codes []string
			for _, r := range out.Reasons {
				codes = append(codes, r.Code)
			}
			if len(tc.want) == 0 {
				if out.Status != "accepted" {
					t.Fatalf("verdict %s %v, want accepted\n%s", out.Status, codes, raw)
				}
				return
			}
			if out.Status != "rejected" {
				t.Fatalf("verdict %s, want rejected with %v", out.Status, tc.want)
			}
			for _, w := range tc.want {
				if !slices.Contains(codes, w) {
					t.Errorf("reasons %v lack %s\n%s", codes, w, raw)
				}
			}
			if strings.Contains(string(raw), "GET /healthz") {
				t.Errorf("a reason echoes the hypothesis' endpoint: %s", raw)
			}
		})
	}
}
