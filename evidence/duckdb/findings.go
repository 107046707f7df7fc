package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/debugai/debugai/evidence"
)

var (
	_ evidence.FindingWriter  = (*Store)(nil)
	_ evidence.FindingReader  = (*Store)(nil)
	_ evidence.LockEdgeReader = (*Store)(nil)
)

const findingColumns = `id, kind, subject, summary, score, confidence, coalesce(start_ns, 0),
	coalesce(end_ns, 0), refs, coalesce(attrs, ''), coalesce(service, ''), coalesce(operation, '')`

// WriteFindings stores fs in one transaction: a finding whose ID is stored
// replaces the stored row (and its cited ids); a finding repeated within fs
// is stored once, the last occurrence winning. When one finding fails
// Finding.Validate, or the transaction fails, nothing is stored.
func (s *Store) WriteFindings(ctx context.Context, fs []evidence.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	if s.readOnly {
		return fmt.Errorf("writing findings to %s: store is read-only", s.path)
	}
	rows, err := encodeFindings(fs)
	if err != nil {
		return fmt.Errorf("writing findings to %s: %w", s.path, err)
	}
	w, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("writing findings to %s: %w", s.path, err)
	}
	defer func() { s.idle <- w }()
	if err := writeFindingRows(ctx, w.conn, rows); err != nil {
		return fmt.Errorf("writing findings to %s: %w", s.path, err)
	}
	return nil
}

// findingRow is a validated finding with its JSON columns encoded.
type findingRow struct {
	f     *evidence.Finding
	refs  string
	attrs sql.NullString
}

// encodeFindings validates fs and encodes their JSON columns, keeping the
// last of findings that repeat an ID (in the position of the first).
func encodeFindings(fs []evidence.Finding) ([]findingRow, error) {
	index := make(map[string]int, len(fs))
	var rows []findingRow
	for i := range fs {
		f := &fs[i]
		if err := f.Validate(); err != nil {
			return nil, err
		}
		refs := f.Refs
		if refs == nil {
			refs = []evidence.Ref{}
		}
		rb, err := json.Marshal(refs)
		if err != nil {
			return nil, fmt.Errorf("finding %s: encoding refs: %w", f.ID, err)
		}
		row := findingRow{f: f, refs: string(rb)}
		if len(f.Attrs) > 0 {
			ab, err := json.Marshal(f.Attrs)
			if err != nil {
				return nil, fmt.Errorf("finding %s: encoding attrs: %w", f.ID, err)
			}
			row.attrs = sql.NullString{String: string(ab), Valid: true}
		}
		if j, ok := index[f.ID]; ok {
			rows[j] = row
			continue
		}
		index[f.ID] = len(rows)
		rows = append(rows, row)
	}
	return rows, nil
}

