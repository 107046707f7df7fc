package shape

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// Kind is the finding kind this package reports.
const Kind = "trace_shape"

// Op is an operation: a service and a span name.
type Op struct{ Service, Name string }

// String is "service name", the subject of the package's findings.
func (o Op) String() string { return o.Service + " " + o.Name }

// Config tunes the tests. Defaults come from DefaultConfig.
type Config struct {
	// Alpha is the false discovery rate (Benjamini–Hochberg) over every
	// edge and error test.
	Alpha float64
	// MinShareChange is the least change, in share points, of the parents
	// that make a call (or of the spans in error) that counts as an effect.
	MinShareChange float64
	// MinCountChange is the least relative change of the mean number of
	// calls per parent that counts as an effect.
	MinCountChange float64
	// MinParents is the fewest parent spans per window an edge needs to be
	// tested.
	MinParents int
	// MaxExemplars bounds the spans a finding cites.
	MaxExemplars int
}

// DefaultConfig returns the documented defaults: FDR 5 %, an effect of 20
// share points or 30 % of the mean count, 5 parents per window.
func DefaultConfig() Config {
	return Config{Alpha: 0.05, MinShareChange: 0.2, MinCountChange: 0.3, MinParents: 5, MaxExemplars: 6}
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("invalid shape config")

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case !(c.Alpha > 0 && c.Alpha < 1):
		return fmt.Errorf("%w: Alpha %v not in (0, 1)", ErrConfig, c.Alpha)
	case !(c.MinShareChange > 0 && c.MinShareChange <= 1):
		return fmt.Errorf("%w: MinShareChange %v not in (0, 1]", ErrConfig, c.MinShareChange)
	case !(c.MinCountChange > 0):
		return fmt.Errorf("%w: MinCountChange %v must be positive", ErrConfig, c.MinCountChange)
	case c.MinParents < 2:
		return fmt.Errorf("%w: MinParents %d must be at least 2", ErrConfig, c.MinParents)
	case c.MaxExemplars < 1:
		return fmt.Errorf("%w: MaxExemplars %d must be at least 1", ErrConfig, c.MaxExemplars)
	}
	return nil
}

// Input is what Analyze compares.
type Input struct {
	// Spans holds the incident's and the baseline's spans.
	Spans []evidence.Span
	// IsBaseline marks the baseline's spans; nil means there is no baseline,
	// and Analyze finds nothing (a shape change needs a reference).
	IsBaseline func(*evidence.Span) bool
}

// Change kinds of a test.
const (
	MissingCalls = "missing_calls" // fewer parents make the call
	NewCalls     = "new_calls"     // more parents make the call
	FewerCalls   = "fewer_calls"   // as many parents call, fewer times
	MoreCalls    = "more_calls"    // as many parents call, more times
	MoreErrors   = "more_errors"   // the operation's error share rose
)

// Test is one edge (Child set) or error-rate (Child zero) comparison.
type Test struct {
	Parent, Child Op
	// Change is one of the kinds above ("" when the effect is too small).
	Change string
	// Parents, Present and Calls count, per window (0 baseline, 1
	// incident), the parent spans, those with at least one such child (or
	// in error), and the children.
	Parents, Present, Calls [2]int
	// Mode is the baseline's most common number of such children per parent.
	Mode int
	P, Q float64
	// Significant: Q < Alpha and the effect is large enough.
	Significant bool
}

// decrease reports whether the test is a loss (calls or successes).
func (t *Test) decrease() bool { return t.Change == MissingCalls || t.Change == FewerCalls }

// Blame is an operation the incident's deviating traces are blamed on.
type Blame struct {
	Op Op
	// Traces is the number of deviating incident traces blamed on Op
	// (shared equally when a trace blames several).
	Traces float64
	// Share is Traces over every deviating incident trace.
	Share float64
	// Increase: most of its deviations are extra calls, not lost ones or
	// errors.
	Increase bool
	// Retried: its deviations are its own errors, and its callers call it
	// more times per request than in the baseline (a retry storm).
	Retried bool
	// ExtraCallsTo lists the operations of other services that its extra
	// calls reach (its significant more_calls and new_calls tests), when
	// its deviations are mostly extra calls and not retries of its own
	// failures: the load it added to them.
	ExtraCallsTo []Op
	// Tests are the significant tests behind the blame.
	Tests []*Test
	// Because says, for a blame passed down to a callee, how the callee's
	// spans under the deviating callers differ from those under the
	// conforming ones.
	Because []string
	// Exemplars are positions in Input.Spans of blamed spans.
	Exemplars []int
}

// Result is what Analyze measured.
type Result struct {
	// Traces per window (0 baseline, 1 incident), and those that deviate.
	Traces, Deviating [2]int
	// Change is the incident's deviating share less the baseline's (the
	// part of the incident's traces whose shape changed), in [0, 1].
	Change float64
	// ChangeP is Fisher's test of the deviating traces' share between the
	// windows; Change is 0 unless it is below Config.Alpha.
	ChangeP float64
	// Orphans is the share of spans whose parent is missing, per window.
	Orphans [2]float64
	// Tests holds every test; Blames the blamed operations, most first.
	Tests  []Test
	Blames []Blame
}

// BlameOf returns the blame of op (zero when it has none).
func (r *Result) BlameOf(op Op) Blame {
	for _, b := range r.Blames {
		if b.Op == op {
			return b
		}
	}
	return Blame{}
}

