package duckdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// pruneFixture writes old evidence (before cut) and recent evidence (from
// cut on): 800 spans (100 traces) each, one kernel event per span
// (stamped with its trace), a lock edge and a log each side, and findings:
// an old one a report cites (by a statistic it reports), an old one nobody
// cites, a recent one.
type pruneFixture struct {
	cut                  int64
	citedSpan, citedKev  string // cited directly
	findingSpan          string // cited by the cited finding
	citedFinding, oldFnd evidence.Finding
	recentFnd            evidence.Finding
	stat                 string // the statistic id the report cites
	keep                 []string
}

func writePruneFixture(t *testing.T, s *Store) pruneFixture {
	t.Helper()
	ctx := context.Background()
	const base, step = int64(1e18), int64(1000) // makeSpans: span k starts at base + k*1000
	var fx pruneFixture
	fx.cut = base + 800*step
	old, recent := makeSpans(0, 800, base), makeSpans(800, 800, base)
	kevs := func(spans []evidence.Span, stream string) []evidence.KernelEvent {
		out := make([]evidence.KernelEvent, len(spans))
		for i, sp := range spans {
			out[i] = evidence.KernelEvent{Node: "n1", Stream: stream, Seq: uint64(i), Type: evidence.KernelFutexWait,
				TimeNS: sp.StartNS + 10, DurationNS: 5, PID: 1, TID: 2, TraceID: sp.TraceID, SpanID: sp.SpanID}
		}
		return out
	}
	oldKev, recentKev := kevs(old, "futex/0"), kevs(recent, "futex/1")
	// An old kernel event with no trace, cited directly.
	oldKev = append(oldKev, evidence.KernelEvent{Node: "n1", Stream: "sched/0", Seq: 7, Type: evidence.KernelRunqueueDelay,
		TimeNS: base + 5, DurationNS: 3, PID: 1, TID: 2})
	edge := func(held string, first, last int64) evidence.LockEdge {
		return evidence.LockEdge{Node: "n1", Held: held, Acquiring: "b", Count: 1, FirstNS: first, LastNS: last}
	}
	if err := s.Write(ctx, &evidence.Batch{Spans: old, KernelEvents: oldKev,
		LockEdges: []evidence.LockEdge{edge("old", base, base+10), edge("cited", base, base+20)},
		Logs:      []evidence.LogRecord{{ID: "log:old", TimeNS: base + 30, Severity: 9}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, &evidence.Batch{Spans: recent, KernelEvents: recentKev,
		LockEdges: []evidence.LockEdge{edge("recent", fx.cut, fx.cut+10)},
		Logs:      []evidence.LogRecord{{ID: "log:recent", TimeNS: fx.cut + 30, Severity: 9}}}); err != nil {
		t.Fatal(err)
	}
	fx.citedSpan = old[17].ID()    // trace 2: spans 16..23
	fx.findingSpan = old[401].ID() // trace 50
	fx.citedKev = oldKev[len(oldKev)-1].ID()
	fx.stat = evidence.ChangePointEvidenceID("svc op p50", base)
	fx.citedFinding = testFinding("latency_changepoint", "svc op p50", 1, base, base+100,
		evidence.Ref{ID: fx.stat, Line: evidence.LineTrace},
		evidence.Ref{ID: fx.findingSpan, Line: evidence.LineTrace},
		evidence.Ref{ID: "edge:cited>b", Line: evidence.LineLock})
	fx.oldFnd = testFinding("critical_path_dominant", "svc old", 1, base, base+100,
		evidence.Ref{ID: old[600].ID(), Line: evidence.LineTrace})
	fx.recentFnd = testFinding("critical_path_dominant", "svc recent", 1, fx.cut, fx.cut+100,
		evidence.Ref{ID: recent[3].ID(), Line: evidence.LineTrace})
	if err := s.WriteFindings(ctx, []evidence.Finding{fx.citedFinding, fx.oldFnd, fx.recentFnd}); err != nil {
		t.Fatal(err)
	}
	fx.keep = []string{fx.citedSpan, fx.citedKev, fx.stat, "not-an-id", "span:zz/zz"}
	return fx
}

func countRows(t *testing.T, s *Store, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.db.QueryRowContext(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// TestDeleteBeforeKeepsWhatReportsCite: batches delete the old evidence,
// oldest first and bounded per table, and keep what is protected (the
// cited span's whole trace, the cited kernel event, the finding a cited
// statistic resolves to with everything it cites) and everything recent.
func TestDeleteBeforeKeepsWhatReportsCite(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	if v, err := s.LatestEvidenceNS(ctx); err != nil || v != 0 {
		t.Errorf("LatestEvidenceNS of an empty store: %d, %v; want 0", v, err)
	}
	fx := writePruneFixture(t, s)
	if v, err := s.LatestEvidenceNS(ctx); err != nil || v != mustStats(t, s).EvidenceMaxNS || v < fx.cut {
		t.Errorf("LatestEvidenceNS %d, %v; want Stats' EvidenceMaxNS %d", v, err, mustStats(t, s).EvidenceMaxNS)
	}
	var total evidence.PruneResult
	batches := 0
	for {
		res, err := s.DeleteBefore(ctx, fx.cut, fx.keep, 250)
		if err != nil {
			t.Fatal(err)
		}
		batches++
		for _, n := range []int64{res.Spans, res.SpanEvents, res.KernelEvents} {
			if n > 250 {
				t.Errorf("batch %d deleted %d rows of one table, want at most 250: %+v", batches, n, res)
			}
		}
		if !res.Done && res.ThroughNS >= fx.cut {
			t.Errorf("batch %d went through %d, at or past the cutoff", batches, res.ThroughNS)
		}
		total.Add(res)
		if res.Done || batches > 20 {
			break
		}
	}
	if batches < 4 {
		t.Errorf("%d batches for 800 old spans at 250 a batch, want at least 4", batches)
	}
	// Old: 800 spans less two kept traces (8 spans each); their kernel
	// events likewise, plus the cited one without a trace stays. Span
	// events are dated by their own time: the last old span's event lies
	// at the cutoff and stays until a later cutoff passes it.
	if total.Spans != 800-16 || total.SpanEvents != 800-16-1 || total.KernelEvents != 800-16 ||
		total.LockEdgeRows != 1 || total.Logs != 1 || total.Findings != 1 {
		t.Errorf("deleted %+v; want 784 spans and kernel events, 783 span events, 1 lock edge, log and finding", total)
	}
	if n := countRows(t, s, `SELECT count(*) FROM span_rows WHERE start_ns >= ?`, fx.cut); n != 800 {
		t.Errorf("%d recent spans left, want 800", n)
	}
	if n := countRows(t, s, `SELECT count(*) FROM kernel_events WHERE time_ns >= ?`, fx.cut); n != 800 {
		t.Errorf("%d recent kernel events left, want 800", n)
	}
	cited := fx.citedSpan
	tr, err := s.Get(ctx, cited)
	if err != nil {
		t.Fatalf("cited span: %v", err)
	}
	if spans, err := s.Trace(ctx, tr.Span.TraceID); err != nil || len(spans) != 8 {
		t.Errorf("the cited span's trace has %d spans (%v), want all 8", len(spans), err)
	}
	for _, id := range []string{cited, fx.citedKev, fx.stat, fx.citedFinding.ID, fx.findingSpan, "edge:cited>b",
		fx.recentFnd.ID, "edge:recent>b", "log:recent"} {
		if _, err := s.Get(ctx, id); err != nil {
			t.Errorf("Get of a kept item (%s): %v", evidence.IDKind(id), err)
		}
	}
	for _, id := range []string{fx.oldFnd.ID, "edge:old>b", "log:old"} {
		if _, err := s.Get(ctx, id); !errors.Is(err, evidence.ErrNotFound) {
			t.Errorf("Get of a deleted item (%s): %v, want not found", evidence.IDKind(id), err)
		}
	}
	if n := countRows(t, s, `SELECT count(*) FROM finding_refs WHERE finding_id = ?`, fx.oldFnd.ID); n != 0 {
		t.Errorf("%d refs of the deleted finding left", n)
	}
	// Nothing is left to delete.
	res, err := s.DeleteBefore(ctx, fx.cut, fx.keep, 250)
	if err != nil || !res.Done || res.Rows() != 0 {
		t.Errorf("a further batch: %+v, %v; want done, nothing deleted", res, err)
	}
}

// TestDeleteBeforeWithConcurrentWrites: Writes of new evidence running
// while batches delete the old lose nothing they acknowledged.
func TestDeleteBeforeWithConcurrentWrites(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const base = int64(1e18)
	const oldSpans = 40_000
	for i := 0; i < oldSpans; i += 10_000 {
		if err := s.Write(ctx, &evidence.Batch{Spans: makeSpans(i, 10_000, base)}); err != nil {
			t.Fatal(err)
		}
	}
	cut := base + oldSpans*1000
	var wg sync.WaitGroup
	const writers, perWriter, batch = 2, 10, 1000
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range perWriter {
				first := oldSpans + (w*perWriter+j)*batch
				b := &evidence.Batch{Spans: makeSpans(first, batch, base), LockEdges: []evidence.LockEdge{{
					Node: "n1", Held: fmt.Sprint("w", w), Acquiring: "x", Count: 1, FirstNS: cut, LastNS: cut + 1}}}
				if err := s.Write(ctx, b); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var deleted int64
	for {
		res, err := s.DeleteBefore(ctx, cut, nil, 5_000)
		if err != nil {
			t.Fatal(err)
		}
		deleted += res.Spans
		if res.Done {
			break
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if deleted != oldSpans {
		t.Errorf("deleted %d spans, want %d", deleted, oldSpans)
	}
	if n := countRows(t, s, `SELECT count(*) FROM spans`); n != writers*perWriter*batch {
		t.Errorf("%d spans stored, want the %d written concurrently", n, writers*perWriter*batch)
	}
	if n := countRows(t, s, `SELECT CAST(sum(count) AS BIGINT) FROM lock_edges`); n != writers*perWriter {
		t.Errorf("lock edges count %d observations, want %d", n, writers*perWriter)
	}
}

// TestSizeReflectsDeletionAfterCheckpoint: deleted rows free their blocks
// at a checkpoint (the file does not shrink; the blocks are reused), and
// the WAL is counted until then.
func TestSizeReflectsDeletionAfterCheckpoint(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const base = int64(1e18)
	for i := 0; i < 300_000; i += 20_000 {
		if err := s.Write(ctx, &evidence.Batch{Spans: makeSpans(i, 20_000, base)}); err != nil {
			t.Fatal(err)
		}
	}
	before, ok, err := s.Size(ctx, false)
	if err != nil || ok {
		t.Fatalf("Size without checkpoint: %+v, %v, %v", before, ok, err)
	}
	if before.WALBytes == 0 {
		t.Errorf("no WAL before a checkpoint: %+v", before)
	}
	full, ok, err := s.Size(ctx, true)
	if err != nil || !ok || full.WALBytes != 0 || full.UsedBytes == 0 {
		t.Fatalf("Size after checkpoint: %+v, %v, %v; want an empty WAL and used blocks", full, ok, err)
	}
	for {
		res, err := s.DeleteBefore(ctx, base+200_000*1000, nil, 100_000)
		if err != nil {
			t.Fatal(err)
		}
		if res.Done {
			break
		}
	}
	after, ok, err := s.Size(ctx, true)
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if after.UsedBytes*2 > full.UsedBytes {
		t.Errorf("used bytes %d after deleting 2/3 of the spans, from %d: want at most half", after.UsedBytes, full.UsedBytes)
	}
	if after.FileBytes < full.FileBytes {
		t.Logf("the file shrank from %d to %d", full.FileBytes, after.FileBytes)
	}
}

// TestDeleteBeforeInsideAWrite: batches that delete old spans, kernel
// events and lock-edge deltas commit while a Write's transaction holds
// new (and same-edge) rows uncommitted; the Write then commits, and both
// hold: the old rows are gone, the Write's rows are all stored.
func TestDeleteBeforeInsideAWrite(t *testing.T) {
	s, _ := openTemp(t)
	ctx := context.Background()
	const base = int64(1e18)
	edge := func(first, last int64) []evidence.LockEdge {
		return []evidence.LockEdge{{Node: "n1", Held: "a", Acquiring: "b", Count: 1, FirstNS: first, LastNS: last}}
	}
	if err := s.Write(ctx, &evidence.Batch{Spans: makeSpans(0, 5000, base), LockEdges: edge(base, base+1)}); err != nil {
		t.Fatal(err)
	}
	cut := base + 5000*1000
	var deleted evidence.PruneResult
	var inside error
	s.afterInsert = func(context.Context) error {
		s.afterInsert = nil
		for {
			res, err := s.DeleteBefore(ctx, cut, nil, 1000)
			if err != nil {
				inside = err
				return nil
			}
			deleted.Add(res)
			if res.Done {
				return nil
			}
		}
	}
	if err := s.Write(ctx, &evidence.Batch{Spans: makeSpans(5000, 3000, base), LockEdges: edge(cut, cut+1)}); err != nil {
		t.Fatal(err)
	}
	if inside != nil {
		t.Fatalf("deleting during the Write: %v", inside)
	}
	if deleted.Spans != 5000 || deleted.LockEdgeRows != 1 {
		t.Errorf("deleted %+v, want the 5000 old spans and the old edge delta", deleted)
	}
	if n := countRows(t, s, `SELECT count(*) FROM spans`); n != 3000 {
		t.Errorf("%d spans stored, want the Write's 3000", n)
	}
	e, err := s.Get(ctx, "edge:a>b")
	if err != nil || e.LockEdge.Count != 1 || e.LockEdge.FirstNS != cut {
		t.Errorf("edge %+v, %v; want the Write's delta alone", e.LockEdge, err)
	}
}
