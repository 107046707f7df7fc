package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Pruning (retention). DeleteBefore removes old evidence in bounded
// batches, each in one transaction, while Writes go on: a Write only
// appends, and a DELETE of committed rows does not conflict with appends
// in DuckDB, so nothing a concurrent Write commits is lost. (The folding of
// lock-edge deltas also deletes rows; it and a prune batch take maintMu so
// that they do not conflict.)
//
// What a batch keeps, whatever its age:
//   - every finding whose ID is in keep, or that a statistic ID in keep
//     (cp:, ks:) resolves to (see Get), and every ID those findings cite;
//   - every ID in keep and cited by a kept finding: spans and span events
//     keep their whole trace (spans, span events, the kernel events and
//     logs stamped with the trace), kernel events, lock edges (all deltas
//     of the edge) and logs themselves;
//   - findings without a data window (no end time), reports, resources
//     (spans inherit their columns; a Write may rely on a cached resource)
//     and audit counts.
//
// An item's age is its time: a span's start, a span event's, kernel
// event's or log's time, a lock-edge delta's last observation, a finding's
// data end.

// pruneTable is one table DeleteBefore ages out.
type pruneTable struct {
	name string // table
	time string // the column that dates a row
	// keep is a condition true for a row that must stay (protected),
	// over the TEMP tables prune_ids, prune_traces and prune_findings.
	keep string
}

var pruneTables = []pruneTable{
	{"span_rows", "start_ns", `trace_id IN (SELECT trace_id FROM temp.main.prune_traces)`},
	{"span_events", "time_ns", `trace_id IN (SELECT trace_id FROM temp.main.prune_traces)`},
	{"kernel_events", "time_ns", `(trace_id IS NOT NULL AND trace_id IN (SELECT trace_id FROM temp.main.prune_traces))
		OR ('kev:' || node || '/' || stream || '/' || CAST(seq AS VARCHAR)) IN (SELECT id FROM temp.main.prune_ids)`},
	{"lock_edge_rows", "last_ns", `('edge:' || held || '>' || acquiring) IN (SELECT id FROM temp.main.prune_ids)`},
	{"logs", "time_ns", `id IN (SELECT id FROM temp.main.prune_ids)
		OR (trace_id IS NOT NULL AND trace_id IN (SELECT trace_id FROM temp.main.prune_traces))`},
	{"findings", "end_ns", `id IN (SELECT id FROM temp.main.prune_findings)`},
}

const pruneDDL = `
CREATE TEMP TABLE IF NOT EXISTS prune_keep (id VARCHAR);
CREATE TEMP TABLE IF NOT EXISTS prune_ids (id VARCHAR);
CREATE TEMP TABLE IF NOT EXISTS prune_findings (id VARCHAR);
CREATE TEMP TABLE IF NOT EXISTS prune_traces (trace_id UUID);
DELETE FROM temp.main.prune_keep;
DELETE FROM temp.main.prune_ids;
DELETE FROM temp.main.prune_findings;
DELETE FROM temp.main.prune_traces;
`

// pruneExpand derives the protected sets from prune_keep: the kept
// findings (by ID, or as the finding a cited statistic resolves to), every
// ID kept or cited by a kept finding, and the traces of kept spans and span
// events.
const pruneExpand = `
INSERT INTO temp.main.prune_findings
	SELECT id FROM findings WHERE id IN (SELECT id FROM temp.main.prune_keep)
	UNION
	SELECT min(finding_id) FROM finding_refs WHERE ref_id IN (SELECT id FROM temp.main.prune_keep) GROUP BY ref_id;
INSERT INTO temp.main.prune_ids
	SELECT id FROM temp.main.prune_keep
	UNION
	SELECT ref_id FROM finding_refs WHERE finding_id IN (SELECT id FROM temp.main.prune_findings);
INSERT INTO temp.main.prune_traces
	SELECT DISTINCT t FROM (
		SELECT TRY_CAST(split_part(substr(id, strpos(id, ':') + 1), '/', 1) AS UUID) AS t
		FROM temp.main.prune_ids WHERE starts_with(id, 'span:') OR starts_with(id, 'sev:'))
	WHERE t IS NOT NULL;
`

// DeleteBefore removes one batch of evidence older than cutoffNS (unix
// ns), oldest first, except what keep protects (evidence IDs; see the
// comment above pruneTable for what a kept ID keeps). A batch removes at
// most about maxRows rows per table (rows sharing the boundary's time go
// together): it removes every unprotected row older than the boundary, the
// time of the maxRows-th oldest unprotected row of the table where that
// time is earliest, or older than the cutoff when every table has fewer.
// Call it again until the result is Done. Each batch is one transaction:
// when it fails nothing of it is removed.
func (s *Store) DeleteBefore(ctx context.Context, cutoffNS int64, keep []string, maxRows int) (evidence.PruneResult, error) {
	var res evidence.PruneResult
	switch {
	case s.readOnly:
		return res, fmt.Errorf("pruning %s: store is read-only", s.path)
	case maxRows < 1:
		return res, fmt.Errorf("pruning %s: maxRows must be at least 1", s.path)
	case s.version < 5:
		return res, fmt.Errorf("pruning %s: schema version %d is older than this binary's", s.path, s.version)
	}
	if s.isClosed() {
		return res, fmt.Errorf("pruning %s: %w", s.path, ErrClosed)
	}
	s.maintMu.Lock()
	defer s.maintMu.Unlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("pruning %s: %w", s.path, err)
	}
	defer conn.Close()
	if err := prune(ctx, conn, cutoffNS, keep, maxRows, &res); err != nil {
		return evidence.PruneResult{}, fmt.Errorf("pruning %s: %w", s.path, err)
	}
	s.log.Debug("pruned", "rows", res.Rows(), "done", res.Done)
	return res, nil
}

