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

// Spans, span events and kernel events, the bulk of the data, are appended
// straight into their tables inside Write's transaction. Before that, their
// keys are staged (span_id alone, an integer, costs no per-value cgo call)
// and the rows already stored are looked up with a semi join, so that only
// new rows are appended. The low-volume tables (resources, lock edges, logs,
// audit) are staged whole in the writer connection's TEMP tables and moved
// with INSERT ... SELECT; the stages are emptied before the commit. Staging
// column order is the order the append* functions write.
const stagingDDL = `
CREATE TEMP TABLE stage_span_keys (span_id UBIGINT);
CREATE TEMP TABLE stage_kernel_keys (node VARCHAR, stream VARCHAR, seq UBIGINT);
CREATE TEMP TABLE stage_resources AS SELECT * FROM resources LIMIT 0;
CREATE TEMP TABLE stage_lock_edges AS SELECT * FROM lock_edges LIMIT 0;
CREATE TEMP TABLE stage_logs AS SELECT * FROM logs LIMIT 0;
CREATE TEMP TABLE stage_audit AS SELECT * FROM audit LIMIT 0;
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
	storedSpans = `SELECT s.trace_id, s.span_id FROM spans s
		WHERE s.start_ns BETWEEN %d AND %d
		AND s.span_id IN (SELECT span_id FROM temp.main.stage_span_keys)`
	storedKernelEvents = `SELECT e.node, e.stream, e.seq FROM kernel_events e
		WHERE e.time_ns BETWEEN %d AND %d
		AND (e.seq, e.node, e.stream) IN (SELECT (seq, node, stream) FROM temp.main.stage_kernel_keys)`

	moveResources = `INSERT INTO resources SELECT s.* FROM temp.main.stage_resources s
		ANTI JOIN resources r ON r.id = s.id`
	moveLockEdges = `INSERT INTO lock_edges SELECT * FROM temp.main.stage_lock_edges
		ON CONFLICT (held, acquiring) DO UPDATE SET
			count = lock_edges.count + excluded.count,
			first_ns = least(lock_edges.first_ns, excluded.first_ns),
			last_ns = greatest(lock_edges.last_ns, excluded.last_ns),
			node = coalesce(lock_edges.node, excluded.node),
			resource_id = coalesce(lock_edges.resource_id, excluded.resource_id),
			service = coalesce(lock_edges.service, excluded.service),
			pid = coalesce(lock_edges.pid, excluded.pid),
			held_site = coalesce(lock_edges.held_site, excluded.held_site),
			acquiring_site = coalesce(lock_edges.acquiring_site, excluded.acquiring_site)`
	moveLogs = `INSERT INTO logs SELECT s.* FROM temp.main.stage_logs s
		ANTI JOIN logs l ON l.id = s.id`
	moveAudit = `INSERT INTO audit SELECT * FROM temp.main.stage_audit
		ON CONFLICT (source, key, action) DO UPDATE SET count = audit.count + excluded.count`
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
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("writing batch to %s: %w", s.path, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("writing batch to %s: %w", s.path, err)
	}
	start := time.Now()
	if err := s.writeTx(ctx, b); err != nil {
		return fmt.Errorf("writing batch to %s: %w", s.path, err)
	}
	s.log.Debug("batch written", "spans", len(b.Spans), "kernel_events", len(b.KernelEvents),
		"items", b.Len(), "elapsed", time.Since(start))
	return nil
}

// writeTx runs one transaction on the writer connection. The transaction is
// driven with plain BEGIN/COMMIT statements because the Appender needs the
// raw driver connection, which database/sql does not hand out during a Tx.
func (s *Store) writeTx(ctx context.Context, b *evidence.Batch) (err error) {
	if _, err := s.wconn.ExecContext(ctx, `BEGIN TRANSACTION`); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	committed := false
	defer func() {
		if committed {
			return
		}
		// The caller's ctx may be what failed: roll back regardless.
		if _, rerr := s.wconn.ExecContext(context.WithoutCancel(ctx), `ROLLBACK`); rerr != nil {
			err = errors.Join(err, fmt.Errorf("rollback: %w", rerr))
		}
	}()
	if err := s.filterStored(ctx, b); err != nil {
		return err
	}
	if err := s.insert(ctx, b); err != nil {
		return err
	}
	// A commit is not interrupted: a canceled context must not leave the
	// caller unsure whether the batch was stored.
	if _, err := s.wconn.ExecContext(context.WithoutCancel(ctx), `COMMIT`); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	committed = true
	return nil
}

// appendStep fills one table through an Appender.
type appendStep struct {
	table string // "temp.<name>" for a staging table
	n     int
	fill  func(a *duckdb.Appender) error
}

// appendAll runs the steps with rows on the writer's driver connection.
func (s *Store) appendAll(ctx context.Context, steps []appendStep) error {
	return s.wconn.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("driver connection is %T", dc)
		}
		for _, st := range steps {
			if st.n == 0 {
				continue
			}
			if err := appendTo(ctx, conn, st.table, st.fill); err != nil {
				return err
			}
		}
		return nil
	})
}

// appendTo fills one table through an Appender and flushes it into the open
// transaction.
func appendTo(ctx context.Context, conn driver.Conn, table string, fill func(*duckdb.Appender) error) (err error) {
	catalog, name, ok := strings.Cut(table, ".")
	if !ok {
		catalog, name = "", table
	}
	a, err := duckdb.NewAppender(conn, catalog, "main", name)
	if err != nil {
		return fmt.Errorf("appending to %s: %w", table, err)
	}
	if err := fill(a); err != nil {
		return errors.Join(fmt.Errorf("appending to %s: %w", table, err), a.Clear(), a.Close())
	}
	if err := a.CloseWithCancel(ctx); err != nil {
		return fmt.Errorf("appending to %s: %w", table, err)
	}
	return nil
}

// filterStored stages the keys of the batch's spans and kernel events and
// marks those already stored (or repeated within the batch) as skipped.
func (s *Store) filterStored(ctx context.Context, b *evidence.Batch) error {
	w := &s.wbuf
	w.markDuplicates(b)
	if len(b.Spans) == 0 && len(b.KernelEvents) == 0 {
		return nil
	}
	err := s.appendAll(ctx, []appendStep{
		{table: "temp.stage_span_keys", n: len(b.Spans), fill: func(a *duckdb.Appender) error { return w.appendSpanKeys(a, b.Spans) }},
		{table: "temp.stage_kernel_keys", n: len(b.KernelEvents), fill: func(a *duckdb.Appender) error { return w.appendKernelKeys(a, b.KernelEvents) }},
	})
	if err != nil {
		return err
	}
	if len(b.Spans) > 0 {
		lo, hi := timeRange(b.Spans, w.keepSpan, func(sp *evidence.Span) int64 { return sp.StartNS })
		if err := s.markStored(ctx, fmt.Sprintf(storedSpans, lo, hi), w.scanStoredSpan); err != nil {
			return fmt.Errorf("looking up stored spans: %w", err)
		}
	}
	if len(b.KernelEvents) > 0 {
		lo, hi := timeRange(b.KernelEvents, w.keepKernel, func(e *evidence.KernelEvent) int64 { return e.TimeNS })
		if err := s.markStored(ctx, fmt.Sprintf(storedKernelEvents, lo, hi), w.scanStoredKernelEvent); err != nil {
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
func (s *Store) markStored(ctx context.Context, q string, mark func(scanner) error) error {
	rows, err := s.wconn.QueryContext(ctx, q)
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

// insert appends the new rows of b to the evidence tables and the staging
// tables, then moves the staged rows.
func (s *Store) insert(ctx context.Context, b *evidence.Batch) error {
	w := &s.wbuf
	nEvents := w.countKeptEvents(b.Spans)
	err := s.appendAll(ctx, []appendStep{
		{table: "spans", n: w.keptSpans, fill: func(a *duckdb.Appender) error { return w.appendSpans(a, b.Spans) }},
		{table: "span_events", n: nEvents, fill: func(a *duckdb.Appender) error { return w.appendSpanEvents(a, b.Spans) }},
		{table: "kernel_events", n: w.keptKernel, fill: func(a *duckdb.Appender) error {
			return w.appendKernelEvents(a, b.KernelEvents)
		}},
		{table: "temp.stage_resources", n: len(b.Resources), fill: func(a *duckdb.Appender) error { return w.appendResources(a, b.Resources) }},
		{table: "temp.stage_lock_edges", n: len(b.LockEdges), fill: func(a *duckdb.Appender) error { return w.appendLockEdges(a, b.LockEdges) }},
		{table: "temp.stage_logs", n: len(b.Logs), fill: func(a *duckdb.Appender) error { return w.appendLogs(a, b.Logs) }},
		{table: "temp.stage_audit", n: len(b.Audit), fill: func(a *duckdb.Appender) error { return w.appendAudit(a, b.Audit) }},
	})
	if err != nil {
		return err
	}
	if s.afterInsert != nil {
		if err := s.afterInsert(ctx); err != nil {
			return err
		}
	}
	steps := []struct {
		n          int
		name, sql  string
		stageTable string
	}{
		{len(b.Spans), "", "", "stage_span_keys"},
		{len(b.KernelEvents), "", "", "stage_kernel_keys"},
		{len(b.Resources), "resources", moveResources, "stage_resources"},
		{len(b.LockEdges), "lock edges", moveLockEdges, "stage_lock_edges"},
		{len(b.Logs), "logs", moveLogs, "stage_logs"},
		{len(b.Audit), "audit", moveAudit, "stage_audit"},
	}
	for _, st := range steps {
		if st.n == 0 {
			continue
		}
		if st.sql != "" {
			if _, err := s.wconn.ExecContext(ctx, st.sql); err != nil {
				return fmt.Errorf("moving %s: %w", st.name, err)
			}
		}
		if _, err := s.wconn.ExecContext(ctx, `DELETE FROM temp.main.`+st.stageTable); err != nil {
			return fmt.Errorf("clearing %s: %w", st.stageTable, err)
		}
	}
	return nil
}
