package regression_test

import (
	"encoding/binary"
	"fmt"

	"github.com/debugai/debugai/detect/regression"
	"github.com/debugai/debugai/evidence"
)

// Example plants a deploy that doubles an endpoint's latency and reads the
// KS finding between the two versions.
func Example() {
	var spans []evidence.Span
	for i := range 60 {
		version, d := "v1", int64(100e6+int64(i%7)*1e6)
		if i >= 30 {
			version, d = "v2", 2*d
		}
		var t evidence.TraceID
		binary.BigEndian.PutUint64(t[8:], uint64(i)+1)
		start := int64(1_800_000_000e9) + int64(i)*1e9
		spans = append(spans, evidence.Span{TraceID: t, SpanID: evidence.SpanID{1}, Service: "shop", Name: "GET /cart",
			Version: version, Kind: evidence.KindServer, StartNS: start, EndNS: start + d})
	}
	_, findings, err := regression.Analyze(regression.Input{Spans: spans}, regression.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range findings {
		if f.Kind == regression.KindKS {
			fmt.Println(f.Refs[0].ID)
			fmt.Printf("median %.0fms -> %.0fms, confidence %.3f\n", f.Attrs["median_a_ns"]/1e6, f.Attrs["median_b_ns"]/1e6, f.Confidence)
		}
	}
	// Output:
	// ks:shop GET /cart/v1..v2
	// median 103ms -> 206ms, confidence 1.000
}
