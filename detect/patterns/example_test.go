package patterns_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/evidence"
)

func ExampleAnalyze() {
	// Three parents, each making 6 back-to-back calls to the same query.
	var spans []evidence.Span
	for p := range 3 {
		t0 := int64(p) * 1e9
		parent := evidence.Span{TraceID: evidence.TraceID{1, byte(p)}, SpanID: evidence.SpanID{1},
			Service: "orders", Name: "GET /orders", Kind: evidence.KindServer, StartNS: t0, EndNS: t0 + 70e6}
		spans = append(spans, parent)
		for c := range 6 {
			spans = append(spans, evidence.Span{TraceID: parent.TraceID, SpanID: evidence.SpanID{2, byte(c)},
				ParentSpanID: parent.SpanID, Service: "orders", Name: "SELECT item", Kind: evidence.KindClient,
				StartNS: t0 + int64(c)*10e6 + 1e6, EndNS: t0 + int64(c+1)*10e6 + 1e6})
		}
	}
	finds, _, err := patterns.Analyze(patterns.Input{Spans: spans}, patterns.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range finds {
		fmt.Printf("%s %s: %d refs, mean calls %.0f\n", f.Kind, f.Subject, len(f.Refs), f.Attrs["mean_calls"])
	}
	// Output:
	// n_plus_one orders/GET /orders -> orders/SELECT item: 8 refs, mean calls 6
}
