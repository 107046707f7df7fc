package correlate

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// sp builds a span with id n on host "h", process 10, thread tid.
func sp(n byte, tid, start, end int64) evidence.Span {
	return evidence.Span{
		TraceID: evidence.TraceID{0xaa, n}, SpanID: evidence.SpanID{0xbb, n},
		Host: "h", ProcessPID: 10, ThreadID: tid, StartNS: start, EndNS: end,
	}
}

// kev builds an event on node "h", process 10, thread tid.
func kev(tid, t, dur int64) evidence.KernelEvent {
	return evidence.KernelEvent{Node: "h", Stream: "s", Type: evidence.KernelFutexWait,
		PID: 10, TID: tid, TimeNS: t, DurationNS: dur}
}

func stamp(e evidence.KernelEvent, s evidence.Span) evidence.KernelEvent {
	e.TraceID, e.SpanID = s.TraceID, s.SpanID
	return e
}

func TestJoinTable(t *testing.T) {
	nested := []evidence.Span{sp(0, 1, 0, 100), sp(1, 1, 10, 50), sp(2, 1, 20, 30), sp(3, 2, 0, 100)}
	type want struct {
		span   int32
		method Method
	}
	none := want{-1, MethodNone}
	ov := func(i int32) want { return want{i, MethodOverlap} }
	cases := []struct {
		name   string
		spans  []evidence.Span
		events []evidence.KernelEvent
		cfg    func(*Config)
		want   []want
	}{
		{"nesting: innermost wins", nested,
			[]evidence.KernelEvent{kev(1, 5, 0), kev(1, 25, 0), kev(1, 40, 0), kev(1, 60, 0), kev(2, 25, 0)},
			nil, []want{ov(0), ov(2), ov(1), ov(0), ov(3)}},
		{"boundaries are inclusive", nested,
			[]evidence.KernelEvent{kev(1, 0, 0), kev(1, 10, 0), kev(1, 30, 0), kev(1, 31, 0), kev(1, 50, 0), kev(1, 51, 0), kev(1, 100, 0), kev(1, 101, 0), kev(1, -1, 0)},
			nil, []want{ov(0), ov(1), ov(2), ov(1), ov(1), ov(0), ov(0), none, none}},
		{"back-to-back: the shared nanosecond goes to the later span",
			[]evidence.Span{sp(0, 1, 0, 10), sp(1, 1, 10, 20)},
			[]evidence.KernelEvent{kev(1, 9, 0), kev(1, 10, 0), kev(1, 11, 0)},
			nil, []want{ov(0), ov(1), ov(1)}},
		{"overlapping siblings: the later start wins while it lasts",
			[]evidence.Span{sp(0, 1, 0, 100), sp(1, 1, 10, 20), sp(2, 1, 15, 50)},
			[]evidence.KernelEvent{kev(1, 12, 0), kev(1, 18, 0), kev(1, 30, 0), kev(1, 60, 0)},
			nil, []want{ov(1), ov(2), ov(2), ov(0)}},
		{"overlapping siblings: the earlier one resumes",
			[]evidence.Span{sp(0, 1, 0, 40), sp(1, 1, 10, 20)},
			[]evidence.KernelEvent{kev(1, 30, 0)},
			nil, []want{ov(0)}},
		{"equal starts: the shorter span, then the later input",
			[]evidence.Span{sp(0, 1, 0, 10), sp(1, 1, 0, 5), sp(2, 1, 0, 5)},
			[]evidence.KernelEvent{kev(1, 3, 0), kev(1, 7, 0)},
			nil, []want{ov(2), ov(0)}},
		{"events with no span", nested,
			[]evidence.KernelEvent{kev(3, 25, 0), kev(0, 25, 0), kev(1, 200, 0)},
			nil, []want{none, none, none}},
		{"stamped wins over overlap", nested,
			[]evidence.KernelEvent{stamp(kev(1, 25, 0), nested[0]), stamp(kev(7, 25, 0), nested[3])},
			nil, []want{{0, MethodStamped}, {3, MethodStamped}}},
		{"stamp of a missing span falls back to overlap", nested,
			[]evidence.KernelEvent{stamp(kev(1, 25, 0), sp(9, 1, 0, 0))},
			nil, []want{ov(2)}},
		{"ignore stamps", nested,
			[]evidence.KernelEvent{stamp(kev(1, 25, 0), nested[0])},
			func(c *Config) { c.IgnoreStamps = true }, []want{ov(2)}},
		{"anchor mid (default) of a wait", nested,
			[]evidence.KernelEvent{kev(1, 55, 30)}, // wait [25, 55], mid 40
			nil, []want{ov(1)}},
		{"anchor start", nested,
			[]evidence.KernelEvent{kev(1, 55, 30)},
			func(c *Config) { c.Anchor = AnchorStart }, []want{ov(2)}},
		{"anchor end", nested,
			[]evidence.KernelEvent{kev(1, 55, 30)},
			func(c *Config) { c.Anchor = AnchorEnd }, []want{ov(0)}},
		{"node offset", nested,
			[]evidence.KernelEvent{func() evidence.KernelEvent { e := kev(1, 1025, 0); e.Node = "n2"; return e }()},
			func(c *Config) {
				c.NodeOffsetNS = map[string]int64{"n2": -1000}
				c.HostNodes = map[string]string{"h": "n2"}
			},
			[]want{ov(2)}},
		{"other node", nested,
			[]evidence.KernelEvent{func() evidence.KernelEvent { e := kev(1, 25, 0); e.Node = "n2"; return e }()},
			nil, []want{none}},
		{"other node, node matching off", nested,
			[]evidence.KernelEvent{func() evidence.KernelEvent { e := kev(1, 25, 0); e.Node = "n2"; return e }()},
			func(c *Config) { c.MatchNode = false }, []want{ov(2)}},
		{"spans without thread id: no join by default",
			[]evidence.Span{sp(0, 0, 0, 100), sp(1, 0, 10, 20)},
			[]evidence.KernelEvent{kev(1, 15, 0), kev(1, 50, 0)},
			nil, []want{none, none}},
		{"spans without thread id: pid fallback",
			[]evidence.Span{sp(0, 0, 0, 100), sp(1, 0, 10, 20), sp(2, 1, 40, 60)},
			[]evidence.KernelEvent{kev(1, 15, 0), kev(1, 50, 0), kev(0, 70, 0), kev(2, 15, 0)},
			func(c *Config) { c.PIDFallback = true },
			[]want{{1, MethodPID}, ov(2), {0, MethodPID}, {1, MethodPID}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.ClockErrorNS = 0
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			as, st, err := Join(tc.spans, tc.events, cfg)
			if err != nil {
				t.Fatal(err)
			}
			if len(as) != len(tc.events) {
				t.Fatalf("%d assignments for %d events", len(as), len(tc.events))
			}
			for i, a := range as {
				if a.EventIndex != int32(i) || a.SpanIndex != tc.want[i].span || a.Method != tc.want[i].method {
					t.Errorf("event %d: got span %d by %v, want span %d by %v", i, a.SpanIndex, a.Method, tc.want[i].span, tc.want[i].method)
				}
			}
			if n := st.Stamped + st.Overlap + st.PIDOnly + st.Unassigned; n != len(tc.events) {
				t.Errorf("stats partition %d events, want %d: %+v", n, len(tc.events), st)
			}
		})
	}
}

