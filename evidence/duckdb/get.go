package duckdb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// Get resolves one evidence ID: span:, sev:, kev:, edge:, log:, res:,
// finding: and the statistics findings report (cp:, ks:, resolved to the
// stored finding citing them).
// A malformed ID wraps evidence.ErrBadID, an unknown one
// evidence.ErrNotFound. A span comes with its events.
func (s *Store) Get(ctx context.Context, id string) (evidence.Item, error) {
	item, err := s.get(ctx, id)
	if errors.Is(err, sql.ErrNoRows) {
		err = evidence.ErrNotFound
	}
	if err != nil {
		return evidence.Item{}, fmt.Errorf("getting evidence: %w", err)
	}
	item.ID = id
	return item, nil
}

func (s *Store) get(ctx context.Context, id string) (evidence.Item, error) {
	kind, rest, _ := strings.Cut(id, ":")
	if rest == "" {
		return evidence.Item{}, evidence.ErrBadID
	}
	switch kind {
	case "span":
		return s.getSpan(ctx, rest)
	case "sev":
		return s.getSpanEvent(ctx, rest)
	case "kev":
		return s.getKernelEvent(ctx, rest)
	case "edge":
		if !strings.Contains(rest, ">") {
			return evidence.Item{}, evidence.ErrBadID
		}
		e, err := scanLockEdge(s.db.QueryRowContext(ctx,
			`SELECT `+lockEdgeColumns+` FROM lock_edges WHERE held || '>' || acquiring = ? LIMIT 1`, rest))
		return evidence.Item{Line: evidence.LineLock, LockEdge: &e}, err
	case "log":
		l, err := scanLog(s.db.QueryRowContext(ctx, `SELECT `+logColumns+` FROM logs WHERE id = ? LIMIT 1`, id))
		return evidence.Item{Line: evidence.LineLog, Log: &l}, err
	case "res":
		r, err := scanResource(s.db.QueryRowContext(ctx,
			`SELECT `+resourceColumns+` FROM resources WHERE id = ? LIMIT 1`, id))
		return evidence.Item{Line: evidence.LineDeploy, Resource: &r}, err
	case "finding", "cp", "ks":
		if s.version < 3 {
			return evidence.Item{}, sql.ErrNoRows
		}
		return s.getFinding(ctx, id)
	}
	return evidence.Item{}, evidence.ErrBadID
}

// parseSpanRef parses "<trace>/<span>" and returns the rest after a further
// '/', if any.
func parseSpanRef(ref string) (evidence.TraceID, evidence.SpanID, string, error) {
	t, rest, ok := strings.Cut(ref, "/")
	if !ok {
		return evidence.TraceID{}, evidence.SpanID{}, "", evidence.ErrBadID
	}
	sp, tail, _ := strings.Cut(rest, "/")
	tid, err := evidence.ParseTraceID(t)
	if err != nil {
		return tid, evidence.SpanID{}, "", err
	}
	sid, err := evidence.ParseSpanID(sp)
	return tid, sid, tail, err
}

func (s *Store) getSpan(ctx context.Context, ref string) (evidence.Item, error) {
	tid, sid, tail, err := parseSpanRef(ref)
	if err != nil {
		return evidence.Item{}, err
	}
	if tail != "" {
		return evidence.Item{}, evidence.ErrBadID
	}
	sp, err := scanSpan(s.db.QueryRowContext(ctx,
		`SELECT `+spanColumns+` FROM spans WHERE trace_id = CAST(? AS UUID) AND span_id = CAST(? AS UBIGINT) LIMIT 1`,
		tid.String(), spanArg(sid)))
	if err != nil {
		return evidence.Item{}, err
	}
	spans := []evidence.Span{sp}
	if err := s.fillEvents(ctx, spans, `trace_id = CAST(? AS UUID) AND span_id = CAST(? AS UBIGINT)`,
		tid.String(), spanArg(sid)); err != nil {
		return evidence.Item{}, err
	}
	return evidence.Item{Line: evidence.LineTrace, Span: &spans[0]}, nil
}

func (s *Store) getSpanEvent(ctx context.Context, ref string) (evidence.Item, error) {
	tid, sid, tail, err := parseSpanRef(ref)
	if err != nil {
		return evidence.Item{}, err
	}
	idx, err := strconv.Atoi(tail)
	if err != nil || idx < 0 {
		return evidence.Item{}, evidence.ErrBadID
	}
	_, _, ev, err := scanSpanEvent(s.db.QueryRowContext(ctx, `SELECT `+spanEventColumns+
		` FROM span_events WHERE trace_id = CAST(? AS UUID) AND span_id = CAST(? AS UBIGINT) AND idx = ? LIMIT 1`,
		tid.String(), spanArg(sid), idx))
	return evidence.Item{Line: evidence.LineTrace, SpanEvent: &ev}, err
}

// getKernelEvent resolves "<node>/<stream>/<seq>"; node and stream may hold
// '/' themselves, so they are matched joined.
func (s *Store) getKernelEvent(ctx context.Context, ref string) (evidence.Item, error) {
	i := strings.LastIndexByte(ref, '/')
	if i <= 0 || !strings.Contains(ref[:i], "/") {
		return evidence.Item{}, evidence.ErrBadID
	}
	seq, err := strconv.ParseUint(ref[i+1:], 10, 64)
	if err != nil {
		return evidence.Item{}, evidence.ErrBadID
	}
	// seq may have its top bit set, which database/sql refuses as a uint64
	// parameter: compare it as text.
	e, err := scanKernelEvent(s.db.QueryRowContext(ctx, `SELECT `+kernelEventColumns+
		` FROM kernel_events WHERE seq = CAST(? AS UBIGINT) AND node || '/' || stream = ? LIMIT 1`,
		strconv.FormatUint(seq, 10), ref[:i]))
	if err != nil {
		return evidence.Item{}, err
	}
	return evidence.Item{Line: e.Type.Line(), KernelEvent: &e}, nil
}
