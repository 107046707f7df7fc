package ingest

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/bench/loadgen"
)

// BenchmarkConvertTraces measures privacy-applying conversion of realistic
// load-generator requests (1000 spans each), decoding excluded.
func BenchmarkConvertTraces(b *testing.B) {
	bodies, err := loadgen.Generate(loadgen.BodyConfig{Bodies: 8, SpansPerBody: 1000, Seed: 7})
	if err != nil {
		b.Fatal(err)
	}
	traces := make([]ptrace.Traces, len(bodies))
	for i, body := range bodies {
		if traces[i], err = loadgen.Decode(body); err != nil {
			b.Fatal(err)
		}
	}
	c := testConverter(b)
	b.ReportAllocs()
	b.ResetTimer()
	spans := 0
	for i := 0; i < b.N; i++ {
		batch, _, _ := c.ConvertTraces(traces[i%len(traces)])
		spans += len(batch.Spans)
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}