func TestJoinStatsAndConfidence(t *testing.T) {
	spans := []evidence.Span{sp(0, 1, 0, 1000), sp(1, 1, 100, 200), sp(2, 0, 0, 10), {ProcessPID: 10, ThreadID: 1}}
	spans[3].Host = ""
	missing := sp(9, 1, 0, 0)
	events := []evidence.KernelEvent{
		kev(1, 150, 0),                   // overlap, far from edges
		kev(1, 102, 0),                   // overlap, 2 ns after a child start: near edge
		stamp(kev(1, 150, 0), spans[0]),  // stamped
		stamp(kev(1, 5000, 0), spans[0]), // stamped, outside its span
		stamp(kev(1, 150, 0), missing),   // unresolved stamp -> overlap
		kev(0, 150, 0),                   // no thread
		kev(1, 5000, 0),                  // no span
	}
	cfg := DefaultConfig()
	cfg.ClockErrorNS = 10
	as, st, err := Join(spans, events, cfg)
	if err != nil {
		t.Fatal(err)
	}
	wantConf := []float64{ConfidenceOverlap, ConfidenceOverlapNearEdge, 1, 1, ConfidenceOverlap, 0, 0}
	for i, a := range as {
		if a.Confidence() != wantConf[i] {
			t.Errorf("event %d: confidence %v, want %v (%+v)", i, a.Confidence(), wantConf[i], a)
		}
	}
	want := Stats{Events: 7, Spans: 4, Stamped: 2, Overlap: 3, Unassigned: 2, NearEdge: 1,
		StampUnresolved: 1, StampOutside: 1, EventsNoThread: 1, SpansNoThread: 1, SpansNoNode: 1, Threads: 1}
	if st != want {
		t.Errorf("stats\n got %+v\nwant %+v", st, want)
	}
}

