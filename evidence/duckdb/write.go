package duckdb

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/debugai/debugai/evidence"
)

// Spans, span events, kernel events, resources, lock-edge and audit deltas
// are appended straight into their tables inside Write's transaction. Before
// that, the keys of spans and kernel events are staged (span_id alone, an
// integer, costs no per-value cgo call) and the rows already stored are
// looked up with a semi join, so that only new rows are appended. Logs are
// staged whole and moved with INSERT ... SELECT ... ANTI JOIN. Each writer
// connection has its own TEMP staging tables, emptied before the commit.
const stagingDDL = `
CREATE TEMP TABLE stage_span_keys (span_id UBIGINT);
CREATE TEMP TABLE stage_kernel_keys (node VARCHAR, stream VARCHAR, seq UBIGINT);
CREATE TEMP TABLE stage_logs (id VARCHAR, resource_id VARCHAR, service VARCHAR, time_ns BIGINT,
	severity INTEGER, severity_text VARCHAR, event_name VARCHAR, trace_id UUID, span_id UBIGINT,
	attrs VARCHAR);
`

func createStaging(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, stagingDDL); err != nil {
		return fmt.Errorf("creating staging tables: %w", err)
	}
	return nil
}

const (
	// storedSpans returns the stored spans whose span_id is staged and
	// whose start lies in the batch's start range (%d, %d: inlined so that
	// DuckDB prunes row groups by their min/max start_ns); the caller
	// compares trace ids. Without the range the lookup scanned the whole
	// table: +8 ms per 8k batch per million stored spans.
	storedSpans = `SELECT s.trace_id, s.span_id FROM span_rows s
		WHERE s.start_ns BETWEEN %d AND %d
		AND s.span_id IN (SELECT span_id FROM temp.main.stage_span_keys)`
	storedKernelEvents = `SELECT e.node, e.stream, e.seq FROM kernel_events e
		WHERE e.time_ns BETWEEN %d AND %d
		AND (e.seq, e.node, e.stream) IN (SELECT (seq, node, stream) FROM temp.main.stage_kernel_keys)`
	storedResources = `SELECT id, coalesce(service, ''), coalesce(version, ''), coalesce(host, '')
		FROM resources WHERE id IN (%s)`
	moveLogs = `INSERT INTO logs SELECT s.* FROM temp.main.stage_logs s
		ANTI JOIN logs l ON l.id = s.id`
)

// Write stores b atomically and idempotently; see the package documentation
// for what a nil return guarantees.
func (s *Store) Write(ctx context.Context, b *evidence.Batch) (err error) {
	if b == nil {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("writing batch to %s: store is read-only", s.path)
	}
	w, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("writing batch to %s: %w", s.path, err)
	}
	defer func() { s.idle <- w }()
	start := time.Now()
	if err := s.write(ctx, w, b); err != nil {
		return fmt.Errorf("writing batch to %s: %w", s.path, err)
	}
	s.log.Debug("batch written", "spans", len(b.Spans), "kernel_events", len(b.KernelEvents),
		"items", b.Len(), "elapsed", time.Since(start))
	return nil
}

