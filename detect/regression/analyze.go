package regression

import (
	"fmt"
	"math"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

// Input is what Analyze looks at.
type Input struct {
	// Spans are the spans of the analysed window, with their Events when
	// lock waits should be read from span events.
	Spans []evidence.Span
	// Overlays are the per-span kernel overlays (correlate.Overlays over
	// Spans: SpanIndex indexes Spans); nil without kernel data.
	Overlays []correlate.Overlay
	// IsBaseline, when set, marks the spans of the baseline (the period the
	// incident is compared with, chosen by its source, not by time): every
	// endpoint's samples are then split into "baseline" and "incident"
	// groups for a KS test.
	IsBaseline func(*evidence.Span) bool
}

// Report is what Analyze computed, findings aside.
type Report struct {
	Endpoints int
	// Traces counts the traces with a critical path; SkippedTraces those
	// without a root.
	Traces, SkippedTraces int
	// TotalNS is the summed critical-path time.
	TotalNS int64
	// Paths holds each trace's critical path split into components,
	// ordered by start (used by attribution between groups).
	Paths []TracePath
	// KS holds every KS test, significant or not.
	KS []KSTest
	// ChangeTests and TrendTests count the change points and trend breaks
	// tested (before Benjamini–Hochberg).
	ChangeTests, TrendTests int
}

// Analyze runs every test of the package over in and returns the report
// and the findings, in this order: critical_path_component, latency_ks,
// latency_changepoint, critical_path_changepoint, latency_trend_break;
// within a kind, highest score first.
func Analyze(in Input, cfg Config) (Report, []evidence.Finding, error) {
	if err := cfg.Validate(); err != nil {
		return Report{}, nil, err
	}
	var rep Report
	eps := endpoints(in.Spans)
	rep.Endpoints = len(eps)
	rep.Paths, rep.SkippedTraces = tracePaths(in.Spans, in.Overlays, cfg)
	rep.Traces = len(rep.Paths)
	for _, p := range rep.Paths {
		rep.TotalNS += p.EndNS - p.StartNS
	}
	out := componentFindings(rep.Paths, rep.TotalNS, cfg)

	var err error
	if rep.KS, err = runKS(eps, in.IsBaseline, in.Spans, cfg); err != nil {
		return rep, nil, err
	}
	out = append(out, ksFindings(rep.KS, in.Spans, cfg)...)

	epSeries, compSeries := buildSeries(eps, rep.Paths, rep.TotalNS, in.Spans, cfg)
	t0, tEnd := bounds(eps, rep.Paths)
	for _, group := range [][]*series{epSeries, compSeries} {
		var cs []change
		for _, s := range group {
			c, err := s.changes(t0, tEnd, cfg)
			if err != nil {
				return rep, nil, err
			}
			cs = append(cs, c...)
		}
		rep.ChangeTests += len(cs)
		fs, err := changeFindings(cs, cfg)
		if err != nil {
			return rep, nil, err
		}
		out = append(out, fs...)
	}

	var trends []trendTest
	for _, s := range epSeries {
		if s.stat != "p50" {
			continue
		}
		if t, ok := s.trend(t0, tEnd, cfg); ok {
			trends = append(trends, t)
		}
	}
	rep.TrendTests = len(trends)
	fs, err := trendFindings(trends, cfg)
	if err != nil {
		return rep, nil, err
	}
	return rep, append(out, fs...), nil
}

// bounds returns the time range [t0, tEnd) of the series' points.
func bounds(eps []Endpoint, paths []TracePath) (int64, int64) {
	t0, t1 := int64(math.MaxInt64), int64(math.MinInt64)
	for _, ep := range eps {
		t0 = min(t0, ep.Samples[0].StartNS)
		t1 = max(t1, ep.Samples[len(ep.Samples)-1].StartNS)
	}
	for _, p := range paths {
		t0, t1 = min(t0, p.StartNS), max(t1, p.StartNS)
	}
	return t0, t1 + 1
}

// buildSeries returns the p50 and p95 series of every endpoint and the
// mean series of every (operation, component) holding cfg.MinSeriesShare
// of all critical-path time.
func buildSeries(eps []Endpoint, paths []TracePath, totalNS int64, spans []evidence.Span, cfg Config) (epS, compS []*series) {
	for i := range eps {
		ep := &eps[i]
		pts := make([]point, len(ep.Samples))
		for j, s := range ep.Samples {
			pts[j] = point{t: s.StartNS, v: float64(s.DurNS), ref: s.Index}
		}
		ex := func(pts []point, n int) []evidence.Ref {
			samples := make([]Sample, len(pts))
			for j, p := range pts {
				samples[j] = Sample{Index: p.ref, DurNS: int64(p.v)}
			}
			return slowest(spans, samples, n)
		}
		for _, stat := range []string{"p50", "p95"} {
			epS = append(epS, &series{name: ep.Name + " " + stat, kind: KindChangepoint, stat: stat, pts: pts, exemplars: ex})
		}
	}
	if totalNS <= 0 {
		return epS, nil
	}
	keys, totals := opCompTotals(paths)
	for _, k := range keys {
		if float64(totals[k])/float64(totalNS) < cfg.MinSeriesShare {
			continue
		}
		v := perTrace(paths, k)
		pts := make([]point, len(paths))
		for j := range paths {
			pts[j] = point{t: paths[j].StartNS, v: v[j], ref: j}
		}
		k := k
		ex := func(pts []point, n int) []evidence.Ref {
			idx := make([]int, len(pts))
			for j, p := range pts {
				idx[j] = p.ref
			}
			return pathExemplars(paths, idx, k, n)
		}
		compS = append(compS, &series{name: k.name(), kind: KindComponentChangepoint, stat: "mean", pts: pts, exemplars: ex})
	}
	return epS, compS
}

// trend fits a trend break to the windowed series (x in seconds from t0).
func (s *series) trend(t0, tEnd int64, cfg Config) (trendTest, bool) {
	ws, width := s.windows(t0, tEnd, cfg)
	if ws == nil {
		return trendTest{}, false
	}
	x := make([]float64, len(ws))
	y := make([]float64, len(ws))
	for i, w := range ws {
		x[i] = float64(w.startNS-t0+width/2) / 1e9
		y[i] = w.value
	}
	fit, ok := FitTrend(x, y)
	if !ok {
		return trendTest{}, false
	}
	line, _, _ := ols(x, y, math.NaN())
	level := line[0] + line[1]*fit.Tau
	return trendTest{s: s, ws: ws, fit: fit, t0: t0, level: level}, true
}

// String summarizes the report on one line.
func (r Report) String() string {
	return fmt.Sprintf("%d endpoints, %d traces (%d skipped), %d KS tests, %d change points and %d trend breaks tested",
		r.Endpoints, r.Traces, r.SkippedTraces, len(r.KS), r.ChangeTests, r.TrendTests)
}
