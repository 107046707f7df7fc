package duckdb

import (
	"context"
	"fmt"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// BenchmarkWriteSpans writes fresh batches of realistic spans (5 kept
// attributes, one event each) into a growing store.
func BenchmarkWriteSpans(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			// Pre-build a pool of batches so that building them is not timed.
			const pool = 16
			batches := make([]*evidence.Batch, pool)
			b.ResetTimer()
			b.StopTimer()
			next := 0
			for i := 0; i < b.N; i++ {
				if i%pool == 0 {
					for j := range batches {
						batches[j] = &evidence.Batch{Spans: makeSpans(next, size, 1_700_000_000_000_000_000)}
						next += size
					}
				}
				b.StartTimer()
				if err := s.Write(ctx, batches[i%pool]); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// BenchmarkWriteSpansReingest re-writes batches that are already stored:
// every span is a duplicate.
func BenchmarkWriteSpansReingest(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			s, _ := openTemp(b)
			ctx := context.Background()
			const pool = 16
			batches := make([]*evidence.Batch, pool)
			for j := range batches {
				batches[j] = &evidence.Batch{Spans: makeSpans(j*size, size, 1_700_000_000_000_000_000)}
				if err := s.Write(ctx, batches[j]); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.Write(ctx, batches[i%pool]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// benchSizes are the batch sizes the write benchmarks use.
var benchSizes = []int{1000, 8000}