// acquire takes an idle writer.
func (s *Store) acquire(ctx context.Context) (*writer, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	select {
	case w := <-s.idle:
		if s.isClosed() {
			s.idle <- w
			return nil, ErrClosed
		}
		return w, nil
	case <-s.closing:
		return nil, ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// write runs one Write on w.
func (s *Store) write(ctx context.Context, w *writer, b *evidence.Batch) error {
	wb := &w.buf
	wb.markDuplicates(b)
	s.resolveCached(wb, b)
	if err := s.register(ctx, w); err != nil {
		return err
	}
	err := w.writeTx(ctx, s, b)
	s.mu.Lock()
	if err == nil {
		s.rememberResources(wb)
	}
	s.unregisterLocked(w)
	compact := false
	if err == nil && (len(b.Audit) > 0 || len(b.LockEdges) > 0) {
		s.commits++
		compact = s.commits%compactEvery == 0
	}
	s.mu.Unlock()
	if compact {
		// The batch is committed; folding the deltas is housekeeping whose
		// failure must not fail the Write.
		s.maintMu.Lock()
		cerr := w.compact(context.WithoutCancel(ctx))
		s.maintMu.Unlock()
		if cerr != nil {
			s.log.Warn("folding audit and lock-edge deltas", "err", cerr)
		}
	}
	return err
}

// compactEvery is how many committed Writes with audit or lock-edge rows
// pass between two foldings of their deltas.
const compactEvery = 1024

// register makes w's keys (span and kernel-event keys, log ids, new
// resource ids) known as in flight. When another Write in flight holds one
// of them, it waits for that Write to end first: its transaction must start
// after the other's commit to see the other's rows (DuckDB's snapshot
// isolation), so that the stored-key lookups stay exact and no key is
// inserted twice.
func (s *Store) register(ctx context.Context, w *writer) error {
	s.mu.Lock()
	for {
		var wait chan struct{}
		for _, o := range s.inflight {
			if w.buf.overlaps(&o.buf) {
				wait = o.done
				break
			}
		}
		if wait == nil {
			w.done = make(chan struct{})
			s.inflight = append(s.inflight, w)
			s.mu.Unlock()
			return nil
		}
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return ctx.Err()
		}
		s.mu.Lock()
	}
}

func (s *Store) unregisterLocked(w *writer) {
	for i, o := range s.inflight {
		if o == w {
			s.inflight = append(s.inflight[:i], s.inflight[i+1:]...)
			break
		}
	}
	close(w.done)
}

// maxCachedResources bounds Store.resources; past it the cache starts over
// (it only saves lookups).
const maxCachedResources = 1 << 16

// resolveCached fills in the cached columns of the resources b refers to and
// drops cached ones from the resources to insert.
func (s *Store) resolveCached(wb *writeBuffers, b *evidence.Batch) {
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := wb.newRes[:0]
	for _, i := range wb.newRes {
		id := valid(b.Resources[i].ID)
		if rc, ok := s.resources[id]; ok {
			wb.resCols[id] = rc
			delete(wb.resIDs, id)
			continue
		}
		kept = append(kept, i)
	}
	wb.newRes = kept
	for i := range b.Spans {
		id := valid(b.Spans[i].ResourceID)
		if _, done := wb.resCols[id]; done || id == "" {
			continue
		}
		if rc, ok := s.resources[id]; ok {
			wb.resCols[id] = rc
		} else if _, inBatch := wb.resIDs[id]; !inBatch {
			wb.unresolved[id] = struct{}{}
		}
	}
}

// rememberResources caches the resources a committed Write stored or found
// stored.
func (s *Store) rememberResources(wb *writeBuffers) {
	if len(s.resources)+len(wb.resCols) > maxCachedResources {
		clear(s.resources)
	}
	for id, rc := range wb.resCols {
		if id != "" {
			s.resources[id] = rc
		}
	}
}

// writer is one writer connection with its buffers and its Appenders, kept
// open across transactions.
type writer struct {
	conn *sql.Conn
	buf  writeBuffers
	apps map[string]*duckdb.Appender
	done chan struct{} // closed when the Write in flight ends
}

// writeTx runs one transaction on the writer connection. The transaction is
// driven with plain BEGIN/COMMIT statements because the Appender needs the
// raw driver connection, which database/sql does not hand out during a Tx.
func (w *writer) writeTx(ctx context.Context, s *Store, b *evidence.Batch) (err error) {
	t := time.Now()
	if _, err := w.conn.ExecContext(ctx, `BEGIN TRANSACTION`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	stepDone("begin", &t)
	committed := false
	defer func() {
		if committed {
			return
		}
		// Rows an Appender still holds must not reach a later transaction.
		err = errors.Join(err, w.closeAppenders())
		// The caller's ctx may be what failed: roll back regardless.
		if _, rerr := w.conn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
	}()
	if err := w.lookupResources(ctx, b); err != nil {
		return err
	}
	stepDone("resources", &t)
	if err := w.filterStored(ctx, b); err != nil {
		return err
	}
	stepDone("stored-key lookup", &t)
	if err := w.insert(ctx, s, b); err != nil {
		return err
	}
	t = time.Now()
	if err := ctx.Err(); err != nil {
		return err
	}
	// A commit is not interrupted: a canceled context must not leave the
	// caller unsure whether the batch was stored.
	if _, err := w.conn.ExecContext(context.WithoutCancel(ctx), `COMMIT`); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	stepDone("commit", &t)
	committed = true
	return nil
}

// appendStep fills one table through the writer's Appender for it.
type appendStep struct {
	table string // "temp.<name>" for a staging table
	n     int
	fill  func(a *duckdb.Appender) error
}

// appendAll runs the steps with rows on the writer's driver connection,
// flushing each Appender into the open transaction.
func (w *writer) appendAll(ctx context.Context, steps ...appendStep) error {
	return w.conn.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T", dc)
		}
		for _, st := range steps {
			if st.n == 0 {
				continue
			}
			t := time.Now()
			a, err := w.appender(conn, st.table)
			if err != nil {
				return err
			}
			if err := st.fill(a); err != nil {
				return fmt.Errorf("appending to %s: %w", st.table, err)
			}
			stepDone("append "+st.table, &t)
			if err := a.FlushWithCancel(ctx); err != nil {
				return fmt.Errorf("appending to %s: %w", st.table, err)
			}
			stepDone("flush "+st.table, &t)
		}
		return nil
	})
}

