package duckdb

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/debugai/debugai/evidence"
)

// Column lists shared by the queries and their scan functions. NULL reads
// back as the zero value.
const (
	spanColumns = `trace_id, span_id, parent_span_id, coalesce(resource_id, ''),
		coalesce(service, ''), coalesce(version, ''), coalesce(host, ''), coalesce(name, ''),
		kind, status_code, coalesce(status_message, ''), start_ns, end_ns,
		coalesce(thread_id, 0), coalesce(process_pid, 0),
		coalesce(http_route, ''), coalesce(http_method, ''), coalesce(http_status_code, 0),
		coalesce(rpc_system, ''), coalesce(rpc_service, ''), coalesce(rpc_method, ''),
		coalesce(db_system, ''), coalesce(db_statement, ''), coalesce(db_query_id, ''),
		coalesce(peer_service, ''), coalesce(exception_type, ''), coalesce(attrs, '')`
	spanEventColumns   = `trace_id, span_id, idx, time_ns, coalesce(name, ''), coalesce(attrs, '')`
	kernelEventColumns = `node, stream, seq, type, coalesce(resource_id, ''), coalesce(service, ''),
		time_ns, duration_ns, coalesce(pid, 0), coalesce(tid, 0), coalesce(cgroup_id, 0),
		trace_id, span_id, coalesce(addr, 0),
		coalesce(waker_tid, 0), coalesce(value, 0), coalesce(attrs, '')`
	lockEdgeColumns = `held, acquiring, coalesce(node, ''), coalesce(resource_id, ''),
		coalesce(service, ''), coalesce(pid, 0), coalesce(held_site, ''),
		coalesce(acquiring_site, ''), count, first_ns, last_ns`
	logColumns = `id, coalesce(resource_id, ''), coalesce(service, ''), time_ns, severity,
		coalesce(severity_text, ''), coalesce(event_name, ''), trace_id, span_id,
		coalesce(attrs, '')`
	resourceColumns = `id, coalesce(service, ''), coalesce(version, ''), coalesce(environment, ''),
		coalesce(host, ''), coalesce(node, ''), coalesce(attrs, '')`
)

// scanner is *sql.Rows or *sql.Row.
type scanner interface{ Scan(dest ...any) error }

func scanSpan(r scanner) (evidence.Span, error) {
	var sp evidence.Span
	var tid traceScan
	var sid, pid spanScan
	var attrs string
	var kind, status int8
	err := r.Scan(&tid, &sid, &pid, &sp.ResourceID, &sp.Service, &sp.Version, &sp.Host, &sp.Name,
		&kind, &status, &sp.StatusMessage, &sp.StartNS, &sp.EndNS, &sp.ThreadID, &sp.ProcessPID,
		&sp.HTTPRoute, &sp.HTTPMethod, &sp.HTTPStatusCode, &sp.RPCSystem, &sp.RPCService, &sp.RPCMethod,
		&sp.DBSystem, &sp.DBStatement, &sp.DBQueryID, &sp.PeerService, &sp.ExceptionType, &attrs)
	if err != nil {
		return sp, err
	}
	sp.Kind, sp.StatusCode = evidence.SpanKind(kind), evidence.StatusCode(status)
	sp.TraceID, sp.SpanID, sp.ParentSpanID = tid.id, sid.id, pid.id
	sp.Attrs, err = decodeAttrs(attrs)
	return sp, err
}

// traceScan scans a UUID column into a trace id; NULL is the zero id.
type traceScan struct{ id evidence.TraceID }

func (t *traceScan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		t.id = evidence.TraceID{}
	case []byte:
		if len(x) != len(t.id) {
			return fmt.Errorf("trace id: %d bytes", len(x))
		}
		copy(t.id[:], x)
	default:
		var u duckdb.UUID
		if err := u.Scan(v); err != nil {
			return fmt.Errorf("trace id: %w", err)
		}
		t.id = evidence.TraceID(u)
	}
	return nil
}

// spanScan scans a UBIGINT column into a span id; NULL is the zero id.
type spanScan struct{ id evidence.SpanID }

func (s *spanScan) Scan(v any) error {
	switch x := v.(type) {
	case nil:
		s.id = evidence.SpanID{}
	case uint64:
		binary.BigEndian.PutUint64(s.id[:], x)
	case int64:
		binary.BigEndian.PutUint64(s.id[:], uint64(x))
	default:
		return fmt.Errorf("span id: unexpected %T", v)
	}
	return nil
}

// spanArg formats a span id as a query argument, for CAST(? AS UBIGINT):
// database/sql refuses uint64 arguments with the top bit set.
func spanArg(s evidence.SpanID) string { return strconv.FormatUint(spanUint(s), 10) }

