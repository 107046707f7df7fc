package report

import (
	"cmp"
	"context"
	"slices"
	"strings"

	"github.com/debugai/debugai/detect/explain"
	"github.com/debugai/debugai/evidence"
)

// Cause is one location's share of the incident's change, from the
// ranking model's change_explained findings: the root cause (the
// hypothesis's service) and the secondary causes beside it.
type Cause struct {
	Service   string `json:"service"`
	Operation string `json:"operation,omitempty"`
	// Share is the share of the incident's change the service explains.
	Share float64 `json:"share"`
	// Mechanism is what most of its change is: a critical-path component
	// (self, lock, io, runqueue, network), shape or extra calls.
	Mechanism string  `json:"mechanism,omitempty"`
	Q         float64 `json:"q"`
	// Finding is the change_explained finding.
	Finding string `json:"finding"`
	// Pattern is the best-scored kernel or structural finding located at
	// the service (a convoy, a retransmit tail, a pool), when there is one.
	Pattern        string `json:"pattern,omitempty"`
	PatternFinding string `json:"pattern_finding,omitempty"`
	// Root marks the hypothesis's location.
	Root bool `json:"root_cause,omitempty"`
}

// maxCauses bounds the causes listed.
const maxCauses = 6

// statisticKinds are the finding kinds that describe a change rather than
// a mechanism (the mechanism column names what the others found).
var statisticKinds = []string{explain.Kind, "latency_ks", "latency_changepoint", "critical_path_changepoint",
	"latency_trend_break", "latency_attribution", "latency_overrepresented", "critical_path_component", "critical_path_dominant"}

// buildCauses lists the change_explained findings in scope, most explained
// first, with the mechanism found at each service.
func buildCauses(ctx context.Context, rs *resolver, rep *Report, opts Options) error {
	fr, ok := rs.r.(evidence.FindingReader)
	if !ok {
		return nil
	}
	fs, err := fr.Findings(ctx, evidence.FindingFilter{SinceNS: opts.Scope.SinceNS, UntilNS: opts.Scope.UntilNS})
	if err != nil {
		return err
	}
	best := map[string]*evidence.Finding{} // service -> best mechanism finding
	for i := range fs {
		f := &fs[i]
		if f.Service == "" || slices.Contains(statisticKinds, f.Kind) {
			continue
		}
		if b := best[f.Service]; b == nil || f.Score > b.Score || f.Score == b.Score && f.Confidence > b.Confidence {
			best[f.Service] = f
		}
	}
	for i := range fs {
		f := &fs[i]
		if f.Kind != explain.Kind {
			continue
		}
		c := Cause{Service: f.Service, Operation: f.Operation, Share: f.Attrs[evidence.AttrExplainedShare],
			Q: f.Attrs["q"], Finding: f.ID, Root: f.Service != "" && f.Service == rep.Hypothesis.Location.Service}
		if c.Service == "" { // stored before findings carried their location
			c.Service, c.Operation, _ = strings.Cut(f.Subject, " ")
		}
		if m, ok := f.Attrs["mechanism"]; ok {
			c.Mechanism = explain.MechanismName(int(m))
		}
		if b := best[c.Service]; b != nil {
			c.Pattern, c.PatternFinding = b.Kind, b.ID
		}
		rep.Causes = append(rep.Causes, c)
	}
	slices.SortFunc(rep.Causes, func(a, b Cause) int {
		return cmp.Or(cmp.Compare(b.Share, a.Share), cmp.Compare(a.Service, b.Service), cmp.Compare(a.Finding, b.Finding))
	})
	rep.Causes = rep.Causes[:min(len(rep.Causes), maxCauses)]
	return nil
}
