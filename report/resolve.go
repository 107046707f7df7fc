package report

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// resolver resolves evidence IDs through a Reader, once each.
type resolver struct {
	r     evidence.Reader
	items map[string]*evidence.Item // nil: not stored (or malformed)
}

func newResolver(r evidence.Reader) *resolver {
	return &resolver{r: r, items: map[string]*evidence.Item{}}
}

// get returns the stored item for id, nil when the store has none. Store
// failures other than not-found and malformed IDs are returned.
func (rs *resolver) get(ctx context.Context, id string) (*evidence.Item, error) {
	if it, ok := rs.items[id]; ok {
		return it, nil
	}
	item, err := rs.r.Get(ctx, id)
	switch {
	case errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrBadID):
		rs.items[id] = nil
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("resolving %q: %w", id, err)
	}
	rs.items[id] = &item
	return &item, nil
}

// citation resolves id into a Citation.
func (rs *resolver) citation(ctx context.Context, id string) (Citation, error) {
	it, err := rs.get(ctx, id)
	if err != nil || it == nil {
		return Citation{ID: id}, err
	}
	return Citation{ID: id, Line: it.Line, Resolved: true, Text: describe(it), TimeNS: it.TimeNS()}, nil
}

// describe says what a stored item is, from its stored fields only.
func describe(it *evidence.Item) string {
	switch {
	case it.Span != nil:
		return describeSpan(it.Span)
	case it.SpanEvent != nil:
		return "span event " + strconv.Quote(it.SpanEvent.Name)
	case it.KernelEvent != nil:
		return describeKernelEvent(it.KernelEvent)
	case it.LockEdge != nil:
		e := it.LockEdge
		return fmt.Sprintf("lock order: %s held%s, then %s taken%s (%d times, %s on %s)",
			strconv.Quote(e.Held), at(e.HeldSite), strconv.Quote(e.Acquiring), at(e.AcquiringSite),
			e.Count, orDash(e.Service), orDash(e.Node))
	case it.Log != nil:
		l := it.Log
		return fmt.Sprintf("log record %s of %s, event %s", orDash(l.SeverityText), orDash(l.Service), strconv.Quote(l.EventName))
	case it.Resource != nil:
		r := it.Resource
		return fmt.Sprintf("resource: service %s version %s on %s", orDash(r.Service), orDash(r.Version), orDash(r.Node))
	case it.Finding != nil:
		f := it.Finding
		return fmt.Sprintf("finding %s on %s: %s", f.Kind, strconv.Quote(f.Subject), f.Summary)
	}
	return "stored item"
}

func describeSpan(s *evidence.Span) string {
	var b strings.Builder
	fmt.Fprintf(&b, "span %s of %s took %s", strconv.Quote(s.Name), orDash(s.Service), fmtDur(s.DurationNS()))
	if s.StatusCode == evidence.StatusError {
		b.WriteString(", status error")
	}
	if s.Version != "" {
		b.WriteString(", version " + s.Version)
	}
	if s.Host != "" {
		b.WriteString(", host " + s.Host)
	}
	return b.String()
}

func describeKernelEvent(e *evidence.KernelEvent) string {
	var b strings.Builder
	b.WriteString("kernel " + string(e.Type))
	switch {
	case e.DurationNS > 0:
		b.WriteString(" " + fmtDur(e.DurationNS))
	case e.Value > 0:
		b.WriteString(" x" + strconv.FormatInt(e.Value, 10))
	}
	fmt.Fprintf(&b, " on %s (pid %d, tid %d", orDash(e.Node), e.PID, e.TID)
	if v, ok := e.Attrs.Get(evidence.AttrLockName); ok {
		b.WriteString(", lock " + strconv.Quote(v.String()))
	}
	if e.Service != "" {
		b.WriteString(", " + e.Service)
	}
	b.WriteString(")")
	return b.String()
}

func at(site string) string {
	if site == "" {
		return ""
	}
	return " at " + site
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// fmtDur formats ns with fixed precision: 1.20s, 12.3ms, 45.6µs, 789ns.
func fmtDur(ns int64) string {
	f := float64(ns)
	switch a := max(ns, -ns); {
	case a >= 1e9:
		return strconv.FormatFloat(f/1e9, 'f', 2, 64) + "s"
	case a >= 1e6:
		return strconv.FormatFloat(f/1e6, 'f', 1, 64) + "ms"
	case a >= 1e3:
		return strconv.FormatFloat(f/1e3, 'f', 1, 64) + "µs"
	}
	return strconv.FormatInt(ns, 10) + "ns"
}
