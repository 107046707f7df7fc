package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// Reason codes.
const (
	ReasonInvalid          = "invalid_hypothesis"
	ReasonTooManyCitations = "too_many_citations"
	ReasonBadID            = "citation_malformed"
	ReasonNotFound         = "citation_not_found"
	ReasonOutOfScope       = "citation_out_of_scope"
	ReasonPatternLine      = "pattern_line_missing"
	ReasonNoLockCycle      = "lock_cycle_missing"
	ReasonTooFewLines      = "insufficient_independent_lines"
	// ReasonUnknownLocation: the location names no service, a service
	// nothing stored carries, or an endpoint the service has no span of
	// in the incident window.
	ReasonUnknownLocation = "unknown_location"
	// ReasonLocationScope: the location's service is not among the
	// incident's services.
	ReasonLocationScope = "location_out_of_scope"
	// ReasonLocationMismatch: a root-cause citation is about another
	// service than the location's.
	ReasonLocationMismatch = "location_mismatch"
	// ReasonNoChange: a root-cause citation shows no change against the
	// baseline.
	ReasonNoChange = "no_change"
)

// Config tunes the verifier.
type Config struct {
	// MinLines is how many independent evidence lines the root-cause
	// claims must cite (the seed's guardrail: 2).
	MinLines int
	// ScopeSlackNS widens the incident window on both sides: evidence
	// just before an incident (a deploy, the first waits) is in scope.
	ScopeSlackNS int64
	// MaxCitations bounds the distinct citations of one hypothesis.
	MaxCitations int
	// MinBaselineSpans is how many spans of an operation the baseline
	// must hold before a cited span of it can show no change.
	MinBaselineSpans int
}

// DefaultConfig requires two lines and allows a minute of slack.
func DefaultConfig() Config {
	return Config{MinLines: 2, ScopeSlackNS: 60e9, MaxCitations: 200, MinBaselineSpans: 5}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.MinLines < 1:
		return fmt.Errorf("verify: min lines %d: must be at least 1", c.MinLines)
	case c.ScopeSlackNS < 0:
		return fmt.Errorf("verify: scope slack %d: must not be negative", c.ScopeSlackNS)
	case c.MaxCitations < 1:
		return fmt.Errorf("verify: max citations %d: must be at least 1", c.MaxCitations)
	case c.MinBaselineSpans < 1:
		return fmt.Errorf("verify: min baseline spans %d: must be at least 1", c.MinBaselineSpans)
	}
	return nil
}

// RequiredLines are the evidence lines a pattern's citations must include
// (any root-cause or supporting claim may cite them).
var RequiredLines = map[hypothesis.Pattern][]evidence.Line{
	hypothesis.LockInversion:   {evidence.LineLock},
	hypothesis.LockConvoy:      {evidence.LineKernelFutex},
	hypothesis.Starvation:      {evidence.LineKernelSched},
	hypothesis.RetransmitTail:  {evidence.LineKernelTCP},
	hypothesis.IOLatency:       {evidence.LineKernelBlock},
	hypothesis.PageFaultStorm:  {evidence.LineKernelFault},
	hypothesis.GCOrCPU:         {evidence.LineTrace, evidence.LineKernelSched},
	hypothesis.NetworkGap:      {evidence.LineTrace},
	hypothesis.NPlusOne:        {evidence.LineTrace},
	hypothesis.PoolSaturation:  {evidence.LineTrace},
	hypothesis.RegressionOther: {evidence.LineTrace},
	hypothesis.CodeFault:       {evidence.LineTrace},
	hypothesis.RetryStorm:      {evidence.LineTrace},
}

// citation is one resolved citation.
type citation struct {
	item  evidence.Item
	lines []evidence.Line
	// parts are what the item is about (a finding: one per resolved ref,
	// or one for the service its subject names).
	parts []part
}

