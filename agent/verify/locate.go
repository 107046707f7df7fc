package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// Bounds of the reads that place evidence in a service.
const (
	// processNearNS is how far around an item's time the spans of its
	// process are looked for first; past it, the incident window is.
	processNearNS = 10e9
	// processScanSpans bounds each of those two reads.
	processScanSpans = 20_000
	// traceScanSpans bounds the read of one trace (a caller's callees).
	traceScanSpans = 2_000
	// maxFindingRefs bounds the refs of one finding that are resolved.
	maxFindingRefs = 64
	// maxFindingDepth bounds findings citing findings.
	maxFindingDepth = 2
	// baselineScanSpans bounds the baseline spans of one operation read
	// per baseline window.
	baselineScanSpans = 1_000
)

// part is what one cited item (or one ref of a cited finding) is about:
// the services it resolves to (none: unlocated) and its evidence lines.
type part struct {
	services []string
	lines    []evidence.Line
}

// procKey names a process: its node and pid.
type procKey struct {
	node string
	pid  int64
}

// locator places evidence in services. It caches what it reads for the
// duration of one verification.
type locator struct {
	r     Resolver
	scope hypothesis.Scope
	slack int64

	known    map[string]bool
	procs    map[procKey][]string
	spanSvc  map[string][]string // span evidence ID -> its service and callees
	baseline map[[2]string][]int64
	stats    []string // services of Stats, when read
	statsOK  bool
}

func newLocator(r Resolver, scope hypothesis.Scope, slack int64) *locator {
	return &locator{r: r, scope: scope, slack: slack, known: map[string]bool{}, procs: map[procKey][]string{},
		spanSvc: map[string][]string{}, baseline: map[[2]string][]int64{}}
}

// statsReader is implemented by stores that count what they hold
// (evidence.Reader does); it names services known only from resources.
type statsReader interface {
	Stats(ctx context.Context) (evidence.Stats, error)
}

// knownService reports whether a stored span, resource or kernel event
// carries service s (exactly: names are not case-folded or trimmed).
func (l *locator) knownService(ctx context.Context, s string) (bool, error) {
	if s == "" {
		return false, nil
	}
	if k, ok := l.known[s]; ok {
		return k, nil
	}
	spans, err := l.r.Spans(ctx, evidence.SpanFilter{Service: s, Limit: 1, Fields: evidence.SpanFieldsCore})
	if err != nil {
		return false, fmt.Errorf("looking up a service: %w", err)
	}
	k := len(spans) > 0
	if !k {
		if sr, ok := l.r.(statsReader); ok {
			if !l.statsOK {
				st, err := sr.Stats(ctx)
				if err != nil {
					return false, fmt.Errorf("looking up a service: %w", err)
				}
				l.stats, l.statsOK = st.Services, true
			}
			k = slices.Contains(l.stats, s)
		}
	}
	l.known[s] = k
	return k, nil
}

// knownEndpoint reports whether service has a span named endpoint in the
// incident window (widened by the slack). An endpoint written as a call,
// "name -> callee/name", is known when its caller's name is.
func (l *locator) knownEndpoint(ctx context.Context, service, endpoint string) (bool, error) {
	names := []string{endpoint}
	if caller, _, ok := strings.Cut(endpoint, " -> "); ok {
		names = append(names, caller)
	}
	f := evidence.SpanFilter{Service: service, Limit: 1, Fields: evidence.SpanFieldsCore}
	if l.scope.SinceNS != 0 {
		f.SinceNS = l.scope.SinceNS - l.slack
	}
	if l.scope.UntilNS != 0 {
		f.UntilNS = l.scope.UntilNS + l.slack
	}
	for _, n := range names {
		f.Name = n
		spans, err := l.r.Spans(ctx, f)
		if err != nil {
			return false, fmt.Errorf("looking up an endpoint: %w", err)
		}
		if len(spans) > 0 {
			return true, nil
		}
	}
	return false, nil
}

// parts resolves a cited item to what it is about. A finding whose subject
// names a stored service is about that service and stands for the lines
// of its resolved refs; any other finding is one part per resolved ref.
func (l *locator) parts(ctx context.Context, item evidence.Item) ([]part, error) {
	if item.Finding == nil {
		svcs, err := l.services(ctx, item)
		if err != nil {
			return nil, err
		}
		return []part{{services: svcs, lines: linesOf(item)}}, nil
	}
	return l.findingParts(ctx, item, map[string]bool{}, 0)
}

