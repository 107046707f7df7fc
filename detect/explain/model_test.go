package explain

import (
	"slices"
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

// A retransmit implicates both ends of its connection; the end the lossy
// connections share is at fault. In "server" db's replies are lost and
// api's requests to db are retransmitted too: every retransmit touches db
// (by its listening port), only half touch api, so the grown transit goes
// to db. In "sender" api's own egress drops: its requests to db and its
// exports to a port no traced service listens on are retransmitted, so
// api is the end they share.
func TestRetransmitsCountAtTheEndTheirConnectionsShare(t *testing.T) {
	for _, tc := range []struct {
		name  string
		ports func(i int) (local, remote int64)
		want  Op
	}{
		{"server", func(i int) (int64, int64) {
			if i%2 == 1 { // api's retransmitted request: db's port is the remote one
				return 40000 + int64(i), 5432
			}
			return 5432, 40000 + int64(i) // db's lost reply, on whatever pid ran
		}, Op{Service: "db", Name: "SELECT"}},
		{"sender", func(i int) (int64, int64) {
			if i%2 == 1 {
				return 40000 + int64(i), 4317 // api's telemetry export
			}
			return 40000 + int64(i), 5432
		}, Op{Service: "api", Name: "GET /x"}}, // query runs in api's endpoint GET /x
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, kernel := retransmitScenario(tc.ports)
			isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
			m, err := Build(Input{Spans: b.spans, IsBaseline: isBase, Kernel: kernel}, DefaultConfig())
			if err != nil {
				t.Fatal(err)
			}
			if m.Candidates[0].Service != tc.want.Service || m.Candidates[0].DeltaNS[CompNetwork] <= 0 {
				t.Fatalf("candidates %+v, want %s first by network time", m.Candidates, tc.want.Service)
			}
			// A retransmit tail seen on api's call is about the end its time went to.
			fs := []evidence.Finding{{ID: "finding:1", Kind: "retransmit_tail", Subject: "api/query"},
				{ID: "finding:2", Kind: "critical_path_component", Subject: "api/query network"},
				{ID: "finding:3", Kind: "n_plus_one", Subject: "api/query"}}
			m.Score(fs, NewIndex(b.spans, kernel, nil))
			for _, f := range fs {
				want := tc.want
				if f.Kind == "n_plus_one" {
					// Not about network time: where its subject says, named
					// by the endpoint its operation runs in.
					want = Op{Service: "api", Name: "GET /x"}
				}
				if (Op{Service: f.Service, Name: f.Operation}) != want {
					t.Errorf("%s located at %s/%s, want %s", f.Kind, f.Service, f.Operation, want)
				}
			}
		})
	}
}

// retransmitScenario is web → api → db with the api → db transit grown by
// 20 ms in the incident, pids and listening ports on the spans, and 40
// retransmits during the incident, all on api's pid, with the ports given.
func retransmitScenario(ports func(i int) (local, remote int64)) (*builder, []evidence.KernelEvent) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 30 {
		b.request(i+1, true, 5+int64(i%3), 1)
	}
	for i := range 30 {
		b.request(100+i, false, 5+int64(i%3), 20)
	}
	pids := map[string]int64{"web": 10, "api": 20, "db": 30}
	listen := map[string]int64{"web": 8080, "api": 9090, "db": 5432}
	for i := range b.spans {
		sp := &b.spans[i]
		sp.ProcessPID = pids[sp.Service]
		if sp.Kind == evidence.KindServer {
			sp.Attrs = evidence.Attrs{{Key: "server.port", Value: evidence.IntValue(listen[sp.Service])}}
		}
	}
	var kernel []evidence.KernelEvent
	for i := range 40 {
		local, remote := ports(i)
		kernel = append(kernel, evidence.KernelEvent{Type: evidence.KernelTCPRetransmit, PID: pids["api"], TimeNS: int64(100+i%30) * 1e9,
			Attrs: evidence.Attrs{{Key: "debugai.tcp.local_port", Value: evidence.IntValue(local)},
				{Key: "debugai.tcp.remote_port", Value: evidence.IntValue(remote)}}})
	}
	return b, kernel
}

