package critpath

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
)

const hotrodDir = "../../../shared/testdata/hotrod"

// loadHotROD decodes a shared HotROD recording (one OTLP/JSON
// ExportTraceServiceRequest per line) into spans: ids, service.name from the
// resource, name, start and end. It skips the test when the shared data is
// absent (CI always has it).
func loadHotROD(t testing.TB, folder string) []evidence.Span {
	t.Helper()
	path := filepath.Join(hotrodDir, folder, "traces.otlp.jsonl.gz")
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		t.Skipf("shared test data %s is absent (it lives beside the repository as ../shared/testdata; CI always has it)", path)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	spans, err := decodeOTLPJSONLines(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return spans
}

func decodeOTLPJSONLines(r io.Reader) ([]evidence.Span, error) {
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("opening gzip: %w", err)
	}
	defer zr.Close()
	var (
		spans []evidence.Span
		u     ptrace.JSONUnmarshaler
		br    = bufio.NewReaderSize(zr, 1<<20)
	)
	for line := 1; ; line++ {
		b, err := br.ReadBytes('\n')
		if b = bytes.TrimSpace(b); len(b) > 0 {
			td, uerr := u.UnmarshalTraces(b)
			if uerr != nil {
				return nil, fmt.Errorf("line %d: %w", line, uerr)
			}
			spans = appendSpans(spans, td)
		}
		if errors.Is(err, io.EOF) {
			return spans, nil
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
	}
}

func appendSpans(dst []evidence.Span, td ptrace.Traces) []evidence.Span {
	for _, rs := range td.ResourceSpans().All() {
		service := ""
		if v, ok := rs.Resource().Attributes().Get("service.name"); ok {
			service = v.Str()
		}
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				dst = append(dst, evidence.Span{
					TraceID:      evidence.TraceID(s.TraceID()),
					SpanID:       evidence.SpanID(s.SpanID()),
					ParentSpanID: evidence.SpanID(s.ParentSpanID()),
					Service:      service,
					Name:         s.Name(),
					StartNS:      int64(s.StartTimestamp()),
					EndNS:        int64(s.EndTimestamp()),
				})
			}
		}
	}
	return dst
}

func opShare(r Report, service, name string) (OpShare, bool) {
	for _, o := range r.Ops {
		if o.Service == service && o.Name == name {
			return o, true
		}
	}
	return OpShare{}, false
}

func TestHotRODMutexDominatesCriticalPath(t *testing.T) {
	incident := loadHotROD(t, "incident_mutex_default")
	fixed := loadHotROD(t, "fixed_M_D100ms_W100")
	cfg := DefaultConfig()

	rep, finds, err := Analyze(incident, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range rep.Ops[:min(6, len(rep.Ops))] {
		t.Logf("incident #%d %s: share %.3f, %d traces, p50 %v p95 %v", i+1, o.Subject(), o.Share, o.Traces, roundDur(o.P50NS), roundDur(o.P95NS))
	}
	if rep.Traces != 62 || rep.SkippedTraces != 0 {
		t.Errorf("traces %d (skipped %d), want 62 (README)", rep.Traces, rep.SkippedTraces)
	}
	top := rep.Ops[0]
	if top.Service != "mysql" || top.Name != "SQL SELECT" {
		t.Fatalf("top critical-path operation %s, want mysql/SQL SELECT", top.Subject())
	}
	if top.Share < 0.5 || top.Traces != 62 {
		t.Errorf("mysql/SQL SELECT share %.3f on %d traces, want > 0.5 on all 62", top.Share, top.Traces)
	}
	if len(finds) != 1 || finds[0].Subject != "mysql/SQL SELECT" || finds[0].Kind != KindDominant {
		t.Fatalf("findings %+v, want one critical_path_dominant for mysql/SQL SELECT", finds)
	}
	f := finds[0]
	if len(f.Refs) != cfg.Exemplars || !strings.HasPrefix(f.ID, "finding:") || f.Score != top.Share {
		t.Errorf("finding %+v: want %d refs, a finding: id, score = share", f, cfg.Exemplars)
	}
	ids := map[string]*evidence.Span{}
	for i := range incident {
		ids[incident[i].ID()] = &incident[i]
	}
	for _, ref := range f.Refs {
		s, ok := ids[ref.ID]
		if ref.Line != evidence.LineTrace || !ok || s.Service != "mysql" || s.Name != "SQL SELECT" {
			t.Errorf("ref %+v: want a mysql SQL SELECT span on the trace line", ref)
		}
	}
	t.Logf("finding: %s", f.Summary)

	frep, ffinds, err := Analyze(fixed, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, o := range frep.Ops[:min(6, len(frep.Ops))] {
		t.Logf("fixed #%d %s: share %.3f, %d traces, p50 %v p95 %v", i+1, o.Subject(), o.Share, o.Traces, roundDur(o.P50NS), roundDur(o.P95NS))
	}
	// README ground truth (2): with the mutex fixed, the sequential GetDriver
	// calls are the largest critical-path contributor.
	if ftop := frep.Ops[0]; ftop.Service != "redis-manual" || ftop.Name != "GetDriver" {
		t.Errorf("fixed recording: top operation %s, want redis-manual/GetDriver", ftop.Subject())
	}
	fo, ok := opShare(frep, "mysql", "SQL SELECT")
	if !ok {
		t.Fatal("fixed recording: mysql/SQL SELECT not on any critical path")
	}
	if fo.Share > top.Share/2 {
		t.Errorf("fixed recording: mysql/SQL SELECT share %.3f, want under half of the incident's %.3f", fo.Share, top.Share)
	}
	for _, f := range ffinds {
		if f.Subject == "mysql/SQL SELECT" {
			t.Errorf("fixed recording: unexpected finding %s", f.Summary)
		}
	}
}

// TestHotRODPathsPartitionRoot checks, on every trace of every recording,
// that the segments tile the root's interval.
func TestHotRODPathsPartitionRoot(t *testing.T) {
	for _, folder := range []string{"incident_mutex_default", "fixed_M_D100ms_W100", "changepoint_fixed_to_default"} {
		t.Run(folder, func(t *testing.T) {
			spans := loadHotROD(t, folder)
			byTrace := map[evidence.TraceID][]evidence.Span{}
			for _, s := range spans {
				byTrace[s.TraceID] = append(byTrace[s.TraceID], s)
			}
			var tr Tracer
			for id, trace := range byTrace {
				p, err := tr.Path(trace)
				if err != nil {
					t.Fatalf("trace %s: %v", id, err)
				}
				if p.Roots != 1 || p.Duplicates != 0 {
					t.Errorf("trace %s: %d roots, %d duplicates", id, p.Roots, p.Duplicates)
				}
				checkPartition(t, trace, p)
			}
		})
	}
}
