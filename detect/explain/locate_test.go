package explain

import (
	"testing"

	"github.com/debugai/debugai/evidence"
)

// Every operation maps to the endpoint it runs in: the outermost span of
// its service and unit of work. A job handed off through a queue, or
// started after its parent ended, is an endpoint of its own; a parent
// cycle does not hang the walk.
func TestEntryOperations(t *testing.T) {
	sp := func(id, parent byte, svc, name string, kind evidence.SpanKind, start, end int64) evidence.Span {
		s := evidence.Span{TraceID: evidence.TraceID{1}, SpanID: evidence.SpanID{id}, Service: svc, Name: name,
			Kind: kind, StartNS: start, EndNS: end}
		if parent != 0 {
			s.ParentSpanID = evidence.SpanID{parent}
		}
		return s
	}
	spans := []evidence.Span{
		sp(1, 0, "api", "POST /orders", evidence.KindServer, 0, 100),
		sp(2, 1, "api", "pool.acquire", evidence.KindInternal, 1, 10),
		sp(3, 1, "api", "enqueue", evidence.KindProducer, 10, 12),
		sp(4, 3, "api", "fulfil", evidence.KindConsumer, 20, 300), // a job through the queue
		sp(5, 4, "api", "commit", evidence.KindInternal, 30, 40),
		sp(6, 1, "api", "call db", evidence.KindClient, 12, 50),
		sp(7, 6, "db", "SELECT", evidence.KindServer, 13, 49),     // another service: its own endpoint
		sp(8, 1, "api", "audit", evidence.KindInternal, 150, 160), // starts after its parent ended
		sp(9, 10, "api", "loop", evidence.KindInternal, 0, 1),
		sp(10, 9, "api", "loop2", evidence.KindInternal, 0, 1),
	}
	got := EntryOperations(spans)
	o := func(svc, name string) Op { return Op{Service: svc, Name: name} }
	for op, want := range map[Op]string{
		o("api", "POST /orders"): "POST /orders", o("api", "pool.acquire"): "POST /orders", o("api", "enqueue"): "POST /orders",
		o("api", "fulfil"): "fulfil", o("api", "commit"): "fulfil", o("api", "call db"): "POST /orders",
		o("db", "SELECT"): "SELECT", o("api", "audit"): "audit",
	} {
		if got[op] != want {
			t.Errorf("%s runs in %q, want %q", op, got[op], want)
		}
	}
	if got[o("api", "loop")] == "" || got[o("api", "loop2")] == "" {
		t.Errorf("a parent cycle left operations unmapped: %v", got)
	}
}

// Locate honours a detector's own location, reads the operation a subject
// names even with a statistic or component after it, names no operation
// for an edge, and falls back to the citations' service.
func TestLocate(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	b.request(1, true, 5, 1)
	ix := NewIndex(b.spans, nil, nil)
	for _, tc := range []struct {
		name     string
		f        evidence.Finding
		svc, op  string
		endpoint string
	}{
		{"series", evidence.Finding{Subject: "api GET /x p50 slope"}, "api", "GET /x", "GET /x"},
		{"component", evidence.Finding{Subject: "db/SELECT self"}, "db", "SELECT", "SELECT"},
		{"internal op", evidence.Finding{Subject: "api/query network"}, "api", "query", "GET /x"},
		{"edge", evidence.Finding{Subject: "web/call api -> api/GET /x"}, "web", "", ""},
		{"unknown op", evidence.Finding{Subject: "api nothing here"}, "api", "", ""},
		{"detector placed", evidence.Finding{Subject: "0x10@n/1", Service: "api", Operation: "GET /x"}, "api", "GET /x", "GET /x"},
		{"detector placed, unknown op", evidence.Finding{Subject: "0x10@n/1", Service: "api", Operation: "nope"}, "api", "", ""},
		{"unknown service", evidence.Finding{Subject: "0x10@n/1", Service: "nosuch",
			Refs: []evidence.Ref{{ID: b.spans[4].ID()}}}, "db", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, op := ix.Locate(&tc.f)
			if svc != tc.svc || op != tc.op {
				t.Fatalf("Locate = %q, %q; want %q, %q", svc, op, tc.svc, tc.op)
			}
			if e := ix.Endpoint(svc, op); e != tc.endpoint {
				t.Errorf("Endpoint = %q, want %q", e, tc.endpoint)
			}
		})
	}
}