func writeFindingRows(ctx context.Context, conn *sql.Conn, rows []findingRow) (err error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, rollbackErr(tx.Rollback()))
		}
	}()
	for _, r := range rows {
		f := r.f
		if _, err := tx.ExecContext(ctx, `DELETE FROM finding_refs WHERE finding_id = ?`, f.ID); err != nil {
			return fmt.Errorf("finding %s: %w", f.ID, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO findings (id, kind, subject, summary, score, confidence, start_ns, end_ns, refs, attrs, service, operation)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			f.ID, f.Kind, f.Subject, f.Summary, f.Score, f.Confidence,
			nullInt(f.StartNS), nullInt(f.EndNS), r.refs, r.attrs, nullString(f.Service), nullString(f.Operation)); err != nil {
			return fmt.Errorf("finding %s: %w", f.ID, err)
		}
		for i, ref := range f.Refs {
			if _, err := tx.ExecContext(ctx, `INSERT INTO finding_refs VALUES (?, ?, ?, ?)`,
				f.ID, i, ref.ID, string(ref.Line)); err != nil {
				return fmt.Errorf("finding %s: ref %d: %w", f.ID, i, err)
			}
		}
	}
	// A commit is not interrupted (see writeTx).
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func nullInt(v int64) sql.NullInt64 { return sql.NullInt64{Int64: v, Valid: v != 0} }

func nullString(v string) sql.NullString { return sql.NullString{String: v, Valid: v != ""} }

func scanFinding(r scanner) (evidence.Finding, error) {
	var f evidence.Finding
	var refs, attrs string
	if err := r.Scan(&f.ID, &f.Kind, &f.Subject, &f.Summary, &f.Score, &f.Confidence,
		&f.StartNS, &f.EndNS, &refs, &attrs, &f.Service, &f.Operation); err != nil {
		return f, err
	}
	if err := json.Unmarshal([]byte(refs), &f.Refs); err != nil {
		return f, fmt.Errorf("finding %s: decoding refs: %w", f.ID, err)
	}
	if attrs != "" {
		if err := json.Unmarshal([]byte(attrs), &f.Attrs); err != nil {
			return f, fmt.Errorf("finding %s: decoding attrs: %w", f.ID, err)
		}
	}
	return f, nil
}

// Findings returns the stored findings f selects, ordered by kind, score
// (highest first) and id.
func (s *Store) Findings(ctx context.Context, f evidence.FindingFilter) ([]evidence.Finding, error) {
	var w where
	if len(f.Kinds) > 0 {
		args := make([]any, len(f.Kinds))
		for i, k := range f.Kinds {
			args[i] = k
		}
		w.add("kind IN ("+placeholders(len(args))+")", args...)
	}
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.SinceNS != 0 {
		w.add("(end_ns IS NULL OR end_ns >= ?)", f.SinceNS)
	}
	if f.UntilNS != 0 {
		w.add("(start_ns IS NULL OR start_ns < ?)", f.UntilNS)
	}
	q := `SELECT ` + findingColumns + ` FROM findings` + w.String() + ` ORDER BY kind, score DESC, id`
	q += w.page(f.Limit, f.Offset)
	out, err := queryAll(ctx, s.db, scanFinding, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("querying findings: %w", err)
	}
	return out, nil
}

// LockEdges returns the lock-order edges f selects, ordered by held and
// acquiring lock.
func (s *Store) LockEdges(ctx context.Context, f evidence.LockEdgeFilter) ([]evidence.LockEdge, error) {
	var w where
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.Node != "" {
		w.add("node = ?", f.Node)
	}
	if f.PID != 0 {
		w.add("pid = ?", f.PID)
	}
	if f.SinceNS != 0 {
		w.add("last_ns >= ?", f.SinceNS)
	}
	if f.UntilNS != 0 {
		w.add("first_ns < ?", f.UntilNS)
	}
	q := `SELECT ` + lockEdgeColumns + ` FROM lock_edges` + w.String() + ` ORDER BY held, acquiring`
	q += w.page(f.Limit, f.Offset)
	out, err := queryAll(ctx, s.db, scanLockEdge, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("querying lock edges: %w", err)
	}
	return out, nil
}

// getFinding resolves finding:<hash>, and a statistic id (cp:, ks:) to the
// first stored finding (by id) that cites it.
func (s *Store) getFinding(ctx context.Context, id string) (evidence.Item, error) {
	q := `SELECT ` + findingColumns + ` FROM findings WHERE id = ? LIMIT 1`
	line := evidence.Line("")
	if evidence.IDKind(id) != "finding" {
		q = `SELECT ` + findingColumns + ` FROM findings WHERE id = (SELECT min(finding_id)
			FROM finding_refs WHERE ref_id = ?) LIMIT 1`
		line = evidence.LineTrace
	}
	f, err := scanFinding(s.db.QueryRowContext(ctx, q, id))
	if err != nil {
		return evidence.Item{}, err
	}
	if line != "" {
		for _, r := range f.Refs {
			if r.ID == id {
				line = r.Line
				break
			}
		}
	}
	return evidence.Item{Line: line, Finding: &f}, nil
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?, ", n), ", ") }