func scanSpanEvent(r scanner) (evidence.TraceID, evidence.SpanID, evidence.SpanEvent, error) {
	var ev evidence.SpanEvent
	var tid traceScan
	var sid spanScan
	var attrs string
	if err := r.Scan(&tid, &sid, &ev.Index, &ev.TimeNS, &ev.Name, &attrs); err != nil {
		return tid.id, sid.id, ev, err
	}
	var err error
	ev.Attrs, err = decodeAttrs(attrs)
	return tid.id, sid.id, ev, err
}

func scanKernelEvent(r scanner) (evidence.KernelEvent, error) {
	var e evidence.KernelEvent
	var typ, attrs string
	var tid traceScan
	var sid spanScan
	err := r.Scan(&e.Node, &e.Stream, &e.Seq, &typ, &e.ResourceID, &e.Service, &e.TimeNS, &e.DurationNS,
		&e.PID, &e.TID, &e.CgroupID, &tid, &sid, &e.Addr, &e.WakerTID, &e.Value, &attrs)
	if err != nil {
		return e, err
	}
	e.Type = evidence.KernelEventType(typ)
	e.TraceID, e.SpanID = tid.id, sid.id
	e.Attrs, err = decodeAttrs(attrs)
	return e, err
}

func scanLockEdge(r scanner) (evidence.LockEdge, error) {
	var e evidence.LockEdge
	err := r.Scan(&e.Held, &e.Acquiring, &e.Node, &e.ResourceID, &e.Service, &e.PID,
		&e.HeldSite, &e.AcquiringSite, &e.Count, &e.FirstNS, &e.LastNS)
	return e, err
}

func scanLog(r scanner) (evidence.LogRecord, error) {
	var l evidence.LogRecord
	var attrs string
	var tid traceScan
	var sid spanScan
	err := r.Scan(&l.ID, &l.ResourceID, &l.Service, &l.TimeNS, &l.Severity, &l.SeverityText,
		&l.EventName, &tid, &sid, &attrs)
	if err != nil {
		return l, err
	}
	l.TraceID, l.SpanID = tid.id, sid.id
	l.Attrs, err = decodeAttrs(attrs)
	return l, err
}

func scanResource(r scanner) (evidence.Resource, error) {
	var res evidence.Resource
	var attrs string
	err := r.Scan(&res.ID, &res.Service, &res.Version, &res.Environment, &res.Host, &res.Node, &attrs)
	if err != nil {
		return res, err
	}
	res.Attrs, err = decodeAttrs(attrs)
	return res, err
}