// A critical-path component is a part of the change, not an observation
// of a mechanism: covering a small part of its location's change, it
// stays below the location's own change_explained finding, while a kernel
// mechanism seen there leads it.
func TestComponentShareIsWhatItCovers(t *testing.T) {
	b := &builder{base: map[evidence.TraceID]bool{}}
	for i := range 30 {
		b.request(i+1, true, 5, 2)
	}
	for i := range 30 {
		b.request(100+i, false, 50, 3) // db's own time grows 45 ms, its transit 1 ms
	}
	isBase := func(s *evidence.Span) bool { return b.base[s.TraceID] }
	m, err := Build(Input{Spans: b.spans, IsBaseline: isBase}, DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	fs := []evidence.Finding{{ID: "finding:1", Kind: "critical_path_component", Subject: "api/query network"},
		{ID: "finding:2", Kind: "retransmit_tail", Subject: "api/query"}, {ID: "finding:3", Kind: Kind, Subject: "db SELECT"}}
	m.Score(fs, NewIndex(b.spans, nil, nil))
	share := map[string]float64{}
	for _, f := range fs {
		if f.Service != "db" {
			t.Fatalf("%s located at %s, want db (the network time is db's)", f.Kind, f.Service)
		}
		share[f.Kind] = f.Attrs[AttrMechanismShare]
	}
	if c := share["critical_path_component"]; c <= 0 || c >= share[Kind] {
		t.Errorf("component share %.3f, want above 0 and below change_explained's %.2f", c, share[Kind])
	}
	if r := share["retransmit_tail"]; r <= share[Kind] {
		t.Errorf("retransmit_tail share %.3f, want above change_explained's %.2f", r, share[Kind])
	}
	if fs[0].ID != "finding:2" || fs[1].ID != "finding:3" {
		t.Errorf("order %s, %s, %s; want the retransmit tail, then change_explained, then the component", fs[0].ID, fs[1].ID, fs[2].ID)
	}
}

// api starts calling db a second time in most requests (a cache that
// stopped answering), and db slows down under the added load: db's
// growth is induced by api's extra calls, so api explains the change and
// db is not its cause. A control where db slows with no extra calls keeps
// the change at db.
func TestInducedLoadGoesToTheExtraCalls(t *testing.T) {
	extra := func(b *builder, i int) {
		db := 20 + int64(i%3)
		b.request(i, false, db, 1)
		if i%4 != 0 { // a second query, answered like the first
			t0 := int64(i) * 1e9
			ms := int64(1e6)
			b.add(i, 6, 3, "api", "query", evidence.KindClient, t0+60*ms, t0+(62+db)*ms)
			b.add(i, 7, 6, "db", "SELECT", evidence.KindServer, t0+61*ms, t0+(61+db)*ms)
		}
	}
	m := build(t, extra)
	if len(m.Candidates) == 0 || m.Candidates[0].Service != "api" {
		t.Fatalf("candidates %+v, want api first", m.Candidates)
	}
	api := m.Candidates[0]
	if api.InducedNS <= 0 || !api.Significant || api.Explained < 0.9 {
		t.Errorf("api: %+v; want db's growth induced by its extra calls, significant", api.Part)
	}
	if db := m.Service("db"); db != nil && db.Explained > 0.05 {
		t.Errorf("db explains %.2f of a change its callers' extra calls induced", db.Explained)
	}

	control := build(t, func(b *builder, i int) { b.request(i, false, 20+int64(i%3), 1) })
	if len(control.Candidates) == 0 || control.Candidates[0].Service != "db" || control.Candidates[0].InducedNS != 0 {
		t.Fatalf("control candidates %+v, want db first with nothing induced", control.Candidates)
	}
}