// appender returns the writer's Appender for table, creating it on first
// use. An Appender flushes into whatever transaction its connection has
// open, so one serves every Write; creating one per table per Write cost
// about 0.3 ms each.
func (w *writer) appender(conn driver.Conn, table string) (*duckdb.Appender, error) {
	if a := w.apps[table]; a != nil {
		return a, nil
	}
	catalog, name, ok := strings.Cut(table, ".")
	if !ok {
		catalog, name = "", table
	}
	a, err := duckdb.NewAppender(conn, catalog, "main", name)
	if err != nil {
		return nil, fmt.Errorf("appending to %s: %w", table, err)
	}
	if w.apps == nil {
		w.apps = make(map[string]*duckdb.Appender)
	}
	w.apps[table] = a
	return a, nil
}

// closeAppenders discards the rows the writer's Appenders hold and closes
// them; the next Write creates new ones.
func (w *writer) closeAppenders() error {
	var errs []error
	for t, a := range w.apps {
		if err := a.Clear(); err != nil {
			errs = append(errs, err)
		}
		if err := a.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing appender for %s: %w", t, err))
		}
		delete(w.apps, t)
	}
	return errors.Join(errs...)
}

// lookupResources looks up, among the resources the batch refers to that
// the cache does not know, the ones already stored: those are not inserted
// again, and spans inherit their stored columns.
func (w *writer) lookupResources(ctx context.Context, b *evidence.Batch) error {
	wb := &w.buf
	ids := wb.lookupIDs[:0]
	for _, i := range wb.newRes {
		ids = append(ids, valid(b.Resources[i].ID))
	}
	for id := range wb.unresolved {
		ids = append(ids, id)
	}
	wb.lookupIDs = ids
	if len(ids) == 0 {
		return wb.resolveNew(b)
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	q := fmt.Sprintf(storedResources, strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", "))
	rows, err := w.conn.QueryContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("looking up stored resources: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id string
		var rc resourceCols
		if err := rows.Scan(&id, &rc.service, &rc.version, &rc.host); err != nil {
			return fmt.Errorf("looking up stored resources: %w", err)
		}
		wb.resCols[id] = rc
		delete(wb.resIDs, id)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("looking up stored resources: %w", err)
	}
	return wb.resolveNew(b)
}

// filterStored stages the keys of the batch's spans and kernel events and
// marks those already stored (or repeated within the batch) as skipped.
func (w *writer) filterStored(ctx context.Context, b *evidence.Batch) error {
	wb := &w.buf
	if len(b.Spans) == 0 && len(b.KernelEvents) == 0 {
		return nil
	}
	err := w.appendAll(ctx,
		appendStep{table: "temp.stage_span_keys", n: len(b.Spans), fill: func(a *duckdb.Appender) error { return wb.appendSpanKeys(a, b.Spans) }},
		appendStep{table: "temp.stage_kernel_keys", n: len(b.KernelEvents), fill: func(a *duckdb.Appender) error { return wb.appendKernelKeys(a, b.KernelEvents) }},
	)
	if err != nil {
		return err
	}
	if len(b.Spans) > 0 {
		lo, hi := timeRange(b.Spans, wb.keepSpan, func(sp *evidence.Span) int64 { return sp.StartNS })
		if err := w.markStored(ctx, fmt.Sprintf(storedSpans, lo, hi), wb.scanStoredSpan); err != nil {
			return fmt.Errorf("looking up stored spans: %w", err)
		}
	}
	if len(b.KernelEvents) > 0 {
		lo, hi := timeRange(b.KernelEvents, wb.keepKernel, func(e *evidence.KernelEvent) int64 { return e.TimeNS })
		if err := w.markStored(ctx, fmt.Sprintf(storedKernelEvents, lo, hi), wb.scanStoredKernelEvent); err != nil {
			return fmt.Errorf("looking up stored kernel events: %w", err)
		}
	}
	return nil
}

// timeRange returns the smallest and largest time of the kept items.
func timeRange[T any](items []T, keep []bool, at func(*T) int64) (lo, hi int64) {
	first := true
	for i := range items {
		if !keep[i] {
			continue
		}
		t := at(&items[i])
		if first || t < lo {
			lo = t
		}
		if first || t > hi {
			hi = t
		}
		first = false
	}
	return lo, hi
}