// queryAll runs q and scans every row with scan.
func queryAll[T any](ctx context.Context, db *sql.DB, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// where accumulates SQL conditions and their arguments.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page appends LIMIT and OFFSET.
func (w *where) page(limit, offset int) string {
	if limit <= 0 {
		limit = evidence.DefaultLimit
	}
	w.args = append(w.args, limit, max(offset, 0))
	return " LIMIT ? OFFSET ?"
}

// fillPageEvents attaches the events of the spans that sub (a query of
// trace_id, span_id) selects: one query however many spans the page holds.
func (s *Store) fillPageEvents(ctx context.Context, spans []evidence.Span, sub string, args ...any) error {
	index := make(map[spanKey]int, len(spans))
	for i := range spans {
		index[spanKey{spans[i].TraceID, spanUint(spans[i].SpanID)}] = i
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+spanEventColumns+` FROM span_events
		WHERE (trace_id, span_id) IN (SELECT (trace_id, span_id) FROM (`+sub+`))
		ORDER BY trace_id, span_id, idx`, args...)
	if err != nil {
		return fmt.Errorf("span events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, sid, ev, err := scanSpanEvent(rows)
		if err != nil {
			return fmt.Errorf("span events: %w", err)
		}
		if i, ok := index[spanKey{t, spanUint(sid)}]; ok {
			spans[i].Events = append(spans[i].Events, ev)
		}
	}
	return rows.Err()
}

// Trace returns every span of a trace ordered by start time, each with its
// events (ordered by index).
func (s *Store) Trace(ctx context.Context, id evidence.TraceID) ([]evidence.Span, error) {
	hexID := id.String()
	spans, err := queryAll(ctx, s.db, scanSpan,
		`SELECT `+spanColumns+` FROM spans WHERE trace_id = CAST(? AS UUID) ORDER BY start_ns, span_id`, hexID)
	if err != nil {
		return nil, fmt.Errorf("querying trace %s: %w", hexID, err)
	}
	if len(spans) == 0 {
		return nil, nil
	}
	if err := s.fillEvents(ctx, spans, `trace_id = CAST(? AS UUID)`, hexID); err != nil {
		return nil, fmt.Errorf("querying trace %s: %w", hexID, err)
	}
	return spans, nil
}

// fillEvents loads the span events matching cond and attaches them to spans.
func (s *Store) fillEvents(ctx context.Context, spans []evidence.Span, cond string, args ...any) error {
	index := make(map[evidence.SpanID]int, len(spans))
	for i := range spans {
		index[spans[i].SpanID] = i
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+spanEventColumns+` FROM span_events WHERE `+cond+
		` ORDER BY span_id, idx`, args...)
	if err != nil {
		return fmt.Errorf("span events: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		t, sid, ev, err := scanSpanEvent(rows)
		if err != nil {
			return fmt.Errorf("span events: %w", err)
		}
		if i, ok := index[sid]; ok && spans[i].TraceID == t {
			spans[i].Events = append(spans[i].Events, ev)
		}
	}
	return rows.Err()
}

// KernelEvents returns the kernel events f selects, ordered by time.
func (s *Store) KernelEvents(ctx context.Context, f evidence.KernelEventFilter) ([]evidence.KernelEvent, error) {
	var w where
	if f.Node != "" {
		w.add("node = ?", f.Node)
	}
	if f.PID != 0 {
		w.add("pid = ?", f.PID)
	}
	if f.TID != 0 {
		w.add("tid = ?", f.TID)
	}
	if len(f.Types) > 0 {
		ph := strings.TrimSuffix(strings.Repeat("?, ", len(f.Types)), ", ")
		args := make([]any, len(f.Types))
		for i, t := range f.Types {
			args[i] = string(t)
		}
		w.add("type IN ("+ph+")", args...)
	}
	if !f.TraceID.IsZero() {
		w.add("trace_id = CAST(? AS UUID)", f.TraceID.String())
	}
	if f.SinceNS != 0 {
		w.add("time_ns >= ?", f.SinceNS)
	}
	if f.UntilNS != 0 {
		w.add("time_ns < ?", f.UntilNS)
	}
	q := `SELECT ` + kernelEventColumns + ` FROM kernel_events` + w.String() + ` ORDER BY time_ns, node, stream, seq`
	q += w.page(f.Limit, f.Offset)
	evs, err := queryAll(ctx, s.db, scanKernelEvent, q, w.args...)
	if err != nil {
		return nil, fmt.Errorf("querying kernel events: %w", err)
	}
	return evs, nil
}

// Audit returns the accumulated privacy audit counts sorted by source, key
// and action.
func (s *Store) Audit(ctx context.Context) ([]evidence.AuditCount, error) {
	out, err := queryAll(ctx, s.db, func(r scanner) (evidence.AuditCount, error) {
		var c evidence.AuditCount
		err := r.Scan(&c.Source, &c.Key, &c.Action, &c.Count)
		return c, err
	}, `SELECT source, key, action, count FROM audit ORDER BY source, key, action`)
	if err != nil {
		return nil, fmt.Errorf("querying audit: %w", err)
	}
	return out, nil
}

// Stats counts what the store holds.
func (s *Store) Stats(ctx context.Context) (evidence.Stats, error) {
	st := evidence.Stats{SchemaVersion: s.version}
	err := s.db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM resources),
		(SELECT count(DISTINCT trace_id) FROM span_rows),
		(SELECT count(*) FROM span_rows),
		(SELECT count(*) FROM span_events),
		(SELECT count(*) FROM kernel_events),
		(SELECT count(*) FROM lock_edges),
		(SELECT count(*) FROM logs),
		(SELECT coalesce(min(start_ns), 0) FROM span_rows),
		(SELECT coalesce(max(end_ns), 0) FROM span_rows),
		(SELECT coalesce(min(t), 0) FROM (SELECT min(start_ns) AS t FROM span_rows
			UNION ALL SELECT min(time_ns) FROM kernel_events UNION ALL SELECT min(first_ns) FROM lock_edges)),
		(SELECT coalesce(max(t), 0) FROM (SELECT max(end_ns) AS t FROM span_rows
			UNION ALL SELECT max(time_ns) FROM kernel_events UNION ALL SELECT max(last_ns) FROM lock_edges))`).Scan(
		&st.Resources, &st.Traces, &st.Spans, &st.SpanEvents, &st.KernelEvents,
		&st.LockEdges, &st.Logs, &st.MinStartNS, &st.MaxEndNS, &st.EvidenceMinNS, &st.EvidenceMaxNS)
	if err != nil {
		return st, fmt.Errorf("querying stats: %w", err)
	}
	st.Services, err = queryAll(ctx, s.db, func(r scanner) (string, error) {
		var v string
		err := r.Scan(&v)
		return v, err
	}, `SELECT service FROM spans WHERE service IS NOT NULL
		UNION SELECT service FROM resources WHERE service IS NOT NULL
		UNION SELECT service FROM kernel_events WHERE service IS NOT NULL
		ORDER BY 1`)
	if err != nil {
		return st, fmt.Errorf("querying stats: services: %w", err)
	}
	return st, nil
}