// Analyze compares the call structure of the incident's traces with the
// baseline's and blames the changes (see the package doc).
func Analyze(in Input, cfg Config) (Result, []evidence.Finding, error) {
	var res Result
	if err := cfg.Validate(); err != nil {
		return res, nil, err
	}
	if in.IsBaseline == nil || len(in.Spans) == 0 {
		return res, nil, nil
	}
	t := newTree(in)
	res.Traces, res.Orphans = t.traceCounts(), t.orphanShares()
	if res.Traces[0] == 0 || res.Traces[1] == 0 {
		return res, nil, nil
	}
	res.Tests = t.tests(cfg)
	if err := adjust(res.Tests, cfg); err != nil {
		return res, nil, err
	}
	changed := t.calleeChanges(cfg)
	res.Blames, res.Deviating = t.blame(res.Tests, changed, cfg)
	t.retried(res.Blames, res.Tests)
	t.extraCalls(res.Blames)
	for i := range res.Blames {
		if res.Deviating[1] > 0 {
			res.Blames[i].Share = res.Blames[i].Traces / float64(res.Deviating[1])
		}
	}
	res.Change = math.Max(0, float64(res.Deviating[1])/float64(res.Traces[1])-float64(res.Deviating[0])/float64(res.Traces[0]))
	// The incident as a whole must deviate more than the baseline does:
	// a few more deviating traces than the baseline's own share is no
	// change of shape.
	res.ChangeP, _ = stattest.FisherTwoSided(res.Deviating[1], res.Traces[1]-res.Deviating[1], res.Deviating[0], res.Traces[0]-res.Deviating[0])
	if res.ChangeP >= cfg.Alpha {
		res.Change = 0
	}
	return res, findings(in.Spans, &res, cfg), nil
}

// adjust fills Q and Significant (Benjamini–Hochberg over the tests with
// an effect; those without one keep Q = 1).
func adjust(tests []Test, cfg Config) error {
	var idx []int
	var p []float64
	for i := range tests {
		tests[i].Q = 1
		if tests[i].Change != "" {
			idx = append(idx, i)
			p = append(p, tests[i].P)
		}
	}
	if len(p) == 0 {
		return nil
	}
	bh, err := stattest.BenjaminiHochberg(p, cfg.Alpha)
	if err != nil {
		return fmt.Errorf("shape: %w", err)
	}
	for k, i := range idx {
		tests[i].Q = bh.Adjusted[k]
		tests[i].Significant = bh.Reject[k]
	}
	return nil
}

// findings turns the blames into trace_shape findings.
func findings(spans []evidence.Span, res *Result, cfg Config) []evidence.Finding {
	var out []evidence.Finding
	if res.Change <= 0 {
		return nil
	}
	for _, b := range res.Blames {
		if b.Traces < 1 {
			continue
		}
		q := 1.0
		for _, t := range b.Tests {
			q = math.Min(q, t.Q)
		}
		var refs []evidence.Ref
		for _, i := range b.Exemplars[:min(len(b.Exemplars), cfg.MaxExemplars)] {
			refs = append(refs, evidence.Ref{ID: spans[i].ID(), Line: evidence.LineTrace})
		}
		if len(refs) == 0 {
			continue
		}
		attrs := map[string]float64{
			"deviating_traces": b.Traces, "share_of_deviating": b.Share, "shape_change": res.Change,
			"incident_traces": float64(res.Traces[1]), "baseline_traces": float64(res.Traces[0]),
			"baseline_deviating": float64(res.Deviating[0]), "incident_deviating": float64(res.Deviating[1]),
			"q": q, "orphan_share_incident": res.Orphans[1], "orphan_share_baseline": res.Orphans[0],
		}
		if b.Increase || b.Retried {
			attrs["extra_calls"] = 1
		}
		if b.Retried {
			attrs["retried"] = 1
		}
		f := evidence.Finding{
			Kind: Kind, Subject: b.Op.String(), Score: b.Share * res.Change, Confidence: 1 - q,
			Summary: summary(b, res), Refs: refs, Attrs: attrs,
		}
		f.ID = evidence.NewFindingID(f.Kind, f.Subject, f.Refs)
		out = append(out, f)
	}
	return out
}

func summary(b Blame, res *Result) string {
	s := fmt.Sprintf("%.0f of %d incident traces changed shape at %s (baseline: %d of %d traces deviate the same way)",
		b.Traces, res.Traces[1], b.Op, res.Deviating[0], res.Traces[0])
	for i, t := range b.Tests {
		if i == 2 {
			break
		}
		s += "; " + describe(t)
	}
	for i, w := range b.Because {
		if i == 2 {
			break
		}
		s += "; " + w
	}
	return s
}

func describe(t *Test) string {
	share := func(w int) float64 {
		if t.Parents[w] == 0 {
			return 0
		}
		return 100 * float64(t.Present[w]) / float64(t.Parents[w])
	}
	mean := func(w int) float64 {
		if t.Parents[w] == 0 {
			return 0
		}
		return float64(t.Calls[w]) / float64(t.Parents[w])
	}
	switch t.Change {
	case MoreErrors:
		return fmt.Sprintf("%s in error in %.0f %% of its spans (baseline %.0f %%; q = %.2g)", t.Parent, share(1), share(0), t.Q)
	case FewerCalls, MoreCalls:
		return fmt.Sprintf("%s calls %s %.2g times per span (baseline %.2g; q = %.2g)", t.Parent, t.Child, mean(1), mean(0), t.Q)
	}
	return fmt.Sprintf("%s calls %s in %.0f %% of its spans (baseline %.0f %%; q = %.2g)", t.Parent, t.Child, share(1), share(0), t.Q)
}

// sortBlames orders blames by traces, then op.
func sortBlames(bs []Blame) {
	slices.SortFunc(bs, func(a, b Blame) int {
		return cmp.Or(cmp.Compare(b.Traces, a.Traces), cmp.Compare(a.Op.Service, b.Op.Service), cmp.Compare(a.Op.Name, b.Op.Name))
	})
}