func (l *locator) findingParts(ctx context.Context, item evidence.Item, seen map[string]bool, depth int) ([]part, error) {
	f := item.Finding
	seen[f.ID] = true
	var refParts []part
	if item.Line != "" && item.Line != evidence.LineUnclassified && item.ID != f.ID {
		// A statistic (cp:, ks:) resolved to the finding that reports it:
		// the statistic is on its own line.
		refParts = append(refParts, part{lines: []evidence.Line{item.Line}})
	}
	for i, ref := range f.Refs {
		if i >= maxFindingRefs {
			break
		}
		if seen[ref.ID] || ref.ID == item.ID {
			continue // a finding citing itself adds nothing
		}
		it, err := l.r.Get(ctx, ref.ID)
		switch {
		case errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrBadID):
			continue
		case err != nil:
			return nil, fmt.Errorf("resolving %s, cited by %s: %w", ref.ID, f.ID, err)
		}
		switch {
		case it.Finding == nil:
			svcs, err := l.services(ctx, it)
			if err != nil {
				return nil, err
			}
			refParts = append(refParts, part{services: svcs, lines: linesOf(it)})
		case it.Finding.ID == f.ID || seen[it.Finding.ID] || depth+1 >= maxFindingDepth:
			// A statistic this finding reports, or a finding already
			// followed: its own line only.
			if it.Line != "" && it.Line != evidence.LineUnclassified {
				refParts = append(refParts, part{lines: []evidence.Line{it.Line}})
			}
		default:
			ps, err := l.findingParts(ctx, it, seen, depth+1)
			if err != nil {
				return nil, err
			}
			refParts = append(refParts, ps...)
		}
	}
	svc, err := l.findingService(ctx, f)
	if err != nil || svc == "" {
		return refParts, err
	}
	p := part{services: []string{svc}}
	for _, rp := range refParts {
		p.lines = append(p.lines, rp.lines...)
	}
	slices.Sort(p.lines)
	return []part{{services: p.services, lines: slices.Compact(p.lines)}}, nil
}

// findingService is the stored service a finding is about: where the
// ranking model placed it (Finding.Service, computed by debugai's own
// detectors from the evidence, never by an investigator), else the one its
// subject starts with.
func (l *locator) findingService(ctx context.Context, f *evidence.Finding) (string, error) {
	if f.Service != "" {
		k, err := l.knownService(ctx, f.Service)
		if err != nil || k {
			return f.Service, err
		}
	}
	return l.subjectService(ctx, f.Subject)
}

// subjectService is the stored service a finding's subject starts with
// ("ledger POST /entries p95", "bank/list -> db/get"), "" when it names
// none (a lock address, a lock pair).
func (l *locator) subjectService(ctx context.Context, subject string) (string, error) {
	var cands []string
	for i, r := range subject {
		if (r == '/' || r == ' ') && i > 0 {
			cands = append(cands, subject[:i])
			if len(cands) == 4 {
				break
			}
		}
	}
	cands = append(cands, subject)
	for _, c := range cands {
		k, err := l.knownService(ctx, c)
		if err != nil || k {
			return c, err
		}
	}
	return "", nil
}

// services resolves an item other than a finding to the services it is
// about: a span's own service and the services it calls (its children in
// other services: a caller's span is evidence about the call); a span
// event's span; a kernel event's, lock edge's or log record's service,
// else the span it is stamped with, else the services of the stored spans
// of its process (node and pid); a resource's service.
func (l *locator) services(ctx context.Context, item evidence.Item) ([]string, error) {
	switch {
	case item.Span != nil:
		return l.spanServices(ctx, *item.Span)
	case item.SpanEvent != nil:
		id, ok := spanOfEvent(item.ID)
		if !ok {
			return nil, nil
		}
		return l.stampedServices(ctx, id)
	case item.KernelEvent != nil:
		k := item.KernelEvent
		if k.Service != "" {
			return []string{k.Service}, nil
		}
		if !k.TraceID.IsZero() && !k.SpanID.IsZero() {
			if s, err := l.stampedServices(ctx, evidence.SpanEvidenceID(k.TraceID, k.SpanID)); err != nil || len(s) > 0 {
				return s, err
			}
		}
		return l.processServices(ctx, procKey{k.Node, k.PID}, k.TimeNS-max(k.DurationNS, 0), k.TimeNS)
	case item.LockEdge != nil:
		e := item.LockEdge
		if e.Service != "" {
			return []string{e.Service}, nil
		}
		return l.processServices(ctx, procKey{e.Node, e.PID}, e.FirstNS, e.LastNS)
	case item.Log != nil:
		g := item.Log
		if g.Service != "" {
			return []string{g.Service}, nil
		}
		if !g.TraceID.IsZero() && !g.SpanID.IsZero() {
			return l.stampedServices(ctx, evidence.SpanEvidenceID(g.TraceID, g.SpanID))
		}
	case item.Resource != nil:
		if item.Resource.Service != "" {
			return []string{item.Resource.Service}, nil
		}
	}
	return nil, nil
}