// Verify judges h within scope. The error is for failures to consult the
// store; a bad hypothesis is a Rejected verdict with reasons.
func Verify(ctx context.Context, r Resolver, h *hypothesis.Hypothesis, scope hypothesis.Scope, cfg Config) (Verdict, error) {
	if err := cfg.Validate(); err != nil {
		return Verdict{}, err
	}
	v := Verdict{Status: hypothesis.Rejected}
	if err := h.Validate(); err != nil {
		v.Reasons = append(v.Reasons, hypothesis.Reason{Code: ReasonInvalid, Claim: -1, Detail: err.Error()})
		return v, nil
	}
	ids := citedIDs(h)
	if len(ids) > cfg.MaxCitations {
		v.Reasons = append(v.Reasons, hypothesis.Reason{Code: ReasonTooManyCitations, Claim: -1,
			Detail: fmt.Sprintf("%d distinct citations, at most %d", len(ids), cfg.MaxCitations)})
		return v, nil
	}
	loc := newLocator(r, scope, cfg.ScopeSlackNS)
	cites := make(map[string]*citation, len(ids))
	for _, id := range ids {
		c, reason, err := resolve(ctx, r, loc, id, scope, cfg)
		if err != nil {
			return Verdict{}, err
		}
		if reason != nil {
			v.Reasons = append(v.Reasons, withClaim(*reason, h, id))
			continue
		}
		v.Resolved++
		cites[id] = c
	}
	locReasons, located, err := locationReasons(ctx, loc, h, scope)
	if err != nil {
		return Verdict{}, err
	}
	v.Reasons = append(v.Reasons, locReasons...)
	rootReasons, lines, err := rootCitations(ctx, loc, h, cites, located, cfg)
	if err != nil {
		return Verdict{}, err
	}
	v.Reasons = append(v.Reasons, rootReasons...)
	v.Lines = lines
	v.Reasons = append(v.Reasons, patternReasons(h, cites)...)
	if len(v.Lines) < cfg.MinLines {
		where := "in scope"
		if located {
			where = "about service " + fmt.Sprintf("%q", h.Location.Service)
		}
		v.Reasons = append(v.Reasons, hypothesis.Reason{Code: ReasonTooFewLines, Claim: -1,
			Detail: fmt.Sprintf("root-cause claims cite %d independent evidence line(s) %v %s; at least %d are required", len(v.Lines), v.Lines, where, cfg.MinLines)})
	}
	if len(v.Reasons) == 0 {
		v.Status = hypothesis.Accepted
	}
	return v, nil
}

// locationReasons checks the location: it names a stored service, inside
// the incident's services, and an endpoint (when given) that service has
// spans of in the incident window. located reports whether the service is
// known, so that citations can be compared with it.
func locationReasons(ctx context.Context, loc *locator, h *hypothesis.Hypothesis, scope hypothesis.Scope) (out []hypothesis.Reason, located bool, err error) {
	svc := h.Location.Service
	if svc == "" {
		return []hypothesis.Reason{{Code: ReasonUnknownLocation, Claim: -1, Detail: "the location names no service"}}, false, nil
	}
	known, err := loc.knownService(ctx, svc)
	if err != nil {
		return nil, false, err
	}
	if !known {
		return []hypothesis.Reason{{Code: ReasonUnknownLocation, Claim: -1,
			Detail: fmt.Sprintf("no stored span or resource has service %q (names are exact: no case folding, no trimming)", svc)}}, false, nil
	}
	if len(scope.Services) > 0 && !slices.Contains(scope.Services, svc) {
		out = append(out, hypothesis.Reason{Code: ReasonLocationScope, Claim: -1,
			Detail: fmt.Sprintf("the location's service %q is not among the incident's services %q", svc, scope.Services)})
	}
	if ep := h.Location.Endpoint; ep != "" {
		ok, err := loc.knownEndpoint(ctx, svc, ep)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			out = append(out, hypothesis.Reason{Code: ReasonUnknownLocation, Claim: -1,
				Detail: fmt.Sprintf("service %q has no span named as the location's endpoint in the incident window", svc)})
		}
	}
	return out, true, nil
}

// rootCitations checks each distinct citation of the root-cause claims
// against the location and the baseline, and returns the evidence lines
// that count towards the two-line rule: those of citations (or, for a
// finding, of refs) about the location's service that show a change.
// Without a known location, every in-scope citation counts (the location
// is rejected anyway).
func rootCitations(ctx context.Context, loc *locator, h *hypothesis.Hypothesis, cites map[string]*citation, located bool, cfg Config) ([]hypothesis.Reason, []evidence.Line, error) {
	var out []hypothesis.Reason
	var lines []evidence.Line
	svc := h.Location.Service
	seen := map[string]bool{}
	for ci, cl := range h.Claims {
		if !cl.RootCause {
			continue
		}
		for _, id := range cl.Citations {
			c := cites[id]
			if c == nil || seen[id] {
				continue
			}
			seen[id] = true
			if why := inBaseline(c.item, loc.scope); why != "" {
				out = append(out, hypothesis.Reason{Code: ReasonOutOfScope, Claim: ci, Citation: id, Detail: why})
				continue
			}
			if why, err := noChange(ctx, loc, c.item, cfg); err != nil {
				return nil, nil, err
			} else if why != "" {
				out = append(out, hypothesis.Reason{Code: ReasonNoChange, Claim: ci, Citation: id, Detail: why})
				continue
			}
			if !located {
				lines = append(lines, c.lines...)
				continue
			}
			var here, elsewhere []string
			var hereLines []evidence.Line
			for _, p := range c.parts {
				switch {
				case slices.Contains(p.services, svc):
					here = append(here, svc)
					hereLines = append(hereLines, p.lines...)
				default:
					elsewhere = append(elsewhere, p.services...)
				}
			}
			if len(here) == 0 && len(elsewhere) > 0 {
				slices.Sort(elsewhere)
				out = append(out, hypothesis.Reason{Code: ReasonLocationMismatch, Claim: ci, Citation: id,
					Detail: fmt.Sprintf("%s is about service(s) %q, not about the location's service %q", id, slices.Compact(elsewhere), svc)})
				continue
			}
			lines = append(lines, hereLines...) // unlocated citations add no line
		}
	}
	slices.Sort(lines)
	return out, slices.Compact(lines), nil
}

