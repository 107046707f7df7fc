package eval

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// writeRoots writes one single-span trace per start time (ms), trace ids
// first, first+1, ...
func writeRoots(t *testing.T, path string, first byte, starts ...int64) {
	t.Helper()
	td := ptrace.NewTraces()
	for i, at := range starts {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "api")
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{first + byte(i)})
		sp.SetSpanID(pcommon.SpanID{1})
		sp.SetName("GET /x")
		sp.SetStartTimestamp(pcommon.Timestamp(at * 1e6))
		sp.SetEndTimestamp(pcommon.Timestamp((at + 10) * 1e6))
	}
	b, err := (&ptrace.JSONMarshaler{}).MarshalTraces(td)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// A baseline recorded around the incident, before and after it (another
// day, say), is the baseline by its file, not by its timestamps.
func TestBundleSplitBySource(t *testing.T) {
	dir := t.TempDir()
	writeRoots(t, filepath.Join(dir, "baseline.otlp.jsonl"), 1, 0, 100, 1_000_000, 1_000_100)
	writeRoots(t, filepath.Join(dir, "incident.otlp.jsonl"), 100, 500_000, 500_100, 500_200)
	b, err := OpenBundle(dir)
	if err != nil {
		t.Fatal(err)
	}
	sp, err := b.Split()
	if err != nil {
		t.Fatal(err)
	}
	if len(sp.BaselineTraces) != 4 || sp.BaselineSpans != 4 || sp.IncidentSpans != 3 {
		t.Fatalf("split %+v: want 4 baseline traces and spans, 3 incident spans", sp)
	}
	for _, id := range []byte{1, 2, 3, 4} {
		if !sp.BaselineTraces[evidence.TraceID{id}] {
			t.Errorf("trace %d not in the baseline", id)
		}
	}
	ms := func(v int64) int64 { return v * 1e6 }
	wantBase := []hypothesis.Window{{SinceNS: 0, UntilNS: ms(110) + 1}, {SinceNS: ms(1_000_000), UntilNS: ms(1_000_110) + 1}}
	wantInc := []hypothesis.Window{{SinceNS: ms(500_000), UntilNS: ms(500_210) + 1}}
	if len(sp.Baseline) != 2 || sp.Baseline[0] != wantBase[0] || sp.Baseline[1] != wantBase[1] {
		t.Errorf("baseline windows %+v, want %+v", sp.Baseline, wantBase)
	}
	if len(sp.Incident) != 1 || sp.Incident[0] != wantInc[0] {
		t.Errorf("incident windows %+v, want %+v", sp.Incident, wantInc)
	}
}
