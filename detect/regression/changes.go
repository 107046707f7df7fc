package regression

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/debugai/debugai/detect/changepoint"
	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// point is one observation of a series; ref indexes what exemplars are
// drawn from (a span for endpoint series, a trace path for components).
type point struct {
	t   int64
	v   float64
	ref int
}

// series is a time series of observations to cut into windows.
type series struct {
	name string // e.g. "customer GET /customer p50"
	kind string
	stat string // "p50", "p95" or "mean" of each window
	pts  []point
	// exemplars cites the evidence behind the given points.
	exemplars func(pts []point, n int) []evidence.Ref
}

// window is a run of points [lo, hi) of a series and their statistic.
type window struct {
	startNS int64
	lo, hi  int
	value   float64
}

// windows cuts s into fixed windows of [t0, tEnd): as many as give about
// cfg.SpansPerWindow points each, within cfg.MinWindows..cfg.MaxWindows,
// leaving out windows with fewer than half of that. It returns nil when
// fewer than cfg.MinWindows windows remain, and the window width.
func (s *series) windows(t0, tEnd int64, cfg Config) ([]window, int64) {
	n := len(s.pts)
	k := min(max(n/cfg.SpansPerWindow, cfg.MinWindows), cfg.MaxWindows)
	width := max(1, (tEnd-t0+int64(k)-1)/int64(k))
	minPts := max(1, cfg.SpansPerWindow/2)
	var out []window
	for lo := 0; lo < n; {
		w := (s.pts[lo].t - t0) / width
		hi := lo
		for hi < n && (s.pts[hi].t-t0)/width == w {
			hi++
		}
		if hi-lo >= minPts {
			out = append(out, window{startNS: t0 + w*width, lo: lo, hi: hi, value: s.stat1(s.pts[lo:hi])})
		}
		lo = hi
	}
	if len(out) < cfg.MinWindows {
		return nil, width
	}
	return out, width
}

func (s *series) stat1(pts []point) float64 {
	v := make([]float64, len(pts))
	for i, p := range pts {
		v[i] = p.v
	}
	switch s.stat {
	case "mean":
		var sum float64
		for _, x := range v {
			sum += x
		}
		return sum / float64(len(v))
	case "p95":
		slices.Sort(v)
		return quantile(v, 0.95)
	default:
		slices.Sort(v)
		return quantile(v, 0.5)
	}
}

// change is one change point of a series, before the multiple-testing step.
type change struct {
	s              *series
	ws             []window
	widthNS        int64
	before, after  []window // the segments on either side
	atNS           int64
	lastNS, nextNS int64 // last point before, first point after
	levelA, levelB float64
	ks             stattest.KSResult
	q              float64
}

// ID is the change's evidence ID, cp:<series>@<t>.
func (c *change) ID() string { return evidence.ChangePointEvidenceID(c.s.name, c.atNS) }

// changes runs PELT (MBIC) on the windowed series and tests each change
// with KS between the raw points of the segments on either side.
func (s *series) changes(t0, tEnd int64, cfg Config) ([]change, error) {
	ws, width := s.windows(t0, tEnd, cfg)
	if ws == nil {
		return nil, nil
	}
	vals := make([]float64, len(ws))
	for i, w := range ws {
		vals[i] = w.value
	}
	pcfg := changepoint.DefaultPELTConfig()
	pcfg.MinSegLen = cfg.MinSegWindows
	cps, err := changepoint.PELT(vals, pcfg)
	if errors.Is(err, changepoint.ErrConstant) || errors.Is(err, changepoint.ErrTooShort) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("series %s: %w", s.name, err)
	}
	cps = slices.DeleteFunc(cps, func(i int) bool { return i >= len(ws)-1 })
	var out []change
	for j, i := range cps {
		from, to := 0, len(ws)
		if j > 0 {
			from = cps[j-1] + 1
		}
		if j+1 < len(cps) {
			to = cps[j+1] + 1
		}
		c := change{s: s, ws: ws, widthNS: width, before: ws[from : i+1], after: ws[i+1 : to]}
		c.lastNS = s.pts[ws[i].hi-1].t
		c.nextNS = s.pts[ws[i+1].lo].t
		c.atNS = c.lastNS + (c.nextNS-c.lastNS)/2
		c.levelA, c.levelB = segLevel(c.before), segLevel(c.after)
		x, y := s.values(c.before), s.values(c.after)
		if c.ks, err = stattest.KS2Samp(x, y, stattest.KSOptions{Alternative: stattest.TwoSided, Method: stattest.Bounded}); err != nil {
			return nil, fmt.Errorf("series %s: %w", s.name, err)
		}
		out = append(out, c)
	}
	return out, nil
}