func prune(ctx context.Context, conn *sql.Conn, cutoffNS int64, keep []string, maxRows int, res *evidence.PruneResult) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollbackErr(tx.Rollback()))
		}
	}()
	if _, err := tx.ExecContext(ctx, pruneDDL); err != nil {
		return fmt.Errorf("staging the protected set: %w", err)
	}
	const chunk = 500
	for i := 0; i < len(keep); i += chunk {
		part := keep[i:min(i+chunk, len(keep))]
		args := make([]any, len(part))
		for j, id := range part {
			args[j] = id
		}
		q := `INSERT INTO temp.main.prune_keep VALUES ` + strings.TrimSuffix(strings.Repeat("(?), ", len(part)), ", ")
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("staging the protected set: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, pruneExpand); err != nil {
		return fmt.Errorf("expanding the protected set: %w", err)
	}
	// The boundary: the earliest of the tables' maxRows-th oldest
	// unprotected times below the cutoff.
	bound, found := int64(0), false
	for _, t := range pruneTables {
		var v sql.NullInt64
		q := fmt.Sprintf(`SELECT %[2]s FROM %[1]s WHERE %[2]s < ? AND NOT (%[3]s) ORDER BY %[2]s LIMIT 1 OFFSET ?`,
			t.name, t.time, t.keep)
		err := tx.QueryRowContext(ctx, q, cutoffNS, maxRows-1).Scan(&v)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			continue
		case err != nil:
			return fmt.Errorf("finding the oldest %s: %w", t.name, err)
		}
		if !found || v.Int64 < bound {
			bound, found = v.Int64, true
		}
	}
	cond, arg := "< ?", cutoffNS
	res.ThroughNS, res.Done = cutoffNS-1, !found
	if found {
		cond, arg, res.ThroughNS = "<= ?", bound, bound
	}
	counts := []*int64{&res.Spans, &res.SpanEvents, &res.KernelEvents, &res.LockEdgeRows, &res.Logs, &res.Findings}
	for i, t := range pruneTables {
		q := fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s %[4]s AND NOT (%[3]s)`, t.name, t.time, t.keep, cond)
		if t.name == "findings" {
			if _, err := tx.ExecContext(ctx, fmt.Sprintf(`DELETE FROM finding_refs WHERE finding_id IN
				(SELECT id FROM findings WHERE end_ns %s AND NOT (%s))`, cond, t.keep), arg); err != nil {
				return fmt.Errorf("deleting from finding_refs: %w", err)
			}
		}
		r, err := tx.ExecContext(ctx, q, arg)
		if err != nil {
			return fmt.Errorf("deleting from %s: %w", t.name, err)
		}
		if *counts[i], err = r.RowsAffected(); err != nil {
			return fmt.Errorf("deleting from %s: %w", t.name, err)
		}
	}
	// A commit is not interrupted (see writeTx).
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Size measures the store's files. With checkpoint set it first tries to
// checkpoint the write-ahead log into the file (so that deleted rows free
// their blocks); a checkpoint refused because other transactions are
// under way is not an error: Checkpointed then says it did not happen and
// UsedBytes is as of the last one.
func (s *Store) Size(ctx context.Context, checkpoint bool) (size evidence.StoreSize, checkpointed bool, err error) {
	if s.isClosed() {
		return size, false, fmt.Errorf("measuring %s: %w", s.path, ErrClosed)
	}
	if checkpoint && !s.readOnly {
		s.maintMu.Lock()
		_, cerr := s.db.ExecContext(ctx, `CHECKPOINT`)
		s.maintMu.Unlock()
		if cerr == nil {
			checkpointed = true
		} else if ctx.Err() != nil {
			return size, false, fmt.Errorf("measuring %s: %w", s.path, ctx.Err())
		} else {
			s.log.Debug("checkpoint before measuring refused", "err", cerr)
		}
	}
	var block, used, free int64
	if err := s.db.QueryRowContext(ctx, `SELECT block_size, used_blocks, free_blocks FROM pragma_database_size()
		WHERE database_name = current_database()`).Scan(&block, &used, &free); err != nil {
		return size, checkpointed, fmt.Errorf("measuring %s: %w", s.path, err)
	}
	size.UsedBytes, size.FreeBytes = used*block, free*block
	fi, err := os.Stat(s.path)
	if err != nil {
		return size, checkpointed, fmt.Errorf("measuring %s: %w", s.path, err)
	}
	size.FileBytes = fi.Size()
	switch wi, err := os.Stat(s.path + ".wal"); {
	case err == nil:
		size.WALBytes = wi.Size()
	case !errors.Is(err, os.ErrNotExist):
		return size, checkpointed, fmt.Errorf("measuring %s: %w", s.path, err)
	}
	return size, checkpointed, nil
}

// LatestEvidenceNS returns the latest time of the stored evidence (span
// ends, kernel events, lock edges' last observations; 0 when there is
// none): what Stats.EvidenceMaxNS reports, without Stats' counts.
func (s *Store) LatestEvidenceNS(ctx context.Context) (int64, error) {
	var v int64
	if err := s.db.QueryRowContext(ctx, `SELECT coalesce(max(t), 0) FROM (SELECT max(end_ns) AS t FROM span_rows
		UNION ALL SELECT max(time_ns) FROM kernel_events UNION ALL SELECT max(last_ns) FROM lock_edge_rows)`).Scan(&v); err != nil {
		return 0, fmt.Errorf("querying the latest evidence time: %w", err)
	}
	return v, nil
}