// noChange says why a root-cause citation shows no change against the
// baseline ("" when it does, or when that is unknown): a finding marked
// pre-existing, or a span without error status no slower than the median
// of its operation in the baseline windows (when they hold at least
// cfg.MinBaselineSpans spans of it).
func noChange(ctx context.Context, loc *locator, item evidence.Item, cfg Config) (string, error) {
	switch {
	case item.Finding != nil:
		if item.Finding.Attrs[evidence.AttrPreExisting] >= 0.5 {
			return fmt.Sprintf("%s is marked pre-existing: what it describes is as present in the baseline as in the incident", item.ID), nil
		}
	case item.Span != nil:
		sp := item.Span
		if sp.StatusCode == evidence.StatusError {
			return "", nil
		}
		med, ok, err := loc.baselineMedian(ctx, sp.Service, sp.Name, cfg.MinBaselineSpans)
		if err != nil || !ok {
			return "", err
		}
		if d := sp.DurationNS(); d <= med {
			return fmt.Sprintf("%s took %s, no more than its operation's baseline median %s, without error status", item.ID,
				time.Duration(d), time.Duration(med)), nil
		}
	}
	return "", nil
}

// citedIDs lists the distinct citations of claims and timeline, in order.
func citedIDs(h *hypothesis.Hypothesis) []string {
	var ids []string
	seen := map[string]bool{}
	add := func(id string) {
		if id != "" && !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	for _, c := range h.Claims {
		for _, id := range c.Citations {
			add(id)
		}
	}
	for _, t := range h.Timeline {
		add(t.Citation)
	}
	return ids
}

// withClaim attaches the first claim citing id to a reason.
func withClaim(r hypothesis.Reason, h *hypothesis.Hypothesis, id string) hypothesis.Reason {
	r.Claim = -1
	for i, c := range h.Claims {
		if slices.Contains(c.Citations, id) {
			r.Claim = i
			break
		}
	}
	return r
}

// resolve looks id up, places it on its lines and in its services, and
// checks that it lies in the incident's scope.
func resolve(ctx context.Context, r Resolver, loc *locator, id string, scope hypothesis.Scope, cfg Config) (*citation, *hypothesis.Reason, error) {
	item, err := r.Get(ctx, id)
	switch {
	case errors.Is(err, evidence.ErrBadID):
		return nil, &hypothesis.Reason{Code: ReasonBadID, Citation: id, Detail: fmt.Sprintf("%q is not an evidence ID", id)}, nil
	case errors.Is(err, evidence.ErrNotFound):
		return nil, &hypothesis.Reason{Code: ReasonNotFound, Citation: id, Detail: fmt.Sprintf("%s is not in the store", id)}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("resolving %s: %w", id, err)
	}
	if item.ID == "" {
		item.ID = id
	}
	if why := outOfScope(item, scope, cfg.ScopeSlackNS); why != "" {
		return nil, &hypothesis.Reason{Code: ReasonOutOfScope, Citation: id, Detail: why}, nil
	}
	parts, err := loc.parts(ctx, item)
	if err != nil {
		return nil, nil, err
	}
	if why := outOfServices(id, parts, scope); why != "" {
		return nil, &hypothesis.Reason{Code: ReasonOutOfScope, Citation: id, Detail: why}, nil
	}
	c := &citation{item: item, parts: parts}
	for _, p := range parts {
		c.lines = append(c.lines, p.lines...)
	}
	slices.Sort(c.lines)
	c.lines = slices.Compact(c.lines)
	return c, nil, nil
}

// linesOf is the evidence line of an item other than a finding (a
// finding stands for the lines of the evidence it cites: see
// locator.parts).
func linesOf(item evidence.Item) []evidence.Line {
	if item.Line == "" || item.Line == evidence.LineUnclassified {
		return nil
	}
	return []evidence.Line{item.Line}
}

// patternReasons checks the pattern's required lines over all citations,
// and that a lock-inversion claim cites a cycle.
func patternReasons(h *hypothesis.Hypothesis, cites map[string]*citation) []hypothesis.Reason {
	have := map[evidence.Line]bool{}
	for _, c := range cites {
		for _, l := range c.lines {
			have[l] = true
		}
	}
	var out []hypothesis.Reason
	for _, l := range RequiredLines[h.Pattern] {
		if !have[l] {
			out = append(out, hypothesis.Reason{Code: ReasonPatternLine, Claim: -1,
				Detail: fmt.Sprintf("pattern %s requires evidence on line %s; none is cited", h.Pattern, l)})
		}
	}
	if h.Pattern == hypothesis.LockInversion && have[evidence.LineLock] && !citesCycle(cites) {
		out = append(out, hypothesis.Reason{Code: ReasonNoLockCycle, Claim: -1,
			Detail: "a lock_inversion must cite a lock cycle: a lock_inversion finding, or lock-order edges that close a cycle"})
	}
	return out
}
