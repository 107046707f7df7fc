package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"

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
}

// DefaultConfig requires two lines and allows a minute of slack.
func DefaultConfig() Config {
	return Config{MinLines: 2, ScopeSlackNS: 60e9, MaxCitations: 200}
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
	item    evidence.Item
	lines   []evidence.Line
	inScope bool
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
	cites := make(map[string]*citation, len(ids))
	for _, id := range ids {
		c, reason, err := resolve(ctx, r, id, scope, cfg)
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
	v.Lines = rootLines(h, cites)
	v.Reasons = append(v.Reasons, patternReasons(h, cites)...)
	if len(v.Lines) < cfg.MinLines {
		v.Reasons = append(v.Reasons, hypothesis.Reason{Code: ReasonTooFewLines, Claim: -1,
			Detail: fmt.Sprintf("root-cause claims cite %d independent evidence line(s) %v in scope; at least %d are required", len(v.Lines), v.Lines, cfg.MinLines)})
	}
	if len(v.Reasons) == 0 {
		v.Status = hypothesis.Accepted
	}
	return v, nil
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

// resolve looks id up and places it on its lines and in or out of scope.
func resolve(ctx context.Context, r Resolver, id string, scope hypothesis.Scope, cfg Config) (*citation, *hypothesis.Reason, error) {
	item, err := r.Get(ctx, id)
	switch {
	case errors.Is(err, evidence.ErrBadID):
		return nil, &hypothesis.Reason{Code: ReasonBadID, Citation: id, Detail: fmt.Sprintf("%q is not an evidence ID", id)}, nil
	case errors.Is(err, evidence.ErrNotFound):
		return nil, &hypothesis.Reason{Code: ReasonNotFound, Citation: id, Detail: fmt.Sprintf("%s is not in the store", id)}, nil
	case err != nil:
		return nil, nil, fmt.Errorf("resolving %s: %w", id, err)
	}
	c := &citation{item: item, lines: linesOf(item)}
	if why := outOfScope(item, scope, cfg.ScopeSlackNS); why != "" {
		return nil, &hypothesis.Reason{Code: ReasonOutOfScope, Citation: id, Detail: why}, nil
	}
	c.inScope = true
	return c, nil, nil
}

// linesOf is the evidence line of an item; a finding (which has none of
// its own) stands for the lines of the evidence it cites.
func linesOf(item evidence.Item) []evidence.Line {
	if item.Line != "" && item.Finding == nil {
		return []evidence.Line{item.Line}
	}
	var out []evidence.Line
	if item.Line != "" {
		out = append(out, item.Line)
	}
	if item.Finding != nil {
		for _, ref := range item.Finding.Refs {
			if ref.Line != "" && ref.Line != evidence.LineUnclassified {
				out = append(out, ref.Line)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// rootLines are the distinct lines of the resolved, in-scope citations of
// root-cause claims.
func rootLines(h *hypothesis.Hypothesis, cites map[string]*citation) []evidence.Line {
	var lines []evidence.Line
	for _, cl := range h.Claims {
		if !cl.RootCause {
			continue
		}
		for _, id := range cl.Citations {
			if c := cites[id]; c != nil && c.inScope {
				lines = append(lines, c.lines...)
			}
		}
	}
	slices.Sort(lines)
	return slices.Compact(lines)
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
