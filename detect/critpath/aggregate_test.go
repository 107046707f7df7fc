package critpath

import (
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// traceOf builds a trace: root "api" [0,total] calling "db" for dbNS then
// "cache" for cacheNS, sequentially.
func traceOf(id byte, total, dbNS, cacheNS int64) []evidence.Span {
	tid := evidence.TraceID{0x10, id}
	mk := func(sid, parent byte, service, name string, s, e int64) evidence.Span {
		sp := evidence.Span{TraceID: tid, SpanID: evidence.SpanID{id, sid}, Service: service, Name: name, StartNS: s, EndNS: e}
		if parent != 0 {
			sp.ParentSpanID = evidence.SpanID{id, parent}
		}
		return sp
	}
	return []evidence.Span{
		mk(1, 0, "api", "GET /x", 0, total),
		mk(2, 1, "db", "SELECT", 0, dbNS),
		mk(3, 1, "cache", "GET", dbNS, dbNS+cacheNS),
	}
}

func TestAggregator(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Exemplars = 2
	a, err := NewAggregator(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// db: 60, 70, 80, 90 of 100 each; cache 10 each; api the rest.
	for i, db := range []int64{60, 70, 80, 90} {
		if err := a.AddTrace(traceOf(byte(i+1), 100, db, 10)); err != nil {
			t.Fatal(err)
		}
	}
	r := a.Report()
	if r.Traces != 4 || r.TotalNS != 400 {
		t.Fatalf("traces %d total %d, want 4, 400", r.Traces, r.TotalNS)
	}
	var got []string
	for _, o := range r.Ops {
		got = append(got, o.Subject())
	}
	if want := []string{"db/SELECT", "api/GET /x", "cache/GET"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("ops %v, want %v", got, want)
	}
	db := r.Ops[0]
	if db.SelfNS != 300 || db.Share != 0.75 || db.Traces != 4 || db.Spans != 4 || db.P50NS != 70 || db.P95NS != 90 {
		t.Errorf("db share %+v", db)
	}
	if len(db.Exemplars) != 2 || db.Exemplars[0].SelfNS != 90 || db.Exemplars[1].SelfNS != 80 ||
		db.Exemplars[0].ID != evidence.SpanEvidenceID(evidence.TraceID{0x10, 4}, evidence.SpanID{4, 2}) {
		t.Errorf("db exemplars %+v", db.Exemplars)
	}
	if api := r.Ops[1]; api.SelfNS != 400-300-40 || api.Spans != 3 || api.Traces != 3 { // no self time in trace 4
		t.Errorf("api share %+v", api)
	}
	var sum float64
	for _, o := range r.Ops {
		sum += o.Share
	}
	if sum < 0.999999 || sum > 1.000001 {
		t.Errorf("shares sum to %v", sum)
	}

	fs := a.Findings()
	if len(fs) != 1 {
		t.Fatalf("findings %+v, want one", fs)
	}
	f := fs[0]
	if f.Kind != KindDominant || f.Subject != "db/SELECT" || f.Score != 0.75 || f.Confidence != 1 ||
		len(f.Refs) != 2 || f.Refs[0].Line != evidence.LineTrace || f.Attrs["p95_ns"] != 90 {
		t.Errorf("finding %+v", f)
	}
	if f.ID != evidence.NewFindingID(f.Kind, f.Subject, f.Refs) || !strings.HasPrefix(f.ID, "finding:") {
		t.Errorf("finding id %s", f.ID)
	}
	if again := a.Findings(); again[0].ID != f.ID {
		t.Errorf("finding id not stable: %s then %s", f.ID, again[0].ID)
	}
}

func TestFindingThresholds(t *testing.T) {
	spans := append(traceOf(1, 100, 60, 10), traceOf(2, 100, 60, 10)...)
	tests := []struct {
		name string
		cfg  func(*Config)
		want int
	}{
		{"too few traces for the default", func(*Config) {}, 0},
		{"enough traces", func(c *Config) { c.MinTraces = 2 }, 1},
		{"share below threshold", func(c *Config) { c.MinTraces = 1; c.DominantShare = 0.7 }, 0},
		{"low threshold: two dominant", func(c *Config) { c.MinTraces = 1; c.DominantShare = 0.2 }, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			_, fs, err := Analyze(spans, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != tt.want {
				t.Fatalf("%d findings, want %d: %+v", len(fs), tt.want, fs)
			}
		})
	}
}

// AddSpans over interleaved traces must equal AddTrace per trace, as long
// as each trace's spans keep their relative order (the first of a repeated
// span id wins).
func TestAddSpansGroupsTraces(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var traces [][]evidence.Span
	perTrace, _ := NewAggregator(DefaultConfig())
	for i := range 300 {
		tr := randomTrace(r, 1+r.IntN(20))
		for j := range tr {
			tr[j].TraceID = evidence.TraceID{byte(i), byte(i >> 8), 0xee}
			tr[j].Service = []string{"a", "b", "c"}[r.IntN(3)]
			tr[j].Name = []string{"x", "y"}[r.IntN(2)]
		}
		if err := perTrace.AddTrace(tr); err != nil {
			t.Fatal(err)
		}
		traces = append(traces, tr)
	}
	// A rootless trace is an error for AddTrace, skipped and counted by
	// AddSpans.
	cycle := []evidence.Span{span(1, 2, "A", 0, 100), span(2, 1, "B", 0, 100)}
	if err := perTrace.AddTrace(cycle); !errors.Is(err, ErrNoRoot) {
		t.Fatalf("cycle: error %v, want ErrNoRoot", err)
	}
	traces = append(traces, cycle)

	var all []evidence.Span // interleave, keeping each trace's order
	for len(traces) > 0 {
		k := r.IntN(len(traces))
		all = append(all, traces[k][0])
		if traces[k] = traces[k][1:]; len(traces[k]) == 0 {
			traces = append(traces[:k], traces[k+1:]...)
		}
	}
	grouped, _ := NewAggregator(DefaultConfig())
	grouped.AddSpans(all)
	want, got := perTrace.Report(), grouped.Report()
	if got.SkippedTraces != 1 {
		t.Errorf("skipped %d, want 1", got.SkippedTraces)
	}
	if got.DuplicateSpans == 0 || got.DetachedRoots == 0 {
		t.Errorf("random traces should hold duplicates and orphans: %+v", got)
	}
	want.SkippedTraces = 1
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("grouped report %+v\nper-trace report %+v", got, want)
	}
}

func TestAddSpansSameAsAddTrace(t *testing.T) {
	var all []evidence.Span
	perTrace, _ := NewAggregator(DefaultConfig())
	for i := range 50 {
		tr := traceOf(byte(i), 100+int64(i), int64(i), 7)
		if err := perTrace.AddTrace(tr); err != nil {
			t.Fatal(err)
		}
		all = append(all, tr...)
	}
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	grouped, _ := NewAggregator(DefaultConfig())
	grouped.AddSpans(all)
	if want, got := perTrace.Report(), grouped.Report(); !reflect.DeepEqual(got, want) {
		t.Fatalf("grouped %+v\nper trace %+v", got, want)
	}
}

func TestNearestRank(t *testing.T) {
	v := make([]int64, 20)
	for i := range v {
		v[i] = int64(i + 1)
	}
	for _, c := range []struct {
		vals []int64
		p    float64
		want int64
	}{
		{nil, 0.5, 0}, {[]int64{7}, 0.95, 7}, {v, 0.5, 10}, {v, 0.95, 19}, {v[:3], 0.5, 2}, {v[:3], 0.95, 3},
	} {
		if got := nearestRank(c.vals, c.p); got != c.want {
			t.Errorf("nearestRank(%v, %v) = %d, want %d", c.vals, c.p, got, c.want)
		}
	}
}

func TestFindingIDIgnoresRefOrder(t *testing.T) {
	a := []evidence.Ref{{ID: "span:1/1", Line: evidence.LineTrace}, {ID: "span:1/2", Line: evidence.LineTrace}}
	b := []evidence.Ref{a[1], a[0], a[1]}
	if x, y := evidence.NewFindingID(KindDominant, "s/o", a), evidence.NewFindingID(KindDominant, "s/o", b); x != y {
		t.Errorf("ids differ with ref order: %s %s", x, y)
	}
	if x, y := evidence.NewFindingID(KindDominant, "s/o", a), evidence.NewFindingID(KindDominant, "s/p", a); x == y {
		t.Errorf("ids equal for different subjects: %s", x)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  func(*Config)
		want string
	}{
		{"default", func(*Config) {}, ""},
		{"zero share", func(c *Config) { c.DominantShare = 0 }, "dominant share 0: must be in (0, 1]"},
		{"share above 1", func(c *Config) { c.DominantShare = 1.5 }, "dominant share 1.5: must be in (0, 1]"},
		{"zero min traces", func(c *Config) { c.MinTraces = 0 }, "min traces 0: must be at least 1"},
		{"no exemplars", func(c *Config) { c.Exemplars = 0 }, "exemplars 0: must be in [1, 100]"},
		{"too many exemplars", func(c *Config) { c.Exemplars = 101 }, "exemplars 101: must be in [1, 100]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			tt.cfg(&cfg)
			err := cfg.Validate()
			if got := ""; err != nil {
				got = err.Error()
				if got != tt.want {
					t.Fatalf("error %q, want %q", got, tt.want)
				}
			} else if tt.want != "" {
				t.Fatalf("no error, want %q", tt.want)
			}
			if _, err := NewAggregator(cfg); (err != nil) != (tt.want != "") {
				t.Fatalf("NewAggregator error %v", err)
			}
		})
	}
}

