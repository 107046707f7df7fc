package duckdb

import (
	"context"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func testFinding(kind, subject string, score float64, startNS, endNS int64, refs ...evidence.Ref) evidence.Finding {
	return evidence.Finding{
		ID:   evidence.NewFindingID(kind, subject, refs),
		Kind: kind, Subject: subject, Summary: subject + " changed",
		Score: score, Confidence: 0.75, Refs: refs,
		Attrs:   map[string]float64{"p": 0.25, "n": 12},
		StartNS: startNS, EndNS: endNS,
	}
}

func mustFindings(t *testing.T, s *Store, f evidence.FindingFilter) []evidence.Finding {
	t.Helper()
	out, err := s.Findings(context.Background(), f)
	if err != nil {
		t.Fatalf("Findings: %v", err)
	}
	return out
}

func TestFindingsRoundTripReplaceAndGet(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	cp := evidence.ChangePointEvidenceID("checkout GET /cart p50", 1_700_000_000_000_000_000)
	ks := evidence.KSEvidenceID("checkout GET /cart", "v1", "v2")
	a := testFinding("latency_changepoint", "checkout GET /cart p50", 2, 100, 200,
		evidence.Ref{ID: cp, Line: evidence.LineTrace}, evidence.Ref{ID: "span:ab/cd", Line: evidence.LineTrace})
	b := testFinding("latency_ks", "checkout GET /cart v1..v2", 0.5, 0, 0,
		evidence.Ref{ID: ks, Line: evidence.LineTrace}, evidence.Ref{ID: "res:v2", Line: evidence.LineDeploy})
	b.Attrs = nil
	a.Service, a.Operation = "checkout", "GET /cart" // located by the ranking model; b is not
	if err := s.WriteFindings(ctx, []evidence.Finding{a, b}); err != nil {
		t.Fatal(err)
	}
	got := mustFindings(t, s, evidence.FindingFilter{})
	if want := []evidence.Finding{a, b}; !reflect.DeepEqual(got, want) {
		t.Fatalf("Findings:\n got %+v\nwant %+v", got, want)
	}
	for id, want := range map[string]struct {
		f    evidence.Finding
		line evidence.Line
	}{a.ID: {a, ""}, cp: {a, evidence.LineTrace}, b.ID: {b, ""}, ks: {b, evidence.LineTrace}} {
		item, err := s.Get(ctx, id)
		if err != nil || item.Finding == nil || !reflect.DeepEqual(*item.Finding, want.f) || item.Line != want.line || item.ID != id {
			t.Errorf("Get(%q) = %+v, %v; want finding %s on line %q", id, item, err, want.f.ID, want.line)
		}
	}
	// Re-running replaces: same id, new summary and refs; nothing doubles.
	a2 := a
	a2.Summary, a2.Score = "rewritten", 3
	a2.Refs = a.Refs[1:]
	if err := s.WriteFindings(ctx, []evidence.Finding{a2, a2}); err != nil {
		t.Fatal(err)
	}
	got = mustFindings(t, s, evidence.FindingFilter{Kinds: []string{a.Kind}})
	if len(got) != 1 || got[0].Summary != "rewritten" || len(got[0].Refs) != 1 {
		t.Fatalf("after rewrite: %+v", got)
	}
	if _, err := s.Get(ctx, cp); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("Get(%q) after its finding stopped citing it: %v, want ErrNotFound", cp, err)
	}
	if _, err := s.Get(ctx, "finding:0000"); !errors.Is(err, evidence.ErrNotFound) {
		t.Errorf("unknown finding: %v", err)
	}
}