// segLevel is the median of the window statistics of a segment.
func segLevel(ws []window) float64 {
	v := make([]float64, len(ws))
	for i, w := range ws {
		v[i] = w.value
	}
	return median(v)
}

// values returns the raw values of the points in ws.
func (s *series) values(ws []window) []float64 {
	var v []float64
	for _, w := range ws {
		for _, p := range s.pts[w.lo:w.hi] {
			v = append(v, p.v)
		}
	}
	return v
}

func (s *series) pointsOf(ws []window) []point {
	var out []point
	for _, w := range ws {
		out = append(out, s.pts[w.lo:w.hi]...)
	}
	return out
}

// changeFindings applies Benjamini–Hochberg across cs and returns a finding
// per rejected change that moved its level by cfg.MinRelChange, largest
// score first.
func changeFindings(cs []change, cfg Config) ([]evidence.Finding, error) {
	if len(cs) == 0 {
		return nil, nil
	}
	p := make([]float64, len(cs))
	for i := range cs {
		p[i] = cs[i].ks.PValue
	}
	bh, err := stattest.BenjaminiHochberg(p, cfg.Alpha)
	if err != nil {
		return nil, fmt.Errorf("change points: %w", err)
	}
	var out []evidence.Finding
	for i := range cs {
		c := &cs[i]
		c.q = bh.Adjusted[i]
		rel := relChange(c.levelA, c.levelB, cfg.FloorNS)
		if !bh.Reject[i] || math.Abs(rel) < cfg.MinRelChange {
			continue
		}
		out = append(out, c.finding(rel, cfg))
	}
	sortFindings(out)
	return out, nil
}

func (c *change) finding(rel float64, cfg Config) evidence.Finding {
	refs := []evidence.Ref{{ID: c.ID(), Line: evidence.LineTrace}}
	refs = appendRefs(refs, c.s.exemplars(c.s.pointsOf(c.after[:min(2, len(c.after))]), cfg.Exemplars)...)
	nA, nB := 0, 0
	for _, w := range c.before {
		nA += w.hi - w.lo
	}
	for _, w := range c.after {
		nB += w.hi - w.lo
	}
	at := time.Unix(0, c.atNS).UTC().Format(time.RFC3339Nano)
	return evidence.Finding{
		ID:   evidence.NewFindingID(c.s.kind, c.s.name, refs),
		Kind: c.s.kind, Subject: c.s.name,
		Summary: fmt.Sprintf("%s %s from %v to %v at %s (%d windows of %v; KS p=%.2g, BH q=%.2g; %d vs %d samples)",
			c.s.name, verb(rel), dur(c.levelA), dur(c.levelB), at, len(c.ws), time.Duration(c.widthNS),
			c.ks.PValue, c.q, nA, nB),
		Score:      logRatio(c.levelA, c.levelB, cfg.FloorNS),
		Confidence: 1 - c.q,
		Refs:       refs,
		Attrs: map[string]float64{
			"change_ns": float64(c.atNS), "last_before_ns": float64(c.lastNS), "first_after_ns": float64(c.nextNS),
			"level_before_ns": c.levelA, "level_after_ns": c.levelB, "rel_change": rel,
			"ks_d": c.ks.Statistic, "ks_p": c.ks.PValue, "q": c.q,
			"window_ns": float64(c.widthNS), "windows": float64(len(c.ws)),
			"n_before": float64(nA), "n_after": float64(nB),
		},
		StartNS: c.s.pts[0].t, EndNS: c.s.pts[len(c.s.pts)-1].t,
	}
}