func TestJoinBadIDsAndConfig(t *testing.T) {
	spans := []evidence.Span{sp(0, MaxID+1, 0, 10), sp(1, 1, 0, 10)}
	events := []evidence.KernelEvent{kev(-3, 5, 0), kev(1, 5, 0)}
	_, st, err := Join(spans, events, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if st.BadIDs != 2 || st.Overlap != 1 {
		t.Errorf("stats %+v: want 2 bad ids, 1 overlap", st)
	}
	bad := DefaultConfig()
	bad.ClockErrorNS = -1
	if _, _, err := Join(spans, events, bad); !errors.Is(err, ErrConfig) {
		t.Errorf("negative clock error: got %v, want ErrConfig", err)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(c *Config) {}, ""},
		{func(c *Config) { c.ClockErrorNS = -1 }, "invalid correlate config: clock error -1 ns: must be >= 0"},
		{func(c *Config) { c.Anchor = 9 }, "invalid correlate config: anchor 9: must be mid, start or end"},
		{func(c *Config) { c.MaxOverlayRefs = 0 }, "invalid correlate config: max overlay refs 0: must be in [1, 1000]"},
		{func(c *Config) { c.HostNodes = map[string]string{"": "n"} }, "invalid correlate config: host nodes: empty host name"},
	} {
		c := DefaultConfig()
		tc.mut(&c)
		err := c.Validate()
		if got := ""; err != nil {
			got = err.Error()
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		} else if tc.want != "" {
			t.Errorf("got nil, want %q", tc.want)
		}
	}
}

// bruteOwner is the package's definition of the innermost span, computed
// directly: of the spans on the key covering t, the latest start, then the
// shortest, then the latest in input order.
func bruteOwner(spans []evidence.Span, tid, t int64) int32 {
	best := int32(-1)
	for i := range spans {
		s := &spans[i]
		end := max(s.EndNS, s.StartNS)
		if s.ThreadID != tid || t < s.StartNS || t > end {
			continue
		}
		if best < 0 {
			best = int32(i)
			continue
		}
		b := &spans[best]
		bend := max(b.EndNS, b.StartNS)
		if s.StartNS > b.StartNS || (s.StartNS == b.StartNS && (end < bend || end == bend)) {
			best = int32(i)
		}
	}
	return best
}

// TestJoinMatchesDefinition compares Join with bruteOwner on random spans
// (nested, overlapping, zero-length, reversed) and events in random and in
// sorted order, including the NearEdge flag.
func TestJoinMatchesDefinition(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := range 300 {
		var spans []evidence.Span
		for i := range 1 + r.IntN(30) {
			s := int64(r.IntN(200))
			e := s + int64(r.IntN(80)) - 5 // some end before they start
			spans = append(spans, sp(byte(i), 1+int64(r.IntN(3)), s, e))
		}
		var events []evidence.KernelEvent
		for range 200 {
			events = append(events, kev(1+int64(r.IntN(3)), int64(r.IntN(300))-10, 0))
		}
		if round%2 == 0 {
			sortEventsByTime(events)
		}
		cfg := DefaultConfig()
		cfg.ClockErrorNS = int64(r.IntN(4))
		as, _, err := Join(spans, events, cfg)
		if err != nil {
			t.Fatal(err)
		}
		for i, a := range as {
			e := &events[i]
			want := bruteOwner(spans, e.TID, e.TimeNS)
			if a.SpanIndex != want {
				t.Fatalf("round %d event %d (tid %d t %d): got %d, want %d; spans %+v", round, i, e.TID, e.TimeNS, a.SpanIndex, want, spans)
			}
			near := false
			for d := -cfg.ClockErrorNS; d <= cfg.ClockErrorNS; d++ {
				near = near || bruteOwner(spans, e.TID, e.TimeNS+d) != want
			}
			if want >= 0 && a.NearEdge != near {
				t.Fatalf("round %d event %d: near edge %v, want %v", round, i, a.NearEdge, near)
			}
		}
	}
}

func sortEventsByTime(es []evidence.KernelEvent) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].TimeNS < es[j-1].TimeNS; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}
