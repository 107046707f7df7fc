package duckdb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/debugai/debugai/evidence"
)

var (
	_ evidence.ReportWriter = (*Store)(nil)
	_ evidence.ReportReader = (*Store)(nil)
)

// WriteReport stores r, replacing a stored report with the same ID. The ID
// and title must not be empty and the body must be valid JSON.
func (s *Store) WriteReport(ctx context.Context, r evidence.StoredReport) error {
	switch {
	case s.readOnly:
		return fmt.Errorf("writing report to %s: store is read-only", s.path)
	case r.ID == "":
		return fmt.Errorf("writing report to %s: empty id", s.path)
	case !json.Valid(r.Body):
		return fmt.Errorf("writing report %q to %s: body is not valid JSON", r.ID, s.path)
	}
	w, err := s.acquire(ctx)
	if err != nil {
		return fmt.Errorf("writing report %q to %s: %w", r.ID, s.path, err)
	}
	defer func() { s.idle <- w }()
	if _, err := w.conn.ExecContext(ctx, `INSERT OR REPLACE INTO reports VALUES (?, ?, ?, ?, ?)`,
		r.ID, r.CreatedNS, r.Status, r.Title, string(r.Body)); err != nil {
		return fmt.Errorf("writing report %q to %s: %w", r.ID, s.path, err)
	}
	return nil
}

// Reports lists the stored reports f selects, newest first, without bodies.
func (s *Store) Reports(ctx context.Context, f evidence.ReportFilter) ([]evidence.StoredReport, error) {
	if s.version < 4 {
		return nil, nil
	}
	var w where
	if f.Status != "" {
		w.add("status = ?", f.Status)
	}
	q := `SELECT id, created_ns, status, title FROM reports` + w.String() +
		` ORDER BY created_ns DESC, id` + w.page(f.Limit, f.Offset)
	out, err := queryAll(ctx, s.db, func(r scanner) (evidence.StoredReport, error) {
		var rep evidence.StoredReport
		return rep, r.Scan(&rep.ID, &rep.CreatedNS, &rep.Status, &rep.Title)
	}, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("querying reports: %w", err)
	}
	return out, nil
}

// Report reads one stored report with its body.
func (s *Store) Report(ctx context.Context, id string) (evidence.StoredReport, error) {
	var rep evidence.StoredReport
	if s.version < 4 {
		return rep, fmt.Errorf("report: %w", evidence.ErrNotFound)
	}
	var body string
	err := s.db.QueryRowContext(ctx, `SELECT id, created_ns, status, title, body FROM reports WHERE id = ?`, id).
		Scan(&rep.ID, &rep.CreatedNS, &rep.Status, &rep.Title, &body)
	if errors.Is(err, sql.ErrNoRows) {
		return rep, fmt.Errorf("report: %w", evidence.ErrNotFound)
	}
	if err != nil {
		return rep, fmt.Errorf("reading a report: %w", err)
	}
	rep.Body = []byte(body)
	return rep, nil
}
