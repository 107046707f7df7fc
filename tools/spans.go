package tools

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// statusNames are the span statuses query_spans filters on.
var statusNames = []string{"unset", "ok", "error"}

// spanOrders are the orders query_spans lists in.
var spanOrders = []string{"oldest", "newest"}

// SpanRow is one span.
type SpanRow struct {
	ID         string  `json:"id" jsonschema:"span:<trace>/<span>"`
	Service    string  `json:"service"`
	Name       string  `json:"name"`
	Version    string  `json:"version,omitempty"`
	Start      string  `json:"start" jsonschema:"RFC 3339"`
	DurationMS float64 `json:"duration_ms"`
	Status     string  `json:"status,omitempty" jsonschema:"ok or error; omitted when unset"`
	Parent     string  `json:"parent,omitempty" jsonschema:"parent span id (hex); omitted for a root"`
	// Detail is the span's kept semantic attributes in short form (HTTP
	// method, route and status, RPC, SQL fingerprint, peer).
	Detail string `json:"detail,omitempty"`
}

func spanRow(s *evidence.Span) SpanRow {
	row := SpanRow{ID: s.ID(), Service: s.Service, Name: s.Name, Version: s.Version, Start: fmtNS(s.StartNS),
		DurationMS: ms(s.DurationNS()), Detail: spanDetail(s)}
	switch s.StatusCode {
	case evidence.StatusOK:
		row.Status = "ok"
	case evidence.StatusError:
		row.Status = "error"
	}
	if !s.ParentSpanID.IsZero() {
		row.Parent = s.ParentSpanID.String()
	}
	return row
}

func spanDetail(s *evidence.Span) string {
	var parts []string
	add := func(v string) {
		if v != "" {
			parts = append(parts, v)
		}
	}
	add(s.HTTPMethod)
	add(s.HTTPRoute)
	if s.HTTPStatusCode != 0 {
		add(strconv.FormatInt(s.HTTPStatusCode, 10))
	}
	if s.RPCMethod != "" {
		add("rpc " + s.RPCService + "/" + s.RPCMethod)
	}
	if s.DBSystem != "" {
		add("db " + s.DBSystem)
	}
	add(truncate(s.DBStatement, 80))
	if s.PeerService != "" {
		add("peer " + s.PeerService)
	}
	if s.ExceptionType != "" {
		add("exception " + s.ExceptionType)
	}
	return strings.Join(parts, " ")
}

// QuerySpansInput selects spans.
type QuerySpansInput struct {
	Service       string  `json:"service,omitempty" jsonschema:"service.name (exact)"`
	Name          string  `json:"name,omitempty" jsonschema:"span name (exact), e.g. 'GET /dispatch'"`
	Version       string  `json:"version,omitempty" jsonschema:"service.version (exact)"`
	TraceID       string  `json:"trace_id,omitempty" jsonschema:"32 hex digits"`
	Since         string  `json:"since,omitempty" jsonschema:"span start at or after: RFC 3339 time or a duration before the end of the stored data (default without trace_id: the last 5m)"`
	Until         string  `json:"until,omitempty" jsonschema:"span start before (same forms as since)"`
	MinDurationMS float64 `json:"min_duration_ms,omitempty" jsonschema:"keep spans at least this long"`
	Status        string  `json:"status,omitempty" jsonschema:"unset, ok or error"`
	Order         string  `json:"order,omitempty" jsonschema:"oldest (default: start order) or newest (newest first: the first page holds the latest spans)"`
	Limit         int     `json:"limit,omitempty" jsonschema:"rows per page (default 20, at most 100)"`
	Cursor        string  `json:"cursor,omitempty" jsonschema:"next_cursor of the previous page"`
}

// SpansOutput is a page of spans in start order (or newest first).
type SpansOutput struct {
	Summary    string    `json:"summary"`
	Spans      []SpanRow `json:"spans"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// QuerySpans lists spans matching a filter, in start order or newest
// first.
func (t *Toolset) QuerySpans(ctx context.Context, in QuerySpansInput) (SpansOutput, error) {
	out := SpansOutput{Spans: []SpanRow{}}
	pg, err := t.page(in.Limit, in.Cursor)
	if err != nil {
		return out, err
	}
	f, err := spanFilter(&in)
	if err != nil {
		return out, err
	}
	f.Limit, f.Offset = pg.limit+1, pg.offset
	w, err := t.window(ctx, in.Since, in.Until, in.TraceID == "")
	if err != nil {
		return out, err
	}
	f.SinceNS, f.UntilNS = w.since, w.until
	spans, err := t.r.Spans(ctx, f)
	if err != nil {
		return out, fmt.Errorf("reading spans: %w", err)
	}
	more := len(spans) > pg.limit
	spans = spans[:min(len(spans), pg.limit)]
	var maxNS, errs int64
	for i := range spans {
		out.Spans = append(out.Spans, spanRow(&spans[i]))
		maxNS = max(maxNS, spans[i].DurationNS())
		if spans[i].StatusCode == evidence.StatusError {
			errs++
		}
	}
	out.NextCursor = pg.next(more)
	if len(spans) == 0 {
		out.Summary = "no spans match"
		return out, nil
	}
	order := "in start order"
	if f.Newest {
		order = "newest first"
	}
	out.Summary = fmt.Sprintf("spans %d-%d %s (%s more); on this page: longest %.1fms, %d errors",
		pg.offset+1, pg.offset+len(spans), order, map[bool]string{true: "there are", false: "no"}[more], ms(maxNS), errs)
	return out, nil
}

// spanFilter validates query_spans' filter arguments (all but the window
// and the page).
func spanFilter(in *QuerySpansInput) (evidence.SpanFilter, error) {
	f := evidence.SpanFilter{Service: in.Service, Name: in.Name, Version: in.Version, Newest: in.Order == "newest"}
	if err := oneOf("status", in.Status, statusNames); err != nil {
		return f, err
	}
	if err := oneOf("order", in.Order, spanOrders); err != nil {
		return f, err
	}
	if in.Status != "" {
		st := evidence.StatusCode(slices.Index(statusNames, in.Status))
		f.Status = &st
	}
	if in.MinDurationMS < 0 {
		return f, argErrorf("min_duration_ms", "%v must not be negative", in.MinDurationMS)
	}
	f.MinDurationNS = int64(in.MinDurationMS * 1e6)
	if in.TraceID != "" {
		var err error
		if f.TraceID, err = parseTraceID("trace_id", in.TraceID); err != nil {
			return f, err
		}
	}
	return f, nil
}