// markStored runs a stored-key query and hands each row to mark.
func (w *writer) markStored(ctx context.Context, q string, mark func(scanner) error) error {
	rows, err := w.conn.QueryContext(ctx, q)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := mark(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

// insert appends the new rows of b, moves the staged logs and empties the
// staging tables.
func (w *writer) insert(ctx context.Context, s *Store, b *evidence.Batch) error {
	wb := &w.buf
	nEvents := wb.countKeptEvents(b.Spans)
	err := w.appendAll(ctx,
		appendStep{table: "span_rows", n: wb.keptSpans, fill: func(a *duckdb.Appender) error { return wb.appendSpans(a, b.Spans) }},
		appendStep{table: "span_events", n: nEvents, fill: func(a *duckdb.Appender) error { return wb.appendSpanEvents(a, b.Spans) }},
		appendStep{table: "kernel_events", n: wb.keptKernel, fill: func(a *duckdb.Appender) error {
			return wb.appendKernelEvents(a, b.KernelEvents)
		}},
		appendStep{table: "resources", n: len(wb.newRes), fill: func(a *duckdb.Appender) error { return wb.appendResources(a, b.Resources) }},
		appendStep{table: "lock_edge_rows", n: len(b.LockEdges), fill: func(a *duckdb.Appender) error { return wb.appendLockEdges(a, b.LockEdges) }},
		appendStep{table: "audit_rows", n: len(b.Audit), fill: func(a *duckdb.Appender) error { return wb.appendAudit(a, b.Audit) }},
		appendStep{table: "temp.stage_logs", n: len(b.Logs), fill: func(a *duckdb.Appender) error { return wb.appendLogs(a, b.Logs) }},
	)
	if err != nil {
		return err
	}
	if s.afterInsert != nil {
		if err := s.afterInsert(ctx); err != nil {
			return err
		}
	}
	if len(b.Logs) > 0 {
		if _, err := w.conn.ExecContext(ctx, moveLogs); err != nil {
			return fmt.Errorf("moving logs: %w", err)
		}
	}
	var stages []string
	for _, st := range []struct {
		n     int
		table string
	}{{len(b.Spans), "stage_span_keys"}, {len(b.KernelEvents), "stage_kernel_keys"}, {len(b.Logs), "stage_logs"}} {
		if st.n > 0 {
			stages = append(stages, `DELETE FROM temp.main.`+st.table+`;`)
		}
	}
	if len(stages) > 0 {
		t := time.Now()
		if _, err := w.conn.ExecContext(ctx, strings.Join(stages, "\n")); err != nil {
			return fmt.Errorf("clearing staging tables: %w", err)
		}
		stepDone("clear staging", &t)
	}
	return nil
}

// compact folds the audit and lock-edge deltas into one row per key, in a
// transaction of its own: the views over them read the same before and
// after. Only rows this transaction sees are folded; deltas another writer
// appends meanwhile stay as they are.
func (w *writer) compact(ctx context.Context) (err error) {
	var deltas, audits, edgeDeltas, edges int64
	if err := w.conn.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM audit_rows), (SELECT count(*) FROM audit),
		(SELECT count(*) FROM lock_edge_rows), (SELECT count(*) FROM lock_edges)`).Scan(
		&deltas, &audits, &edgeDeltas, &edges); err != nil {
		return fmt.Errorf("counting deltas: %w", err)
	}
	var q []string
	if deltas > audits {
		q = append(q, `CREATE TEMP TABLE fold_audit AS SELECT source, key, action, count FROM audit;
			DELETE FROM audit_rows;
			INSERT INTO audit_rows SELECT * FROM temp.main.fold_audit;
			DROP TABLE temp.main.fold_audit;`)
	}
	if edgeDeltas > edges {
		q = append(q, `CREATE TEMP TABLE fold_edges AS SELECT held, acquiring, node, resource_id, service, pid,
				held_site, acquiring_site, count, first_ns, last_ns FROM lock_edges;
			DELETE FROM lock_edge_rows;
			INSERT INTO lock_edge_rows SELECT * FROM temp.main.fold_edges;
			DROP TABLE temp.main.fold_edges;`)
	}
	if len(q) == 0 {
		return nil
	}
	tx, err := w.conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, strings.Join(q, "\n")); err != nil {
		return errors.Join(err, rollbackErr(tx.Rollback()))
	}
	return tx.Commit()
}

// stepHook, when set (tests and benchmarks, before any Write), receives the
// time each step of a Write took.
var stepHook func(step string, d time.Duration)

func stepDone(step string, since *time.Time) {
	if stepHook != nil {
		now := time.Now()
		stepHook(step, now.Sub(*since))
		*since = now
	}
}
