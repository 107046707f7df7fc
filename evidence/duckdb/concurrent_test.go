package duckdb

import (
	"context"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// TestConcurrentOverlappingWritesStoreOnce: Writes running at once on
// several writers, with overlapping spans, kernel events, logs and
// resources, store each item once, and audit counts and lock edges add up.
func TestConcurrentOverlappingWritesStoreOnce(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.duckdb"), Options{Writers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writes = 24
	batch := func(i int) *evidence.Batch {
		b := fullBatch()
		// Writes i and i+1 share 500 spans; every Write repeats fullBatch's
		// items.
		b.Spans = append(b.Spans, makeSpans(i*500, 1000, 1e18)...)
		b.Resources = append(b.Resources, evidence.Resource{ID: "res:checkout", Service: "checkout", Version: "v1.4.2", Host: "node-1"})
		return b
	}
	var wg sync.WaitGroup
	errs := make(chan error, writes)
	for i := range writes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- s.Write(ctx, batch(i))
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := mustStats(t, s)
	wantSpans := int64(1 + (writes-1)*500 + 1000)
	if st.Spans != wantSpans || st.SpanEvents != wantSpans+1 || st.KernelEvents != 1 || st.Logs != 1 ||
		st.Resources != 2 || st.LockEdges != 1 {
		t.Errorf("stats %+v, want %d spans, one of each other item, 2 resources", st, wantSpans)
	}
	audit, err := s.Audit(ctx)
	if err != nil || len(audit) != 1 || audit[0].Count != 5*writes {
		t.Errorf("audit %+v, %v; want one row counting %d", audit, err, 5*writes)
	}
	edge, err := s.Get(ctx, fullBatch().LockEdges[0].ID())
	if err != nil || edge.LockEdge.Count != 3*writes || edge.LockEdge.FirstNS != 100 || edge.LockEdge.LastNS != 200 {
		t.Errorf("edge %+v, %v; want count %d", edge.LockEdge, err, 3*writes)
	}
	// Spans inherit their resource's columns.
	got, err := s.Spans(ctx, evidence.SpanFilter{Service: "cart", Limit: 3})
	if err != nil || len(got) != 3 || got[0].Version != "v1.4.2" || got[0].Host != "node-1" {
		t.Errorf("spans of cart: %+v, %v", got, err)
	}
}

// TestSpanColumnsAgainstResources: a span's service, version and host read
// back as written whether they match its stored resource, differ from it,
// or refer to a resource stored only later.
func TestSpanColumnsAgainstResources(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	res := evidence.Resource{ID: "res:r1", Service: "svc", Version: "v1", Host: "h1"}
	spans := makeSpans(0, 4, 1e18)
	for i := range spans {
		spans[i].ResourceID = "res:r1"
		spans[i].Service, spans[i].Version, spans[i].Host = "svc", "v1", "h1"
	}
	spans[1].Service = "other" // differs
	spans[2].Version = ""      // none, the resource has one
	spans[3].ResourceID = "res:later"
	spans[3].Service, spans[3].Version, spans[3].Host = "", "", ""
	mustWrite(t, s, &evidence.Batch{Resources: []evidence.Resource{res}, Spans: spans[:3]})
	mustWrite(t, s, &evidence.Batch{Spans: spans[3:]}) // res:later not stored yet
	mustWrite(t, s, &evidence.Batch{Resources: []evidence.Resource{{ID: "res:later", Service: "late", Version: "v9", Host: "h9"}}})
	// A span referring to a resource stored by an earlier Write (cache).
	more := makeSpans(10, 1, 1e18)
	more[0].ResourceID, more[0].Service, more[0].Version, more[0].Host = "res:r1", "svc", "v1", "h1"
	mustWrite(t, s, &evidence.Batch{Spans: more})
	for _, want := range append(spans, more...) {
		item, err := s.Get(ctx, want.ID())
		if err != nil {
			t.Fatal(err)
		}
		got := item.Span
		if got.Service != want.Service || got.Version != want.Version || got.Host != want.Host {
			t.Errorf("span %s: service/version/host %q/%q/%q, want %q/%q/%q", want.ID(),
				got.Service, got.Version, got.Host, want.Service, want.Version, want.Host)
		}
	}
	// A store opened again (empty cache) looks the resource up.
	s2path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := Open(ctx, s2path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	again := makeSpans(20, 1, 1e18)
	again[0].ResourceID, again[0].Service, again[0].Version, again[0].Host = "res:r1", "svc", "v1", "h1"
	mustWrite(t, s, &evidence.Batch{Spans: again})
	var extra *string
	if err := s.db.QueryRowContext(ctx, `SELECT extra FROM span_rows WHERE span_id = CAST(? AS UBIGINT)`,
		spanArg(again[0].SpanID)).Scan(&extra); err != nil || extra != nil {
		t.Errorf("a span matching its stored resource has extra %v (%v), want NULL", extra, err)
	}
	item, err := s.Get(ctx, again[0].ID())
	if err != nil || item.Span.Service != "svc" || item.Span.Host != "h1" {
		t.Errorf("after reopen: %+v, %v", item.Span, err)
	}
}

// TestCompactKeepsAuditAndLockEdges: folding the deltas changes nothing the
// views show.
func TestCompactKeepsAuditAndLockEdges(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	for i := range 5 {
		b := fullBatch()
		b.LockEdges[0].FirstNS, b.LockEdges[0].LastNS = int64(100-i), int64(200+i)
		b.LockEdges = append(b.LockEdges, evidence.LockEdge{Held: "x", Acquiring: "y", Count: 1, FirstNS: 5, LastNS: 6})
		b.Audit = append(b.Audit, evidence.AuditCount{Source: "log", Key: "k", Action: "drop", Count: int64(i)})
		mustWrite(t, s, b)
	}
	type view struct {
		Audit []evidence.AuditCount
		Edges []evidence.LockEdge
	}
	read := func() view {
		a, err := s.Audit(ctx)
		if err != nil {
			t.Fatal(err)
		}
		e, err := queryAll(ctx, s.db, scanLockEdge, `SELECT `+lockEdgeColumns+` FROM lock_edges ORDER BY held`)
		if err != nil {
			t.Fatal(err)
		}
		return view{a, e}
	}
	before := read()
	w := <-s.idle
	err := w.compact(ctx)
	s.idle <- w
	if err != nil {
		t.Fatal(err)
	}
	if after := read(); !reflect.DeepEqual(after, before) {
		t.Errorf("after compaction:\n got %+v\nwant %+v", after, before)
	}
	var rows int
	if err := s.db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_rows) + (SELECT count(*) FROM lock_edge_rows)`).Scan(&rows); err != nil || rows != 4 {
		t.Errorf("%d delta rows after compaction (%v), want 4", rows, err)
	}
	if before.Edges[0].Count != 15 || before.Edges[0].FirstNS != 96 || before.Edges[0].LastNS != 204 {
		t.Errorf("edge %+v", before.Edges[0])
	}
}

// TestMigrateVersion1Data: a file written with schema 001 reads back the
// same after migration 002.
func TestMigrateVersion1Data(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v1.duckdb")
	v1 := migrationsFS(t, 1)
	s, err := Open(ctx, path, Options{schema: v1})
	if err != nil {
		t.Fatal(err)
	}
	b := fullBatch()
	sp := b.Spans[0]
	plain := makeSpans(0, 1, 1e18)[0] // matches no stored resource
	plain.Events = nil
	withRes := makeSpans(8, 1, 1e18)[0] // another trace, matching its resource
	withRes.ResourceID, withRes.Service, withRes.Version, withRes.Host = "res:abc", "checkout", "v2", "h1"
	withRes.Events = nil
	r := b.Resources[0]
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := s.db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO resources VALUES (?, ?, ?, ?, ?, ?, ?)`, r.ID, r.Service, r.Version, r.Environment, r.Host, r.Node,
		string(appendAttrsJSON(nil, r.Attrs)))
	insertSpan := func(sp evidence.Span) {
		nul := func(s string) any {
			if s == "" {
				return nil
			}
			return s
		}
		parent := any(nil)
		if !sp.ParentSpanID.IsZero() {
			parent = spanArg(sp.ParentSpanID)
		}
		exec(`INSERT INTO spans VALUES (CAST(? AS UUID), CAST(? AS UBIGINT), CAST(? AS UBIGINT), ?, ?, ?, ?, ?, ?, ?, ?,
			?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sp.TraceID.String(), spanArg(sp.SpanID), parent, nul(sp.ResourceID), nul(sp.Service), nul(sp.Version),
			nul(sp.Host), nul(sp.Name), int8(sp.Kind), int8(sp.StatusCode), nul(sp.StatusMessage), sp.StartNS, sp.EndNS,
			sp.EndNS-sp.StartNS, sp.ThreadID, sp.ProcessPID, nul(sp.HTTPRoute), nul(sp.HTTPMethod), sp.HTTPStatusCode,
			nul(sp.RPCSystem), nul(sp.RPCService), nul(sp.RPCMethod), nul(sp.DBSystem), nul(sp.DBStatement),
			nul(sp.DBQueryID), nul(sp.PeerService), nul(sp.ExceptionType), nul(string(appendAttrsJSON(nil, sp.Attrs))))
	}
	for _, x := range []evidence.Span{sp, plain, withRes} {
		insertSpan(x)
	}
	for _, ev := range sp.Events {
		exec(`INSERT INTO span_events VALUES (CAST(? AS UUID), CAST(? AS UBIGINT), ?, ?, ?, ?)`, sp.TraceID.String(),
			spanArg(sp.SpanID), ev.Index, ev.TimeNS, ev.Name, func() any {
				if len(ev.Attrs) == 0 {
					return nil
				}
				return string(appendAttrsJSON(nil, ev.Attrs))
			}())
	}
	e := b.LockEdges[0]
	exec(`INSERT INTO lock_edges VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, e.Held, e.Acquiring, e.Node, e.ResourceID,
		e.Service, e.PID, e.HeldSite, e.AcquiringSite, e.Count, e.FirstNS, e.LastNS)
	exec(`INSERT INTO audit VALUES ('span', 'user.id', 'tokenize', 5)`)
	// The zero ThreadID etc. of plain spans are NULL in 001 files.
	exec(`UPDATE spans SET thread_id = NULLIF(thread_id, 0), process_pid = NULLIF(process_pid, 0),
		http_status_code = NULLIF(http_status_code, 0)`)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path, Options{})
	if err != nil {
		t.Fatalf("migrating: %v", err)
	}
	defer s.Close()
	if s.SchemaVersion() != len(mustMigrations(t)) {
		t.Fatalf("version %d", s.SchemaVersion())
	}
	for _, want := range []evidence.Span{sp, plain, withRes} {
		got, err := s.Trace(ctx, want.TraceID)
		if err != nil || len(got) != 1 || !reflect.DeepEqual(got[0], want) {
			t.Errorf("after migration:\n got %+v (%v)\nwant %+v", got, err, want)
		}
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM span_rows WHERE extra IS NULL`).Scan(&n); err != nil || n != 1 {
		t.Errorf("%d migrated spans without extra (%v), want 1 (the one matching its resource)", n, err)
	}
	audit, err := s.Audit(ctx)
	if err != nil || !reflect.DeepEqual(audit, b.Audit) {
		t.Errorf("audit %+v, %v", audit, err)
	}
	edge, err := s.Get(ctx, e.ID())
	if err != nil || !reflect.DeepEqual(*edge.LockEdge, e) {
		t.Errorf("edge %+v, %v", edge.LockEdge, err)
	}
	// New writes dedupe against migrated rows.
	mustWrite(t, s, &evidence.Batch{Spans: []evidence.Span{sp, plain, withRes}})
	if st := mustStats(t, s); st.Spans != 3 || st.SpanEvents != 2 {
		t.Errorf("after re-writing migrated spans: %+v", st)
	}
}

// TestCompactWhileWriting: folding the deltas on one writer while others
// append deltas loses and doubles nothing.
func TestCompactWhileWriting(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, filepath.Join(t.TempDir(), "c.duckdb"), Options{Writers: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const writes = 40
	var wg sync.WaitGroup
	errs := make(chan error, writes+1)
	stop := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			w := <-s.idle
			err := w.compact(ctx)
			s.idle <- w
			if err != nil {
				errs <- err
				return
			}
		}
	}()
	var writers sync.WaitGroup
	for i := range writes {
		writers.Add(1)
		go func() {
			defer writers.Done()
			b := &evidence.Batch{
				Audit:     []evidence.AuditCount{{Source: "span", Key: "k", Action: "drop", Count: 1}},
				LockEdges: []evidence.LockEdge{{Held: "a", Acquiring: "b", Count: 2, FirstNS: int64(i), LastNS: int64(i)}},
			}
			errs <- s.Write(ctx, b)
		}()
	}
	writers.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	audit, err := s.Audit(ctx)
	if err != nil || len(audit) != 1 || audit[0].Count != writes {
		t.Errorf("audit %+v, %v; want %d", audit, err, writes)
	}
	edge, err := s.Get(ctx, "edge:a>b")
	if err != nil || edge.LockEdge.Count != 2*writes || edge.LockEdge.FirstNS != 0 || edge.LockEdge.LastNS != writes-1 {
		t.Errorf("edge %+v, %v", edge.LockEdge, err)
	}
}
