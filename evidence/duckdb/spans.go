package duckdb

import (
	"context"
	"fmt"

	"github.com/debugai/debugai/evidence"
)

var _ evidence.SpanBoundsReader = (*Store)(nil)

// spanCoreColumns is spanColumns with the fields evidence.SpanFieldsCore
// leaves empty read as constants, so that scanSpan reads both lists.
const spanCoreColumns = `trace_id, span_id, parent_span_id, '',
		coalesce(service, ''), coalesce(version, ''), coalesce(host, ''), coalesce(name, ''),
		kind, status_code, '', start_ns, end_ns,
		coalesce(thread_id, 0), coalesce(process_pid, 0),
		coalesce(http_route, ''), coalesce(http_method, ''), coalesce(http_status_code, 0),
		'', '', '', coalesce(db_system, ''), '', '',
		coalesce(peer_service, ''), '', ''`

// Spans returns the spans f selects, ordered by start time (newest first
// with f.Newest). Their Events are filled only with f.WithEvents.
//
// It reads a page in one statement of two steps: the page's keys, sorted
// on the three key columns of the rows f selects (span_rows itself when f
// filters on no column the spans view derives from the resource), then the
// page's rows. A page of a window of a million spans thus sorts narrow
// rows, and only the page's rows pay for the view's join and JSON
// extraction; the second step's scan is pruned to the page's start times by
// the join filter.
func (s *Store) Spans(ctx context.Context, f evidence.SpanFilter) ([]evidence.Span, error) {
	w, src := spanWhere(f)
	order := "start_ns, trace_id, span_id"
	if f.Newest {
		order = "start_ns DESC, trace_id DESC, span_id DESC"
	}
	keys := `SELECT trace_id, span_id, start_ns FROM ` + src + w.String() + ` ORDER BY ` + order + w.page(f.Limit, f.Offset)
	cols := spanColumns
	if f.Fields == evidence.SpanFieldsCore {
		cols = spanCoreColumns
	}
	q := `WITH page AS (` + keys + `) SELECT ` + cols +
		` FROM spans SEMI JOIN page USING (trace_id, span_id, start_ns) ORDER BY ` + order
	spans, err := queryAll(ctx, s.db, scanSpan, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("querying spans: %w", err)
	}
	if f.WithEvents && len(spans) > 0 {
		if err := s.fillPageEvents(ctx, spans, `SELECT trace_id, span_id FROM (`+keys+`)`, w.args...); err != nil {
			return nil, fmt.Errorf("querying spans: %w", err)
		}
	}
	return spans, nil
}

// spanWhere returns f's conditions and the relation they apply to:
// span_rows, unless f filters on service or version, which the spans view
// derives from the span's resource.
func spanWhere(f evidence.SpanFilter) (where, string) {
	var w where
	src, dur := "span_rows", "end_ns - start_ns"
	if f.Service != "" || f.Version != "" {
		src, dur = "spans", "duration_ns"
	}
	if f.Service != "" {
		w.add("service = ?", f.Service)
	}
	if f.Name != "" {
		w.add("name = ?", f.Name)
	}
	if f.Version != "" {
		w.add("version = ?", f.Version)
	}
	if !f.TraceID.IsZero() {
		w.add("trace_id = CAST(? AS UUID)", f.TraceID.String())
	}
	if f.SinceNS != 0 {
		w.add("start_ns >= ?", f.SinceNS)
	}
	if f.UntilNS != 0 {
		w.add("start_ns < ?", f.UntilNS)
	}
	if f.MinDurationNS != 0 {
		w.add(dur+" >= ?", f.MinDurationNS)
	}
	if f.Status != nil {
		w.add("status_code = ?", int8(*f.Status))
	}
	return w, src
}

// SpanBounds implements evidence.SpanBoundsReader. DuckDB answers min and
// max of a column from its statistics, without a scan.
func (s *Store) SpanBounds(ctx context.Context) (minStartNS, maxEndNS int64, err error) {
	err = s.db.QueryRowContext(ctx,
		`SELECT coalesce(min(start_ns), 0), coalesce(max(end_ns), 0) FROM span_rows`).Scan(&minStartNS, &maxEndNS)
	if err != nil {
		return 0, 0, fmt.Errorf("querying span bounds: %w", err)
	}
	return minStartNS, maxEndNS, nil
}
