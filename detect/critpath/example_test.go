package critpath_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/critpath"
	"github.com/debugai/debugai/evidence"
)

func ExampleCriticalPath() {
	tid := evidence.TraceID{1}
	mk := func(id, parent byte, service, name string, start, end int64) evidence.Span {
		return evidence.Span{
			TraceID: tid, SpanID: evidence.SpanID{7: id}, ParentSpanID: evidence.SpanID{7: parent},
			Service: service, Name: name, StartNS: start, EndNS: end,
		}
	}
	spans := []evidence.Span{
		mk(1, 0, "frontend", "GET /dispatch", 0, 100),
		mk(2, 1, "mysql", "SQL SELECT", 5, 70),  // the frontend waits for it
		mk(3, 1, "redis", "GetDriver", 10, 40),  // concurrent, finishes first: not critical
		mk(4, 1, "route", "GET /route", 70, 95), // runs after the query
		mk(5, 1, "audit", "Publish", 96, 300),   // async, outlives the request: clipped
	}
	p, err := critpath.CriticalPath(spans)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range p.Segments {
		fmt.Printf("%-8s %-13s %3d-%3d self %d\n", s.Service, s.Name, s.StartNS, s.EndNS, s.SelfNS)
	}
	fmt.Println("total", p.DurationNS())
	// Output:
	// frontend GET /dispatch   0-  5 self 5
	// mysql    SQL SELECT      5- 70 self 65
	// route    GET /route     70- 95 self 25
	// frontend GET /dispatch  95- 96 self 1
	// audit    Publish        96-100 self 4
	// total 100
}

func ExampleAnalyze() {
	var spans []evidence.Span
	for i := range 4 {
		tid := evidence.TraceID{byte(i + 1)}
		spans = append(spans,
			evidence.Span{TraceID: tid, SpanID: evidence.SpanID{1}, Service: "frontend", Name: "GET /dispatch", StartNS: 0, EndNS: 1000},
			evidence.Span{TraceID: tid, SpanID: evidence.SpanID{2}, ParentSpanID: evidence.SpanID{1},
				Service: "mysql", Name: "SQL SELECT", StartNS: 100, EndNS: 800})
	}
	report, findings, err := critpath.Analyze(spans, critpath.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range report.Ops {
		fmt.Printf("%s: %.0f%% of critical-path time\n", o.Subject(), 100*o.Share)
	}
	for _, f := range findings {
		fmt.Println(f.Kind, f.Subject, len(f.Refs), "refs on the", f.Refs[0].Line, "line")
	}
	// Output:
	// mysql/SQL SELECT: 70% of critical-path time
	// frontend/GET /dispatch: 30% of critical-path time
	// critical_path_dominant mysql/SQL SELECT 4 refs on the trace line
}
