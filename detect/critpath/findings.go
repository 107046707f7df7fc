package critpath

import (
	"fmt"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Findings returns a critical_path_dominant finding for each operation whose
// share reaches Config.DominantShare on at least Config.MinTraces traces,
// largest share first. Each cites the operation's exemplar spans on the
// trace line. Score is the share; Confidence the fraction of traces whose
// critical path includes the operation.
func (a *Aggregator) Findings() []evidence.Finding {
	return findings(a.Report(), a.cfg)
}

// Analyze aggregates the critical paths of every trace in spans (see
// [Aggregator.AddSpans]) and returns the report and its findings.
func Analyze(spans []evidence.Span, cfg Config) (Report, []evidence.Finding, error) {
	a, err := NewAggregator(cfg)
	if err != nil {
		return Report{}, nil, fmt.Errorf("critical path config: %w", err)
	}
	a.AddSpans(spans)
	r := a.Report()
	return r, findings(r, cfg), nil
}

func findings(r Report, cfg Config) []evidence.Finding {
	var out []evidence.Finding
	for i := range r.Ops {
		o := &r.Ops[i]
		if o.Share < cfg.DominantShare || o.Traces < cfg.MinTraces {
			continue
		}
		refs := make([]evidence.Ref, len(o.Exemplars))
		for j, e := range o.Exemplars {
			refs[j] = evidence.Ref{ID: e.ID, Line: evidence.LineTrace}
		}
		coverage := float64(o.Traces) / float64(r.Traces)
		subject := o.Subject()
		out = append(out, evidence.Finding{
			ID:      evidence.NewFindingID(KindDominant, subject, refs),
			Kind:    KindDominant,
			Subject: subject,
			Summary: fmt.Sprintf("%s is %.0f%% of critical-path time over %d traces; on the path of %d, per-trace p50 %v, p95 %v",
				subject, 100*o.Share, r.Traces, o.Traces, roundDur(o.P50NS), roundDur(o.P95NS)),
			Score:      o.Share,
			Confidence: coverage,
			Refs:       refs,
			Attrs: map[string]float64{
				"share":        o.Share,
				"self_ns":      float64(o.SelfNS),
				"traces":       float64(o.Traces),
				"spans":        float64(o.Spans),
				"p50_ns":       float64(o.P50NS),
				"p95_ns":       float64(o.P95NS),
				"coverage":     coverage,
				"total_traces": float64(r.Traces),
				"total_ns":     float64(r.TotalNS),
			},
		})
	}
	return out
}

// roundDur rounds to a readable precision (1.052s, 12.3ms).
func roundDur(ns int64) time.Duration {
	d := time.Duration(ns)
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
