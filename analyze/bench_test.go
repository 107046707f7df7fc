package analyze

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// BenchmarkRecentPass measures one analysis pass of serve's loop (load the
// last window and the one before from a real DuckDB file, run every
// detector and the ranking model, store the findings) over two windows of
// the given number of spans each: five spans per request across three
// services, the second window's db 20 % slower. The pass's cost per span
// of the window, times the spans a window holds at an ingest rate, over
// the loop's interval, is the loop's share of a core (BENCHMARKS.md).
func BenchmarkRecentPass(b *testing.B) {
	for _, perWindow := range []int{10_000, 50_000} {
		b.Run(fmt.Sprintf("spans=%d", perWindow), func(b *testing.B) {
			ctx := context.Background()
			st, err := duckdb.Open(ctx, filepath.Join(b.TempDir(), "ev.duckdb"), duckdb.Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			const t0 = int64(1_800_000_000e9)
			traces := perWindow / 5
			window := time.Minute
			var batch evidence.Batch
			for w := range 2 {
				for i := range traces {
					start := t0 + int64(w)*int64(window) + int64(i)*int64(window)/int64(traces)
					db := int64(2e6 + (i%5)*1e5)
					if w == 1 {
						db += 4e5
					}
					n := w*traces + i
					id := evidence.TraceID{byte(n >> 16), byte(n >> 8), byte(n), 1}
					sp := func(s, p byte, svc, name string, kind evidence.SpanKind, from, to int64) evidence.Span {
						x := evidence.Span{TraceID: id, SpanID: evidence.SpanID{s}, Service: svc, Name: name, Kind: kind,
							StartNS: start + from, EndNS: start + to}
						if p != 0 {
							x.ParentSpanID = evidence.SpanID{p}
						}
						return x
					}
					batch.Spans = append(batch.Spans,
						sp(1, 0, "web", "GET /", evidence.KindServer, 0, db+6e6),
						sp(2, 1, "web", "query", evidence.KindClient, 1e6, db+3e6),
						sp(3, 2, "db", "SELECT", evidence.KindServer, 15e5, db+25e5),
						sp(4, 1, "web", "render", evidence.KindInternal, db+3e6, db+5e6),
						sp(5, 4, "cache", "GET", evidence.KindServer, db+31e5, db+4e6))
				}
			}
			if err := st.Write(ctx, &batch); err != nil {
				b.Fatal(err)
			}
			cfg := DefaultLoopConfig()
			b.ResetTimer()
			for b.Loop() {
				pass, _, err := Recent(ctx, st, cfg, 0)
				if err != nil || pass.Input == nil {
					b.Fatalf("pass: %v (%s)", err, pass.Skipped)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(2*perWindow), "ns/span")
		})
	}
}
