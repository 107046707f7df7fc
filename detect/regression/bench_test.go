package regression

import (
	"math/rand/v2"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// BenchmarkAnalyze100k: 10,000 traces of 10 spans (a SERVER root over 9
// sequential CLIENT calls, one with lock-wait events), two versions.
func BenchmarkAnalyze100k(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var spans []evidence.Span
	for i := range 10_000 {
		v := "v1"
		if i >= 5000 {
			v = "v2"
		}
		start := base + int64(i)*sec/10
		root := server(i, "api", "GET /x", v, start, 100e6)
		spans = append(spans, root)
		for j := range 9 {
			s := start + int64(j)*10e6
			c := evidence.Span{TraceID: root.TraceID, SpanID: evidence.SpanID{byte(j + 1), 0xff}, ParentSpanID: root.SpanID,
				Service: "db", Name: "q", Kind: evidence.KindClient, StartNS: s, EndNS: s + jitter(r, 9e6, 0.1)}
			if j == 0 {
				c.Events = []evidence.SpanEvent{{Index: 0, TimeNS: s + 1e6, Name: "waiting for lock"}, {Index: 1, TimeNS: s + 5e6, Name: "acquired lock"}}
			}
			spans = append(spans, c)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Analyze(Input{Spans: spans}, DefaultConfig()); err != nil {
			b.Fatal(err)
		}
	}
}
