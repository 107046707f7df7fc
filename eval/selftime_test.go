package eval

import (
	"os"
	"path/filepath"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func TestEvalCovered(t *testing.T) {
	tests := []struct {
		name   string
		ivs    [][2]int64
		lo, hi int64
		want   int64
	}{
		{"none", nil, 0, 100, 0},
		{"one inside", [][2]int64{{10, 20}}, 0, 100, 10},
		{"overlapping", [][2]int64{{30, 60}, {10, 40}}, 0, 100, 50},
		{"nested", [][2]int64{{10, 90}, {20, 30}}, 0, 100, 80},
		{"clipped", [][2]int64{{-10, 10}, {90, 120}}, 0, 100, 20},
		{"disjoint", [][2]int64{{10, 20}, {50, 60}}, 0, 100, 20},
	}
	for _, tt := range tests {
		if got := covered(tt.lo, tt.hi, tt.ivs); got != tt.want {
			t.Errorf("%s: %d, want %d", tt.name, got, tt.want)
		}
	}
}

// span is a test span: service, name, parent index (-1: root), start and
// end in milliseconds.
type span struct {
	service, name string
	parent        int
	start, end    int64
}

// writeTraces writes the spans, one trace per root, as an OTLP/JSON line.
func writeTraces(t *testing.T, path string, spans []span) {
	t.Helper()
	td := ptrace.NewTraces()
	root := -1
	for i, s := range spans {
		if s.parent < 0 {
			root = i
		}
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", s.service)
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{byte(root + 1)})
		sp.SetSpanID(pcommon.SpanID{byte(i + 1)})
		if s.parent >= 0 {
			sp.SetParentSpanID(pcommon.SpanID{byte(s.parent + 1)})
		}
		sp.SetName(s.name)
		sp.SetStartTimestamp(pcommon.Timestamp(s.start * 1e6))
		sp.SetEndTimestamp(pcommon.Timestamp(s.end * 1e6))
	}
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestEvalSelfTimeIncrease(t *testing.T) {
	call := func(at, child int64) []span { // a 100ms request whose db call takes child ms
		return []span{{"api", "GET /x", -1, at, at + 100}, {"db", "SELECT", 0, at + 10, at + 10 + child}}
	}
	step := func(at, child int64) []span { // the db's time is in a step of SELECT
		return []span{{"api", "GET /x", -1, at, at + 100}, {"db", "SELECT", 0, at + 10, at + 12 + child}, {"db", "scan", 1, at + 11, at + 11 + child}}
	}
	tests := []struct {
		name     string
		baseline [][]span
		incident [][]span
		want     Candidate
	}{
		{"baseline file", [][]span{call(0, 20), call(500, 20)}, [][]span{call(0, 80), call(500, 80)}, Candidate{Service: "db", Operation: "SELECT"}},
		{"halves", nil, [][]span{call(0, 20), call(500, 20), call(1000, 5), call(1500, 5)}, Candidate{Service: "api", Operation: "GET /x"}},
		// db's time grows in an internal step of its endpoint: the
		// baseline names the endpoint, as debugai's hypotheses do.
		{"internal step", [][]span{step(0, 20), step(500, 20)}, [][]span{step(0, 80), step(500, 80)}, Candidate{Service: "db", Operation: "SELECT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			b := Bundle{Dir: dir}
			for role, calls := range map[string][][]span{"baseline": tt.baseline, "incident": tt.incident} {
				for i, c := range calls {
					p := filepath.Join(dir, role+string(rune('a'+i))+".otlp.jsonl")
					writeTraces(t, p, c)
					if role == "baseline" {
						b.Baseline = append(b.Baseline, p)
					} else {
						b.Incident = append(b.Incident, p)
					}
				}
			}
			got, err := SelfTimeIncrease(b)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 2 || got[0].Candidate != tt.want || got[0].Increase() <= 0 || got[1].Increase() >= 0 {
				t.Fatalf("shifts %+v, want %v first and rising", got, tt.want)
			}
		})
	}
}
