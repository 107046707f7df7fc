package regression

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// KSTest is one two-sample KS test of an endpoint's durations.
type KSTest struct {
	Endpoint string
	// From and To label the groups: versions, or "baseline" and
	// "incident" for a baseline split.
	From, To string
	// Deploy is true when the groups are versions.
	Deploy         bool
	NA, NB         int
	MedianA        float64 // ns
	MedianB        float64 // ns
	P95A, P95B     float64 // ns
	KS             stattest.KSResult
	Q              float64 // Benjamini–Hochberg adjusted p-value
	Significant    bool
	a, b           []Sample
	resA, resB     []string // resource ids (deploy evidence)
	startNS, endNS int64    // first and last sample start of both groups
}

// ID is the test's evidence ID, ks:<endpoint>/<from>..<to>.
func (k *KSTest) ID() string { return evidence.KSEvidenceID(k.Endpoint, k.From, k.To) }

// ksGroups splits an endpoint's samples into the pairs to compare:
// consecutive versions with at least MinGroupSize samples (ordered by first
// appearance), then the baseline split when baselineNS is set.
func ksGroups(ep *Endpoint, isBase func(*evidence.Span) bool, spans []evidence.Span, cfg Config) []KSTest {
	var tests []KSTest
	byVersion := map[string][]Sample{}
	var order []string
	for _, s := range ep.Samples {
		if s.Version == "" {
			continue
		}
		if _, ok := byVersion[s.Version]; !ok {
			order = append(order, s.Version)
		}
		byVersion[s.Version] = append(byVersion[s.Version], s)
	}
	order = slices.DeleteFunc(order, func(v string) bool { return len(byVersion[v]) < cfg.MinGroupSize })
	for i := 1; i < len(order); i++ {
		tests = append(tests, KSTest{Endpoint: ep.Name, From: order[i-1], To: order[i], Deploy: true,
			a: byVersion[order[i-1]], b: byVersion[order[i]]})
	}
	if isBase != nil {
		var a, b []Sample
		for _, s := range ep.Samples {
			if isBase(&spans[s.Index]) {
				a = append(a, s)
			} else {
				b = append(b, s)
			}
		}
		if len(a) >= cfg.MinGroupSize && len(b) >= cfg.MinGroupSize {
			tests = append(tests, KSTest{Endpoint: ep.Name, From: "baseline", To: "incident", a: a, b: b})
		}
	}
	return tests
}

// runKS runs every test, then Benjamini–Hochberg across all of them.
func runKS(eps []Endpoint, isBase func(*evidence.Span) bool, spans []evidence.Span, cfg Config) ([]KSTest, error) {
	var tests []KSTest
	for i := range eps {
		tests = append(tests, ksGroups(&eps[i], isBase, spans, cfg)...)
	}
	if len(tests) == 0 {
		return nil, nil
	}
	p := make([]float64, len(tests))
	for i := range tests {
		t := &tests[i]
		x, y := durations(t.a), durations(t.b)
		r, err := stattest.KS2Samp(x, y, stattest.KSOptions{Alternative: stattest.TwoSided, Method: stattest.Bounded})
		if err != nil {
			return nil, fmt.Errorf("ks %s: %w", t.ID(), err)
		}
		slices.Sort(x)
		slices.Sort(y)
		t.KS, t.NA, t.NB = r, len(x), len(y)
		t.MedianA, t.MedianB = quantile(x, 0.5), quantile(y, 0.5)
		t.P95A, t.P95B = quantile(x, 0.95), quantile(y, 0.95)
		t.resA, t.resB = ksSpans{spans}.resources(t.a), ksSpans{spans}.resources(t.b)
		t.startNS, t.endNS = min(t.a[0].StartNS, t.b[0].StartNS), max(t.a[len(t.a)-1].StartNS, t.b[len(t.b)-1].StartNS)
		p[i] = r.PValue
	}
	bh, err := stattest.BenjaminiHochberg(p, cfg.Alpha)
	if err != nil {
		return nil, fmt.Errorf("ks: %w", err)
	}
	for i := range tests {
		t := &tests[i]
		t.Q = bh.Adjusted[i]
		rel := relChange(t.MedianA, t.MedianB, cfg.FloorNS)
		t.Significant = bh.Reject[i] && (rel >= cfg.MinRelChange || rel <= -cfg.MinRelChange)
	}
	return tests, nil
}

// ksSpans gives the KS tests access to the spans behind samples.
type ksSpans struct{ spans []evidence.Span }

// resources returns the distinct resource ids of the samples, sorted.
func (k ksSpans) resources(samples []Sample) []string {
	var out []string
	for _, s := range samples {
		if id := k.spans[s.Index].ResourceID; id != "" && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// ksFindings returns a latency_ks finding per significant test, largest
// score first.
func ksFindings(tests []KSTest, spans []evidence.Span, cfg Config) []evidence.Finding {
	var out []evidence.Finding
	for i := range tests {
		t := &tests[i]
		if !t.Significant {
			continue
		}
		refs := []evidence.Ref{{ID: t.ID(), Line: evidence.LineTrace}}
		refs = append(refs, slowest(spans, t.b, cfg.Exemplars)...)
		if t.Deploy {
			for _, id := range append(slices.Clone(t.resA), t.resB...) {
				refs = appendRefs(refs, evidence.Ref{ID: id, Line: evidence.LineDeploy})
			}
		}
		subject := t.Endpoint + " " + t.From + ".." + t.To
		rel := relChange(t.MedianA, t.MedianB, cfg.FloorNS)
		out = append(out, evidence.Finding{
			ID:   evidence.NewFindingID(KindKS, subject, refs),
			Kind: KindKS, Subject: subject,
			Summary: fmt.Sprintf("%s: latency %s from %s to %s: p50 %v -> %v, p95 %v -> %v (KS D=%.2f, p=%.2g, BH q=%.2g; %d vs %d spans)",
				t.Endpoint, verb(rel), t.From, t.To, dur(t.MedianA), dur(t.MedianB), dur(t.P95A), dur(t.P95B),
				t.KS.Statistic, t.KS.PValue, t.Q, t.NA, t.NB),
			Score:      logRatio(t.MedianA, t.MedianB, cfg.FloorNS),
			Confidence: 1 - t.Q,
			Refs:       refs,
			Attrs: map[string]float64{
				"median_a_ns": t.MedianA, "median_b_ns": t.MedianB, "p95_a_ns": t.P95A, "p95_b_ns": t.P95B,
				"rel_change": rel, "ks_d": t.KS.Statistic, "ks_p": t.KS.PValue, "q": t.Q,
				"n_a": float64(t.NA), "n_b": float64(t.NB),
			},
			StartNS: t.startNS, EndNS: t.endNS,
		})
	}
	sortFindings(out)
	return out
}

// sortFindings orders by score (highest first), then subject and id.
func sortFindings(fs []evidence.Finding) {
	slices.SortStableFunc(fs, func(a, b evidence.Finding) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(a.Subject, b.Subject), cmp.Compare(a.ID, b.ID))
	})
}

func verb(rel float64) string {
	if rel < 0 {
		return "fell"
	}
	return "rose"
}

// dur renders ns at a readable precision (1.052s, 12.3ms).
func dur(ns float64) time.Duration {
	d := time.Duration(ns)
	switch a := d.Abs(); {
	case a >= time.Second:
		return d.Round(time.Millisecond)
	case a >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	default:
		return d.Round(time.Microsecond)
	}
}