func TestFindingsFilter(t *testing.T) {
	s, _ := openTemp(t)
	ref := evidence.Ref{ID: "span:x/y", Line: evidence.LineTrace}
	early := testFinding("k1", "early", 1, 100, 200, ref)
	late := testFinding("k1", "late", 2, 300, 400, ref)
	open := testFinding("k2", "no window", 1, 0, 0, ref)
	if err := s.WriteFindings(context.Background(), []evidence.Finding{early, late, open}); err != nil {
		t.Fatal(err)
	}
	subjects := func(fs []evidence.Finding) []string {
		var out []string
		for _, f := range fs {
			out = append(out, f.Subject)
		}
		return out
	}
	for _, tt := range []struct {
		f    evidence.FindingFilter
		want []string
	}{
		{evidence.FindingFilter{}, []string{"late", "early", "no window"}},
		{evidence.FindingFilter{Kinds: []string{"k2"}}, []string{"no window"}},
		{evidence.FindingFilter{SinceNS: 250}, []string{"late", "no window"}},
		{evidence.FindingFilter{UntilNS: 250}, []string{"early", "no window"}},
		{evidence.FindingFilter{SinceNS: 150, UntilNS: 350, Kinds: []string{"k1"}}, []string{"late", "early"}},
		{evidence.FindingFilter{Subject: "early"}, []string{"early"}},
		{evidence.FindingFilter{Limit: 1, Offset: 1}, []string{"early"}},
	} {
		if got := subjects(mustFindings(t, s, tt.f)); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Findings(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestWriteFindingsBadInputWritesNothing(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	ref := evidence.Ref{ID: "span:x/y", Line: evidence.LineTrace}
	good := testFinding("k", "good", 1, 0, 0, ref)
	for name, mutate := range map[string]func(f *evidence.Finding){
		"nan score":      func(f *evidence.Finding) { f.Score = math.NaN() },
		"inf attr":       func(f *evidence.Finding) { f.Attrs = map[string]float64{"x": math.Inf(1)} },
		"bad id":         func(f *evidence.Finding) { f.ID = "span:x/y" },
		"no kind":        func(f *evidence.Finding) { f.Kind = "" },
		"confidence":     func(f *evidence.Finding) { f.Confidence = 1.5 },
		"ref line":       func(f *evidence.Finding) { f.Refs = []evidence.Ref{{ID: "span:x/y"}} },
		"reverse window": func(f *evidence.Finding) { f.StartNS, f.EndNS = 10, 5 },
	} {
		bad := testFinding("k", "bad", 1, 0, 0, ref)
		mutate(&bad)
		err := s.WriteFindings(ctx, []evidence.Finding{good, bad})
		if !errors.Is(err, evidence.ErrBadFinding) {
			t.Errorf("%s: %v, want ErrBadFinding", name, err)
		}
	}
	if got := mustFindings(t, s, evidence.FindingFilter{}); len(got) != 0 {
		t.Fatalf("bad input stored %d findings", len(got))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	ro, err := Open(ctx, path, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if err := ro.WriteFindings(ctx, []evidence.Finding{good}); err == nil {
		t.Error("read-only store accepted findings")
	}
}

func TestLockEdgesFilter(t *testing.T) {
	s, _ := openTemp(t)
	edges := []evidence.LockEdge{
		{Held: "A", Acquiring: "B", Service: "svc1", Node: "n1", PID: 1, Count: 2, FirstNS: 100, LastNS: 200},
		{Held: "B", Acquiring: "A", Service: "svc1", Node: "n1", PID: 1, Count: 1, FirstNS: 300, LastNS: 400},
		{Held: "C", Acquiring: "D", Service: "svc2", Node: "n2", PID: 2, Count: 5, FirstNS: 100, LastNS: 150},
	}
	mustWrite(t, s, &evidence.Batch{LockEdges: edges})
	mustWrite(t, s, &evidence.Batch{LockEdges: edges[:1]}) // counts accumulate
	ids := func(f evidence.LockEdgeFilter) []string {
		got, err := s.LockEdges(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range got {
			out = append(out, e.ID())
		}
		return out
	}
	all, err := s.LockEdges(context.Background(), evidence.LockEdgeFilter{})
	if err != nil || len(all) != 3 || all[0].Count != 4 || all[0].Service != "svc1" {
		t.Fatalf("LockEdges = %+v, %v", all, err)
	}
	for _, tt := range []struct {
		f    evidence.LockEdgeFilter
		want []string
	}{
		{evidence.LockEdgeFilter{Service: "svc1"}, []string{"edge:A>B", "edge:B>A"}},
		{evidence.LockEdgeFilter{Node: "n2"}, []string{"edge:C>D"}},
		{evidence.LockEdgeFilter{PID: 1, Limit: 1, Offset: 1}, []string{"edge:B>A"}},
		{evidence.LockEdgeFilter{SinceNS: 180}, []string{"edge:A>B", "edge:B>A"}},
		{evidence.LockEdgeFilter{UntilNS: 300}, []string{"edge:A>B", "edge:C>D"}},
	} {
		if got := ids(tt.f); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("LockEdges(%+v) = %q, want %q", tt.f, got, tt.want)
		}
	}
}

func TestSpansWithEvents(t *testing.T) {
	s, _ := openTemp(t)
	spans := makeSpans(0, 40, 1e18)
	spans[3].Events = append(spans[3].Events, evidence.SpanEvent{Index: 1, TimeNS: spans[3].StartNS + 5, Name: "second"})
	mustWrite(t, s, &evidence.Batch{Spans: spans})
	got, err := s.Spans(context.Background(), evidence.SpanFilter{WithEvents: true, Offset: 2, Limit: 5})
	if err != nil || len(got) != 5 {
		t.Fatalf("Spans = %d, %v", len(got), err)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i].Events, spans[i+2].Events) {
			t.Errorf("span %d events %+v, want %+v", i+2, got[i].Events, spans[i+2].Events)
		}
	}
	plain, err := s.Spans(context.Background(), evidence.SpanFilter{Limit: 1})
	if err != nil || len(plain) != 1 || plain[0].Events != nil {
		t.Errorf("without WithEvents: %+v, %v", plain, err)
	}
}