// A tail change: one trace in eight waits 200 ms more in db (a
// retransmission timeout), the median unchanged. The tail test finds it.
func TestTailChangeIsSignificant(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 160 {
		b.request(i+1, true, 5+int64(i%5), 1)
	}
	for i := range 160 {
		db := 5 + int64(i%5)
		if i%8 == 3 {
			db += 200
		}
		b.request(1000+i, false, db, 1)
	}
	isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
	m, err := Build(Input{Spans: b.spans, IsBaseline: isBase}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if c := m.Service("db"); c == nil || !c.Significant || c.Explained < 0.9 {
		t.Fatalf("db: %+v", c)
	}
}

// A request hands a job to a queue and answers at once; a worker runs the
// job later (a consumer span under the producer span, ending after the
// request). The job slows by 40 ms in the incident while the request does
// not change: the job is a unit of work of its own, so the worker's
// operation explains the change. A span that starts after its parent has
// ended is a handed-off job too (the "late" case, no span kinds).
func TestDetachedJobsAreUnitsOfWork(t *testing.T) {
	for _, kinds := range []bool{true, false} {
		b := &builder{base: map[evidence.TraceID]bool{}}
		ms := int64(1e6)
		for i := range 60 {
			trace, base := i+1, i < 30
			if base {
				b.base[evidence.TraceID{byte(trace >> 8), byte(trace)}] = true
			}
			work := 5 + int64(i%3)
			if !base {
				work += 40
			}
			t0 := int64(trace) * 1e9
			prod, cons := evidence.KindProducer, evidence.KindConsumer
			jobStart := t0 + 2*ms // while the request still runs
			if !kinds {
				prod, cons, jobStart = evidence.KindInternal, evidence.KindInternal, t0+5*ms
			}
			b.add(trace, 1, 0, "web", "POST /order", evidence.KindServer, t0, t0+4*ms)
			b.add(trace, 2, 1, "web", "enqueue", prod, t0+ms, t0+ms+ms/2)
			b.add(trace, 3, 2, "worker", "fulfil", cons, jobStart, jobStart+work*ms)
			b.add(trace, 4, 3, "worker", "write", evidence.KindInternal, jobStart+ms, jobStart+(work-1)*ms)
		}
		isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
		m, err := Build(Input{Spans: b.spans, IsBaseline: isBase}, DefaultConfig())
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Candidates) == 0 || m.Candidates[0].Service != "worker" || !m.Candidates[0].Significant || m.Candidates[0].Explained < 0.9 {
			t.Fatalf("kinds %v: candidates %+v, want the worker first, significant, explaining nearly all", kinds, m.Candidates)
		}
		if m.Traces != [2]int{60, 60} {
			t.Errorf("kinds %v: units of work %v, want 30 requests and 30 jobs per window", kinds, m.Traces)
		}
	}
}

