package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/privacy"
)

// Candidate is one ranked root-cause candidate: an investigator's
// hypothesis location, or a baseline's pick.
type Candidate struct {
	Service   string `json:"service"`
	Operation string `json:"operation,omitempty"`
	Pattern   string `json:"pattern,omitempty"`
}

// String is "service/operation" (or just the service).
func (c Candidate) String() string {
	if c.Operation == "" {
		return c.Service
	}
	return c.Service + "/" + c.Operation
}

// CandidateOf is the candidate a hypothesis names.
func CandidateOf(h *hypothesis.Hypothesis) Candidate {
	return Candidate{Service: h.Location.Service, Operation: h.Location.Endpoint, Pattern: string(h.Pattern)}
}

// Score is one bundle's outcome against its truth.
type Score struct {
	// ServiceRank is the 1-based position of the first candidate on the
	// root-cause service; 0 when none is (or on a control).
	ServiceRank int `json:"service_rank"`
	// OperationRank and PatternRank are the same for the operation (on the
	// right service) and the pattern; nil when the truth states none.
	OperationRank *int `json:"operation_rank,omitempty"`
	PatternRank   *int `json:"pattern_rank,omitempty"`
	// Accepted: the verifier accepted a hypothesis; AcceptedCorrect: on
	// the root-cause service.
	Accepted        bool `json:"accepted"`
	AcceptedCorrect bool `json:"accepted_correct"`
	// FalseRootCause: an accepted hypothesis on the wrong service, or any
	// accepted hypothesis on a control.
	FalseRootCause bool `json:"false_root_cause"`
	// BaselineHit: the baseline's top pick is on the root-cause service;
	// BaselineOperationHit: also on its operation (when the truth has one).
	BaselineHit          bool  `json:"baseline_hit"`
	BaselineOperationHit *bool `json:"baseline_operation_hit,omitempty"`
}

// Outcome is what an investigation of a bundle produced.
type Outcome struct {
	// Accepted is the verifier's verdict on Answer.
	Accepted bool
	// Answer is the investigator's hypothesis (nil if it formed none).
	Answer *Candidate
	// Candidates are its ranked candidates, best first.
	Candidates []Candidate
	// Baseline is the trivial baseline's top pick (nil if it has none).
	Baseline *Candidate
}

// ScoreOutcome compares an outcome with the truth.
func ScoreOutcome(t Truth, o Outcome) Score {
	s := Score{Accepted: o.Accepted && o.Answer != nil}
	if t.Control() {
		s.FalseRootCause = s.Accepted
		return s
	}
	s.ServiceRank = rankOf(o.Candidates, func(c Candidate) bool { return sameService(t, c) })
	if t.RootCauseOperation != "" {
		r := rankOf(o.Candidates, func(c Candidate) bool { return sameOperation(t, c) })
		s.OperationRank = &r
	}
	if t.Pattern != "" && t.Pattern != NoRootCause {
		r := rankOf(o.Candidates, func(c Candidate) bool { return strings.EqualFold(c.Pattern, t.Pattern) })
		s.PatternRank = &r
	}
	s.AcceptedCorrect = s.Accepted && sameService(t, *o.Answer)
	s.FalseRootCause = s.Accepted && !s.AcceptedCorrect
	if o.Baseline != nil {
		s.BaselineHit = sameService(t, *o.Baseline)
		if t.RootCauseOperation != "" {
			hit := sameOperation(t, *o.Baseline)
			s.BaselineOperationHit = &hit
		}
	}
	return s
}

// rankOf is the 1-based position of the first candidate that matches, 0
// when none does.
func rankOf(cs []Candidate, match func(Candidate) bool) int {
	for i, c := range cs {
		if match(c) {
			return i + 1
		}
	}
	return 0
}

// sameService compares service names case-insensitively.
func sameService(t Truth, c Candidate) bool {
	return c.Service != "" && strings.EqualFold(strings.TrimSpace(c.Service), t.RootCauseService)
}

// sameOperation: the right service, and an operation that is the truth's
// or names it (a critical-path component such as "GET /x network"), both
// compared as the store keeps span names (privacy.Redactor.SpanName: a
// word outside the vocabulary in a name of several words becomes {word}),
// since debugai can only name what it stored; the trivial baseline, read
// from the raw files, is compared the same way.
func sameOperation(t Truth, c Candidate) bool {
	op, want := strings.ToLower(storedName(c.Operation)), strings.ToLower(storedName(t.RootCauseOperation))
	return sameService(t, c) && want != "" && strings.Contains(op, want)
}

var (
	nameRedactor     *privacy.Redactor
	nameRedactorOnce sync.Once
)

// storedName is name as the default privacy policy stores a span name.
func storedName(name string) string {
	nameRedactorOnce.Do(func() {
		// Span names are templated, never tokenized: the key is not used.
		ring, err := privacy.NewKeyRing(make([]byte, 32), privacy.KeyConfig{}, time.Now)
		if err == nil {
			nameRedactor, _ = privacy.NewRedactor(privacy.DefaultConfig(), ring)
		}
	})
	if nameRedactor == nil || name == "" {
		return name
	}
	return nameRedactor.SpanName(privacy.NewCounts(), privacy.SourceSpan, name)
}

// Resolver resolves evidence IDs (evidence.Reader satisfies it).
type Resolver interface {
	Get(ctx context.Context, id string) (evidence.Item, error)
}

// Citations counts the distinct evidence IDs a hypothesis cites (claims
// and timeline) and how many of them resolve to stored evidence.
func Citations(ctx context.Context, r Resolver, h *hypothesis.Hypothesis) (cited, resolved int, err error) {
	seen := map[string]bool{}
	check := func(id string) error {
		if id == "" || seen[id] {
			return nil
		}
		seen[id] = true
		cited++
		_, err := r.Get(ctx, id)
		switch {
		case err == nil:
			resolved++
		case errors.Is(err, evidence.ErrNotFound), errors.Is(err, evidence.ErrBadID):
		default:
			return fmt.Errorf("resolving %s: %w", id, err)
		}
		return nil
	}
	for _, c := range h.Claims {
		for _, id := range c.Citations {
			if err := check(id); err != nil {
				return cited, resolved, err
			}
		}
	}
	for _, e := range h.Timeline {
		if err := check(e.Citation); err != nil {
			return cited, resolved, err
		}
	}
	return cited, resolved, nil
}
