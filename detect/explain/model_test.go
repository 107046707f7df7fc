package explain

import (
	"testing"

	"github.com/debugai/debugai/detect/shape"
	"github.com/debugai/debugai/evidence"
)

type builder struct {
	spans []evidence.Span
	base  map[evidence.TraceID]bool
}

func (b *builder) add(trace, id, parent int, svc, name string, kind evidence.SpanKind, start, end int64) {
	sp := evidence.Span{TraceID: evidence.TraceID{byte(trace >> 8), byte(trace)}, SpanID: evidence.SpanID{byte(id)},
		Service: svc, Name: name, Kind: kind, StartNS: start, EndNS: end}
	if parent > 0 {
		sp.ParentSpanID = evidence.SpanID{byte(parent)}
	}
	b.spans = append(b.spans, sp)
}

// request: web GET / (self 2 ms) calls api (client span; transit 1 ms each
// way) whose server span (self 3 ms) calls db (client, transit 1 ms; db
// server self dbMS).
func (b *builder) request(trace int, base bool, dbMS, transitMS int64) {
	t0 := int64(trace) * 1e9
	ms := int64(1e6)
	if base {
		b.base[evidence.TraceID{byte(trace >> 8), byte(trace)}] = true
	}
	api := 3 + 2*transitMS + dbMS + 2*ms/ms
	b.add(trace, 1, 0, "web", "GET /", evidence.KindServer, t0, t0+(2+2+api)*ms)
	b.add(trace, 2, 1, "web", "call api", evidence.KindClient, t0+ms, t0+(1+2+api)*ms)
	b.add(trace, 3, 2, "api", "GET /x", evidence.KindServer, t0+2*ms, t0+(2+api)*ms)
	b.add(trace, 4, 3, "api", "query", evidence.KindClient, t0+3*ms, t0+(3+2*transitMS+dbMS)*ms)
	b.add(trace, 5, 4, "db", "SELECT", evidence.KindServer, t0+(3+transitMS)*ms, t0+(3+transitMS+dbMS)*ms)
}

func build(t *testing.T, inc func(b *builder, i int)) *Model {
	t.Helper()
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 30 {
		b.request(i+1, true, 5+int64(i%3), 1)
	}
	for i := range 30 {
		inc(b, 100+i)
	}
	isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
	sh, _, err := shape.Analyze(shape.Input{Spans: b.spans, IsBaseline: isBase}, shape.DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Build(Input{Spans: b.spans, IsBaseline: isBase, Shape: &sh}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// A slow callee: every caller above it looks slow, but exclusive
// critical-path time puts the change on the callee.
func TestSlowCalleeExplainsTheChange(t *testing.T) {
	m := build(t, func(b *builder, i int) { b.request(i, false, 50+int64(i%3), 1) })
	if !m.Baseline || len(m.Candidates) == 0 || m.Candidates[0].Service != "db" {
		t.Fatalf("candidates %+v, want db first", m.Candidates)
	}
	if c := m.Candidates[0]; c.Explained < 0.95 || !c.Significant || c.Ops[0].Op.Name != "SELECT" {
		t.Errorf("db: %+v", c)
	}
	if web := m.Service("web"); web != nil && web.Explained > 0.02 {
		t.Errorf("web explains %.2f of a change it only inherited", web.Explained)
	}
	// Deltas add up to the change of the mean critical path.
	var sum float64
	for _, c := range m.Candidates {
		sum += c.Delta()
	}
	if d := m.MeanPathNS[1] - m.MeanPathNS[0]; sum < d*0.999 || sum > d*1.001 {
		t.Errorf("deltas sum to %.0f ns, mean path changed by %.0f", sum, d)
	}
}

// A slower network path into db: the grown transit goes to the service
// the grown transits share (db, the callee, on a tie).
func TestTransitGoesToTheSharedService(t *testing.T) {
	m := build(t, func(b *builder, i int) { b.request(i, false, 5+int64(i%3), 20) })
	if m.Candidates[0].Service != "db" || m.Candidates[0].DeltaNS[CompNetwork] <= 0 {
		t.Fatalf("candidates %+v, want db first by network time", m.Candidates)
	}
}

// No change: nothing is explained, every finding is pre-existing.
func TestNoChangeExplainsNothing(t *testing.T) {
	m := build(t, func(b *builder, i int) { b.request(i, false, 5+int64(i%3), 1) })
	for _, c := range m.Candidates {
		if c.Explained > 0 {
			t.Errorf("%s explains %.2f of no change", c.Service, c.Explained)
		}
	}
	fs := []evidence.Finding{{ID: "finding:1", Kind: "n_plus_one", Subject: "api GET /x"}}
	m.Score(fs, NewIndex(nil, nil, nil))
	if fs[0].Score != 0 {
		t.Errorf("score %v", fs[0].Score)
	}
}

func TestWithoutBaselineSharesOfTheIncident(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 10 {
		b.request(i+1, false, 50, 1)
	}
	m, err := Build(Input{Spans: b.spans}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if m.Baseline || m.Candidates[0].Service != "db" || m.Candidates[0].Explained < 0.7 {
		t.Fatalf("%+v", m.Candidates)
	}
	if err := (Config{}).Validate(); err == nil {
		t.Error("zero config accepted")
	}
}
