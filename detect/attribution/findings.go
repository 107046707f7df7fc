package attribution

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Scope names what an attribution is about and the evidence it cites.
type Scope struct {
	// Endpoint names the endpoint, e.g. "checkout GET /cart"; required.
	Endpoint string
	// From and To label groups A and B: versions ("v1.24.6", "v1.24.7") or
	// windows ("baseline", "incident"). The subject is
	// "<Endpoint> <From>..<To>".
	From, To string
	// ExemplarIDs are span evidence IDs of group B items illustrating the
	// change, cited on the trace line.
	ExemplarIDs []string
	// DeployIDs are version, image, kernel or config evidence IDs, cited on
	// the deploy line.
	DeployIDs []string
}

// Subject is "<Endpoint> <From>..<To>".
func (s Scope) Subject() string { return s.Endpoint + " " + s.From + ".." + s.To }

// Findings returns a latency_attribution finding for the attribution when
// the KS test of the totals rejects at Config.Alpha and |Delta| is at least
// Config.MinRelChange of |StatA| (a nonzero Delta from a StatA of 0
// counts as a relative change of 1);
// otherwise none. The finding cites scope.ExemplarIDs on the trace line
// and scope.DeployIDs on the deploy line; an empty Endpoint is an error, and
// so is a finding with nothing to cite (ErrNoRefs). Score is the relative
// change |Delta|/|StatA| (1 when StatA is 0); Confidence is 1 − the KS
// p-value. Attrs hold the statistics and, per component, "delta_ns:<name>"
// and "share:<name>".
func (a *Attribution) Findings(scope Scope) ([]evidence.Finding, error) {
	if scope.Endpoint == "" {
		return nil, fmt.Errorf("attribution scope: empty endpoint")
	}
	rel := 0.0
	switch {
	case a.StatA != 0:
		rel = math.Abs(a.Delta) / math.Abs(a.StatA)
	case a.Delta != 0:
		rel = 1 // from nothing: count as a 100% change, keeping Score finite
	}
	if a.KS.PValue > a.cfg.Alpha || a.Delta == 0 || rel < a.cfg.MinRelChange {
		return nil, nil
	}
	refs := make([]evidence.Ref, 0, len(scope.ExemplarIDs)+len(scope.DeployIDs))
	for _, id := range scope.ExemplarIDs {
		refs = append(refs, evidence.Ref{ID: id, Line: evidence.LineTrace})
	}
	for _, id := range scope.DeployIDs {
		refs = append(refs, evidence.Ref{ID: id, Line: evidence.LineDeploy})
	}
	if len(refs) == 0 {
		return nil, fmt.Errorf("attribution %s: %w", scope.Subject(), ErrNoRefs)
	}
	subject := scope.Subject()
	attrs := map[string]float64{
		"stat_a_ns":     a.StatA,
		"stat_b_ns":     a.StatB,
		"delta_ns":      a.Delta,
		"rel_change":    rel,
		"n_a":           float64(a.NA),
		"n_b":           float64(a.NB),
		"grid":          float64(a.Grid),
		"grid_error_ns": a.GridError,
		"ks_d":          a.KS.Statistic,
		"ks_p":          a.KS.PValue,
	}
	var parts []string
	for i, c := range a.Contributions {
		attrs["delta_ns:"+c.Component] = c.Delta
		attrs["share:"+c.Component] = c.Share
		if i < 3 {
			parts = append(parts, fmt.Sprintf("%s %s (%.0f%%)", c.Component, signedDur(c.Delta), 100*c.Share))
		}
	}
	verb := "rose"
	if a.Delta < 0 {
		verb = "fell"
	}
	return []evidence.Finding{{
		ID:      evidence.NewFindingID(KindAttribution, subject, refs),
		Kind:    KindAttribution,
		Subject: subject,
		Summary: fmt.Sprintf("%s: %s latency %s %s (%v to %v); %s",
			subject, a.Statistic, verb, signedDur(a.Delta), roundDur(a.StatA), roundDur(a.StatB), strings.Join(parts, ", ")),
		Score:      rel,
		Confidence: 1 - a.KS.PValue,
		Refs:       refs,
		Attrs:      attrs,
	}}, nil
}

// RefsFunc returns extra evidence to cite for an over-represented value,
// e.g. the deploy-line record of a version or kernel value.
type RefsFunc func(o *Overrep) []evidence.Ref

// Findings returns a dimension_overrepresented finding for each
// significant (dimension, value), largest lift first, with subject
// "dimension=value". Each cites the value's slow exemplars on the trace
// line plus whatever extra returns (extra may be nil); a value with
// nothing to cite makes no finding. Score is the lift; Confidence is
// 1 − q.
func (r *SliceReport) Findings(extra RefsFunc) []evidence.Finding {
	var out []evidence.Finding
	for i := range r.Significant {
		o := &r.Significant[i]
		refs := make([]evidence.Ref, 0, len(o.Exemplars))
		for _, id := range o.Exemplars {
			refs = append(refs, evidence.Ref{ID: id, Line: evidence.LineTrace})
		}
		if extra != nil {
			refs = append(refs, extra(o)...)
		}
		if len(refs) == 0 {
			continue
		}
		subject := o.Subject()
		attrs := map[string]float64{
			"lift":      o.Lift,
			"items":     float64(o.Items),
			"slow":      float64(o.Slow),
			"dim_items": float64(o.DimItems),
			"dim_slow":  float64(o.DimSlow),
			"rate":      o.Rate,
			"base_rate": o.BaseRate,
			"rest_rate": o.RestRate,
			"p":         o.P,
			"q":         o.Q,
		}
		if o.Test == TestZ {
			attrs["z"] = o.Z
		}
		out = append(out, evidence.Finding{
			ID:      evidence.NewFindingID(KindOverrepresented, subject, refs),
			Kind:    KindOverrepresented,
			Subject: subject,
			Summary: fmt.Sprintf("%s: %d of %d items slow (%.1f%%) vs %.1f%% of all %d with %s (lift %.2f; %s test p=%.2g, q=%.2g)",
				subject, o.Slow, o.Items, 100*o.Rate, 100*o.BaseRate, o.DimItems, o.Dimension, o.Lift, o.Test, o.P, o.Q),
			Score:      o.Lift,
			Confidence: 1 - o.Q,
			Refs:       refs,
			Attrs:      attrs,
		})
	}
	return out
}

// signedDur renders ns with a sign: "+12.3ms", "-800µs".
func signedDur(ns float64) string {
	if ns >= 0 {
		return "+" + roundDur(ns).String()
	}
	return "-" + roundDur(-ns).String()
}

// roundDur rounds ns to a readable precision (1.052s, 12.3ms, 4µs).
func roundDur(ns float64) time.Duration {
	d := time.Duration(math.Round(ns))
	switch a := d.Abs(); {
	case a >= time.Second:
		return d.Round(time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	case a >= time.Microsecond:
		return d.Round(time.Microsecond)
	default:
		return d
	}
}
