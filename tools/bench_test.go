package tools_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/tools"
	"github.com/debugai/debugai/tools/toolstest"
)

// BenchmarkToolLatency measures each tool's latency (p50, p95 over 30
// calls with default arguments) and answer size on a synthetic store.
// DEBUGAI_BENCH_SPANS sets its size (default 1,000,000 spans);
// DEBUGAI_BENCH_STORE keeps it at a path and reuses it when it exists.
//
//	DEBUGAI_BENCH_SPANS=10000000 DEBUGAI_BENCH_STORE=/tmp/tools10m.duckdb \
//	  go test ./tools/ -run '^$' -bench ToolLatency -benchtime 1x
func BenchmarkToolLatency(b *testing.B) {
	ctx := context.Background()
	n := 1_000_000
	if s := os.Getenv("DEBUGAI_BENCH_SPANS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil {
			b.Fatal(err)
		}
		n = v
	}
	path := os.Getenv("DEBUGAI_BENCH_STORE")
	if path == "" {
		path = filepath.Join(b.TempDir(), "bench.duckdb")
	}
	if _, err := os.Stat(path); err != nil {
		start := time.Now()
		if err := toolstest.Synthetic(ctx, path, n); err != nil {
			b.Fatal(err)
		}
		b.Logf("built %d spans in %s", n, time.Since(start))
	}
	st, err := duckdb.Open(ctx, path, duckdb.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	ts, err := tools.New(st, tools.DefaultConfig(), nil)
	if err != nil {
		b.Fatal(err)
	}
	evs, err := st.KernelEvents(ctx, evidence.KernelEventFilter{Limit: 1})
	if err != nil || len(evs) == 0 {
		b.Fatalf("no kernel events: %v", err)
	}
	trace := evs[0].TraceID.String()
	calls := []struct{ tool, args string }{
		{"list_findings", `{}`},
		{"query_spans", `{}`},
		{"query_spans", `{"service":"svc-1","min_duration_ms":100,"since":"10m"}`},
		{"get_trace", `{"trace_id":"` + trace + `"}`},
		{"critical_path", `{"trace_id":"` + trace + `"}`},
		{"critical_path", `{}`},
		{"kernel_overlays", `{}`},
		{"kernel_overlays", `{"trace_id":"` + trace + `"}`},
		{"lock_graph", `{}`},
		{"changepoints", `{}`},
		{"compare_versions", `{}`},
		{"slice_dimensions", `{}`},
		{"get_evidence", `{"ids":["` + evs[0].ID() + `","span:` + trace + `/` + evs[0].SpanID.String() + `"]}`},
		{"submit_hypothesis", `{"hypothesis":{"summary":"s","pattern":"lock_convoy","confidence":0.5,"claims":[{"text":"t","root_cause":true,"citations":["` + evs[0].ID() + `","span:` + trace + `/` + evs[0].SpanID.String() + `"]}]}}`},
	}
	for _, c := range calls {
		b.Run(c.tool, func(b *testing.B) {
			for range b.N {
				var lat []time.Duration
				var size int
				for range 30 {
					t0 := time.Now()
					out, err := ts.Call(ctx, c.tool, json.RawMessage(c.args))
					lat = append(lat, time.Since(t0))
					if err != nil {
						b.Fatalf("%s %s: %v", c.tool, c.args, err)
					}
					size = len(out)
				}
				slices.Sort(lat)
				b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
				b.ReportMetric(float64(lat[len(lat)*95/100].Microseconds())/1000, "p95_ms")
				b.ReportMetric(float64(size/4), "tokens")
			}
		})
	}
}