// Two trace ids that fell into one hash group (a collision AddSpans detects
// through ErrMixedTraces) are split back into two traces.
func TestAddMixedSplitsCollidingTraces(t *testing.T) {
	x, y := traceOf(1, 100, 60, 10), traceOf(2, 200, 50, 20)
	all := []evidence.Span{y[2], x[0], y[0], x[1], x[2], y[1]}
	want, _ := NewAggregator(DefaultConfig())
	for _, tr := range [][]evidence.Span{x, y} {
		if err := want.AddTrace(tr); err != nil {
			t.Fatal(err)
		}
	}
	got, _ := NewAggregator(DefaultConfig())
	if err := got.add(all, []int32{0, 1, 2, 3, 4, 5}, true); !errors.Is(err, ErrMixedTraces) {
		t.Fatalf("add: error %v, want ErrMixedTraces", err)
	}
	got.addMixed(all, []int32{0, 1, 2, 3, 4, 5})
	if w, g := want.Report(), got.Report(); !reflect.DeepEqual(g, w) {
		t.Fatalf("split %+v\nwant %+v", g, w)
	}
}

func TestGroupByTrace(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	var g grouper
	for _, n := range []int{0, 1, 5, 100, 5000} {
		spans := make([]evidence.Span, n)
		for i := range spans {
			spans[i].TraceID = evidence.TraceID{15: byte(r.IntN(1 + n/3))} // 64-bit style ids, many repeats
		}
		out := g.group(spans)
		if len(out) != n {
			t.Fatalf("n=%d: %d positions", n, len(out))
		}
		seen := map[int32]bool{}
		for i, e := range out {
			seen[e.pos] = true
			if e.key != traceHash(&spans[e.pos].TraceID) {
				t.Fatalf("n=%d: key of %d is wrong", n, e.pos)
			}
			if i > 0 && cmpTraceKey(out[i-1], e) >= 0 {
				t.Fatalf("n=%d: not ordered by (key, pos) at %d", n, i)
			}
		}
		if len(seen) != n {
			t.Fatalf("n=%d: positions repeat", n)
		}
	}
}
