package tools

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

// page is a validated limit and offset.
type page struct{ limit, offset int }

// page validates a limit (0 = the default) and a cursor (a previous
// answer's next_cursor; empty = the first page).
func (t *Toolset) page(limit int, cursor string) (page, error) {
	return t.pageWith(limit, cursor, t.cfg.DefaultLimit)
}

func (t *Toolset) pageWith(limit int, cursor string, def int) (page, error) {
	p := page{limit: min(def, t.cfg.MaxLimit)}
	switch {
	case limit < 0 || limit > t.cfg.MaxLimit:
		return p, argErrorf("limit", "%d: want 1..%d (0 for the default %d)", limit, t.cfg.MaxLimit, p.limit)
	case limit > 0:
		p.limit = limit
	}
	if cursor != "" {
		n, err := strconv.Atoi(cursor)
		if err != nil || n < 0 {
			return p, argErrorf("cursor", "not a next_cursor: pass the next_cursor of a previous answer unchanged")
		}
		p.offset = n
	}
	return p, nil
}

// next returns the cursor after a page that returned n rows and found more
// (more) or not.
func (p page) next(more bool) string {
	if !more {
		return ""
	}
	return strconv.Itoa(p.offset + p.limit)
}

// window is a validated [since, until) in unix ns; 0 is unbounded.
type window struct{ since, until int64 }

// window parses since and until: RFC 3339 times, or durations counted back
// from the end of the stored data (the latest span end), so "10m" is the
// last ten minutes of a recording. With defaultWindow, an empty since means
// the last Config.DefaultWindow.
func (t *Toolset) window(ctx context.Context, since, until string, defaultWindow bool) (window, error) {
	var w window
	var err error
	if since == "" && defaultWindow {
		since = t.cfg.DefaultWindow.String()
	}
	for _, f := range []struct {
		name, val string
		dst       *int64
	}{{"since", since, &w.since}, {"until", until, &w.until}} {
		if f.val == "" {
			continue
		}
		if *f.dst, err = t.parseTime(ctx, f.val); err != nil {
			return w, argErrorf(f.name, "%v", err)
		}
	}
	if w.since != 0 && w.until != 0 && w.until <= w.since {
		return w, argErrorf("until", "%s is not after since %s", fmtNS(w.until), fmtNS(w.since))
	}
	return w, nil
}

func (t *Toolset) parseTime(ctx context.Context, s string) (int64, error) {
	if ts, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return ts.UnixNano(), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("neither an RFC 3339 time (2006-01-02T15:04:05Z) nor a duration before the end of the data (10m)")
	}
	if d < 0 {
		return 0, errors.New("a duration must not be negative")
	}
	end, err := t.dataEnd(ctx)
	if err != nil {
		return 0, err
	}
	return end - int64(d), nil
}

// dataEnd is the end of the stored data (latest span end + 1), cached for
// a few seconds. It asks an evidence.SpanBoundsReader when the reader is
// one (a lookup in column statistics), else Stats, which scans the whole
// store (seconds on ten million spans).
func (t *Toolset) dataEnd(ctx context.Context) (int64, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.end != 0 && t.nowFunc().Sub(t.endAt) < 10*time.Second {
		return t.end, nil
	}
	var end int64
	if br, ok := t.r.(evidence.SpanBoundsReader); ok {
		_, maxEnd, err := br.SpanBounds(ctx)
		if err != nil {
			return 0, fmt.Errorf("reading span bounds: %w", err)
		}
		end = maxEnd
	} else {
		st, err := t.r.Stats(ctx)
		if err != nil {
			return 0, fmt.Errorf("reading store stats: %w", err)
		}
		end = st.MaxEndNS
	}
	t.end, t.endAt = end+1, t.nowFunc()
	return t.end, nil
}

func fmtNS(ns int64) string {
	if ns == 0 {
		return "(open)"
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// fmtOptNS is fmtNS with "" for 0 (omitted from JSON).
func fmtOptNS(ns int64) string {
	if ns == 0 {
		return ""
	}
	return fmtNS(ns)
}

// ms converts nanoseconds to milliseconds, rounded to microseconds.
func ms(ns int64) float64 { return float64(ns/1000) / 1000 }

// parseTraceID validates a trace id argument; it also accepts a span
// evidence ID (span:<trace>/<span>) and takes its trace.
func parseTraceID(field, s string) (evidence.TraceID, error) {
	if rest, ok := strings.CutPrefix(s, "span:"); ok {
		s, _, _ = strings.Cut(rest, "/")
	}
	id, err := evidence.ParseTraceID(strings.ToLower(strings.TrimSpace(s)))
	if err != nil || id.IsZero() {
		return id, argErrorf(field, "want 32 hex digits (a trace id) or a span evidence id span:<trace>/<span>")
	}
	return id, nil
}

// oneOf validates an enum argument.
func oneOf(field, v string, allowed []string) error {
	if v == "" || slices.Contains(allowed, v) {
		return nil
	}
	return argErrorf(field, "want one of %s", strings.Join(allowed, ", "))
}

// truncate shortens s to n bytes (on a rune boundary) with an ellipsis.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }

// refIDs returns the IDs of up to n refs.
func refIDs(refs []evidence.Ref, n int) []string {
	out := make([]string, 0, min(n, len(refs)))
	for _, r := range refs[:min(n, len(refs))] {
		out = append(out, r.ID)
	}
	return out
}

// scanSpans reads the spans of a window newest first, page by page, up to
// Config.MaxScanSpans, and returns them in start order; truncated reports
// that more were there, so the answer covers the latest spans of the
// window, which matter most in an incident. It reads the core fields only
// (evidence.SpanFieldsCore): no attributes, statements or messages.
func (t *Toolset) scanSpans(ctx context.Context, f evidence.SpanFilter) (spans []evidence.Span, truncated bool, err error) {
	f.Newest, f.Fields = true, evidence.SpanFieldsCore
	spans, truncated, err = scanPaged(ctx, t.cfg.MaxScanSpans, func(limit, offset int) ([]evidence.Span, error) {
		f.Limit, f.Offset = limit, offset
		return t.r.Spans(ctx, f)
	})
	slices.Reverse(spans)
	return spans, truncated, err
}

// truncNote tells a summary that a window was truncated to its latest
// spans (spans in start order, as scanSpans returns them).
func truncNote(spans []evidence.Span, truncated bool) string {
	if !truncated || len(spans) == 0 {
		return ""
	}
	return fmt.Sprintf(", truncated to the latest %d spans (from %s): narrow the window to analyse all", len(spans), fmtNS(spans[0].StartNS))
}

// scanKernel reads the kernel events of a window up to MaxScanEvents.
func (t *Toolset) scanKernel(ctx context.Context, f evidence.KernelEventFilter) ([]evidence.KernelEvent, bool, error) {
	return scanPaged(ctx, t.cfg.MaxScanEvents, func(limit, offset int) ([]evidence.KernelEvent, error) {
		f.Limit, f.Offset = limit, offset
		return t.r.KernelEvents(ctx, f)
	})
}

func scanPaged[T any](ctx context.Context, maxItems int, fetch func(limit, offset int) ([]T, error)) ([]T, bool, error) {
	const pageSize = 10_000
	var out []T
	for len(out) <= maxItems {
		if err := ctx.Err(); err != nil {
			return nil, false, err
		}
		want := min(pageSize, maxItems+1-len(out))
		p, err := fetch(want, len(out))
		if err != nil {
			return nil, false, err
		}
		out = append(out, p...)
		if len(p) < want {
			return out, false, nil
		}
	}
	return out[:maxItems], true, nil
}