func TestUnits(t *testing.T) {
	sp := func(id, parent byte, kind evidence.SpanKind, start, end int64) evidence.Span {
		s := evidence.Span{SpanID: evidence.SpanID{id}, Kind: kind, StartNS: start, EndNS: end}
		if parent != 0 {
			s.ParentSpanID = evidence.SpanID{parent}
		}
		return s
	}
	spans := []evidence.Span{
		sp(1, 0, evidence.KindServer, 0, 10),
		sp(2, 1, evidence.KindProducer, 1, 2),
		sp(3, 2, evidence.KindConsumer, 3, 30),  // job A under the producer
		sp(4, 3, evidence.KindInternal, 4, 5),   // in job A
		sp(5, 3, evidence.KindInternal, 31, 40), // starts after job A ended: job B
		sp(6, 1, evidence.KindClient, 2, 9),     // the request's own call
		sp(7, 8, evidence.KindInternal, 0, 1),   // a parent cycle: the request's
		sp(8, 7, evidence.KindInternal, 0, 1),
	}
	got := units(spans, []int{0, 1, 2, 3, 4, 5, 6, 7})
	want := []unit{{idx: []int{0, 1, 5, 6, 7}}, {idx: []int{2, 3}, job: true}, {idx: []int{4}, job: true}}
	if len(got) != len(want) {
		t.Fatalf("units %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].job != want[i].job || !slices.Equal(got[i].idx, want[i].idx) {
			t.Errorf("unit %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// db's own time grows while its transit shrinks. CPU starvation there
// stretches its own time, so it covers the change; a retransmit tail
// there describes network time that shrank, so it is pre-existing, and so
// is a lock convoy (no lock or I/O time; the transit into db it would
// stretch shrank); an I/O stall with no I/O time in either window cannot
// be measured and is neither.
func TestMechanismShares(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 30 {
		b.request(i+1, true, 5+int64(i%3), 2)
	}
	for i := range 30 {
		b.request(100+i, false, 50+int64(i%3), 1)
	}
	isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
	m, err := Build(Input{Spans: b.spans, IsBaseline: isBase}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fs := []evidence.Finding{{ID: "finding:1", Kind: "starvation", Subject: "db/SELECT"},
		{ID: "finding:2", Kind: "retransmit_tail", Subject: "db/SELECT"},
		{ID: "finding:3", Kind: "lock_convoy", Subject: "db/SELECT"},
		{ID: "finding:4", Kind: "io_latency", Subject: "db/SELECT"}}
	m.Score(fs, NewIndex(b.spans, nil, nil))
	got := map[string][2]float64{}
	for _, f := range fs {
		got[f.Kind] = [2]float64{f.Attrs[AttrMechanismShare], f.Attrs[evidence.AttrPreExisting]}
	}
	if s := got["starvation"]; s[0] < 0.9 || s[1] != 0 {
		t.Errorf("starvation share %.2f pre-existing %v, want nearly all of db's change, not pre-existing", s[0], s[1])
	}
	if s := got["retransmit_tail"]; s[0] != 0 || s[1] != 1 {
		t.Errorf("retransmit_tail share %.2f pre-existing %v, want 0 and pre-existing", s[0], s[1])
	}
	if s := got["io_latency"]; s[0] != 0.5 || s[1] != 0 {
		t.Errorf("io_latency share %.2f pre-existing %v, want 0.5 (not measurable) and not pre-existing", s[0], s[1])
	}
	if s := got["lock_convoy"]; s[0] != 0 || s[1] != 1 {
		t.Errorf("lock_convoy share %.2f pre-existing %v, want 0 and pre-existing (the transit into db it would stretch shrank)", s[0], s[1])
	}
}

// api's calls to db wait longer (a client-side pool), while db's other
// caller, cron, sees no change: the grown transit is api's side, since
// every call api makes grew and only one of db's callers did.
func TestTransitGoesToTheSideThatGrewConsistently(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	cron := func(trace int, base bool) {
		t0, ms := int64(trace)*1e9+500e6, int64(1e6)
		if base {
			b.base[evidence.TraceID{byte(trace >> 8), byte(trace)}] = true
		}
		b.add(trace, 11, 0, "cron", "tick", evidence.KindServer, t0, t0+8*ms)
		b.add(trace, 12, 11, "cron", "query", evidence.KindClient, t0+ms, t0+7*ms)
		b.add(trace, 13, 12, "db", "SELECT", evidence.KindServer, t0+2*ms, t0+6*ms)
	}
	for i := range 30 {
		b.request(i+1, true, 5+int64(i%3), 1)
		cron(1000+i, true)
	}
	for i := range 30 {
		b.request(100+i, false, 5+int64(i%3), 8)
		cron(2000+i, false)
	}
	isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
	m, err := Build(Input{Spans: b.spans, IsBaseline: isBase}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if m.Candidates[0].Service != "api" || m.Candidates[0].DeltaNS[CompNetwork] <= 0 {
		t.Fatalf("candidates %+v, want api first by network time", m.Candidates)
	}
}