// stampedServices is the service of the span an item is stamped with
// (only its own: the stamp says where the item ran).
func (l *locator) stampedServices(ctx context.Context, spanID string) ([]string, error) {
	it, err := l.r.Get(ctx, spanID)
	switch {
	case errors.Is(err, evidence.ErrNotFound) || errors.Is(err, evidence.ErrBadID):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("resolving %s: %w", spanID, err)
	case it.Span == nil || it.Span.Service == "":
		return nil, nil
	}
	return []string{it.Span.Service}, nil
}

// spanServices is a span's service and the other services its children
// belong to.
func (l *locator) spanServices(ctx context.Context, sp evidence.Span) ([]string, error) {
	id := sp.ID()
	if s, ok := l.spanSvc[id]; ok {
		return s, nil
	}
	var out []string
	if sp.Service != "" {
		out = append(out, sp.Service)
	}
	trace, err := l.r.Spans(ctx, evidence.SpanFilter{TraceID: sp.TraceID, Limit: traceScanSpans, Fields: evidence.SpanFieldsCore})
	if err != nil {
		return nil, fmt.Errorf("reading the trace of %s: %w", id, err)
	}
	for _, c := range trace {
		if c.ParentSpanID == sp.SpanID && c.SpanID != sp.SpanID && c.Service != "" && !slices.Contains(out, c.Service) {
			out = append(out, c.Service)
		}
	}
	l.spanSvc[id] = out
	return out, nil
}

// processServices are the services of the stored spans of process p (a
// span's host.name is its node): those near [lo, hi] first, else those of
// the incident window.
func (l *locator) processServices(ctx context.Context, p procKey, lo, hi int64) ([]string, error) {
	if p.node == "" || p.pid <= 0 {
		return nil, nil
	}
	if s, ok := l.procs[p]; ok {
		return s, nil
	}
	windows := [][2]int64{{lo - processNearNS, hi + processNearNS}}
	if l.scope.SinceNS != 0 || l.scope.UntilNS != 0 {
		since, until := l.scope.SinceNS, l.scope.UntilNS
		if since != 0 {
			since -= l.slack
		}
		if until != 0 {
			until += l.slack
		}
		windows = append(windows, [2]int64{since, until})
	}
	var out []string
	for _, w := range windows {
		spans, err := l.r.Spans(ctx, evidence.SpanFilter{SinceNS: w[0], UntilNS: w[1], Limit: processScanSpans, Fields: evidence.SpanFieldsCore})
		if err != nil {
			return nil, fmt.Errorf("reading the spans of a process: %w", err)
		}
		for _, sp := range spans {
			if sp.ProcessPID == p.pid && sp.Host == p.node && sp.Service != "" && !slices.Contains(out, sp.Service) {
				out = append(out, sp.Service)
			}
		}
		if len(out) > 0 {
			break
		}
	}
	slices.Sort(out)
	l.procs[p] = out
	return out, nil
}

// spanOfEvent is the span evidence ID of a span event's ID
// (sev:<trace>/<span>/<index>).
func spanOfEvent(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "sev:")
	i := strings.LastIndexByte(rest, '/')
	if !ok || i <= 0 {
		return "", false
	}
	return "span:" + rest[:i], true
}

// baselineMedian is the median duration of the operation (service, name)
// over the scope's baseline windows, and whether the baseline holds at
// least min spans of it.
func (l *locator) baselineMedian(ctx context.Context, service, name string, min int) (int64, bool, error) {
	if len(l.scope.Baseline) == 0 {
		return 0, false, nil
	}
	key := [2]string{service, name}
	durs, ok := l.baseline[key]
	if !ok {
		for _, w := range l.scope.Baseline {
			spans, err := l.r.Spans(ctx, evidence.SpanFilter{Service: service, Name: name, SinceNS: w.SinceNS, UntilNS: w.UntilNS,
				Limit: baselineScanSpans, Fields: evidence.SpanFieldsCore})
			if err != nil {
				return 0, false, fmt.Errorf("reading the baseline of an operation: %w", err)
			}
			for _, sp := range spans {
				durs = append(durs, sp.DurationNS())
			}
		}
		slices.Sort(durs)
		l.baseline[key] = durs
	}
	if len(durs) < min || len(durs) == 0 {
		return 0, false, nil
	}
	n := len(durs)
	if n%2 == 1 {
		return durs[n/2], true, nil
	}
	return durs[n/2-1] + (durs[n/2]-durs[n/2-1])/2, true, nil
}
