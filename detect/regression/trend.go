package regression

import (
	"fmt"
	"math"
	"time"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// trendMinSide is the fewest windows on each side of a trend breakpoint.
const trendMinSide = 3

// TrendFit is the comparison of a single line with a continuous
// piecewise-linear fit with one breakpoint:
//
//	y = a + b·x + c·max(0, x − τ)
type TrendFit struct {
	N        int
	Break    int     // index of the breakpoint window
	Tau      float64 // breakpoint x
	Slope1   float64 // b: slope before τ
	Slope2   float64 // b + c: slope after τ
	RSSLine  float64
	RSSBreak float64
	F        float64 // ((RSSLine−RSSBreak)/2) / (RSSBreak/(N−4))
	P        float64 // upper tail of F(2, N−4)
	// Rise is c·(x_last − τ): how far the slope change moved the fit by the
	// last point.
	Rise float64
}

// FitTrend fits both models to (x, y), choosing τ among x[trendMinSide ..
// N−1−trendMinSide] by least squares, and F-tests the break. It needs at
// least 2·trendMinSide+1 points; ok is false otherwise or when the fit is
// exact already (nothing to test).
func FitTrend(x, y []float64) (TrendFit, bool) {
	n := len(x)
	if n != len(y) || n < 2*trendMinSide+1 {
		return TrendFit{}, false
	}
	fit := TrendFit{N: n, RSSBreak: math.Inf(1)}
	var ok bool
	var line [3]float64
	if line, fit.RSSLine, ok = ols(x, y, math.NaN()); !ok {
		return TrendFit{}, false
	}
	fit.Slope1, fit.Slope2 = line[1], line[1]
	for j := trendMinSide; j <= n-1-trendMinSide; j++ {
		beta, rss, ok := ols(x, y, x[j])
		if ok && rss < fit.RSSBreak {
			fit.RSSBreak, fit.Break, fit.Tau = rss, j, x[j]
			fit.Slope1, fit.Slope2 = beta[1], beta[1]+beta[2]
			fit.Rise = beta[2] * (x[n-1] - x[j])
		}
	}
	if math.IsInf(fit.RSSBreak, 1) || fit.RSSLine <= 0 {
		return TrendFit{}, false
	}
	df2 := float64(n - 4)
	if fit.RSSBreak <= 1e-12*fit.RSSLine {
		fit.F, fit.P = math.Inf(1), 0
		return fit, true
	}
	fit.F = ((fit.RSSLine - fit.RSSBreak) / 2) / (fit.RSSBreak / df2)
	fit.P = fUpper(fit.F, 2, df2)
	return fit, true
}

// ols fits y = a + b·x (+ c·max(0, x−tau) unless tau is NaN) by least
// squares through the normal equations, x centred for conditioning.
func ols(x, y []float64, tau float64) ([3]float64, float64, bool) {
	k := 3
	if math.IsNaN(tau) {
		k = 2
	}
	var mx float64
	for _, v := range x {
		mx += v
	}
	mx /= float64(len(x))
	row := func(i int) [3]float64 {
		if k == 2 {
			return [3]float64{1, x[i] - mx, 0}
		}
		return [3]float64{1, x[i] - mx, math.Max(0, x[i]-tau)}
	}
	var a [3][4]float64
	for i := range x {
		r := row(i)
		for p := 0; p < k; p++ {
			for q := 0; q < k; q++ {
				a[p][q] += r[p] * r[q]
			}
			a[p][3] += r[p] * y[i]
		}
	}
	beta, ok := solve(a, k)
	if !ok {
		return beta, 0, false
	}
	var rss float64
	for i := range x {
		r := row(i)
		e := y[i] - (beta[0] + beta[1]*r[1] + beta[2]*r[2])
		rss += e * e
	}
	beta[0] -= beta[1] * mx // back to the uncentred intercept
	return beta, rss, true
}

// solve solves the k×k system a[:k][:k]·β = a[:k][3] by Gaussian
// elimination with partial pivoting.
func solve(a [3][4]float64, k int) ([3]float64, bool) {
	var beta [3]float64
	for c := 0; c < k; c++ {
		piv := c
		for r := c + 1; r < k; r++ {
			if math.Abs(a[r][c]) > math.Abs(a[piv][c]) {
				piv = r
			}
		}
		if math.Abs(a[piv][c]) < 1e-12 {
			return beta, false
		}
		a[c], a[piv] = a[piv], a[c]
		for r := c + 1; r < k; r++ {
			f := a[r][c] / a[c][c]
			for q := c; q < k; q++ {
				a[r][q] -= f * a[c][q]
			}
			a[r][3] -= f * a[c][3]
		}
	}
	for c := k - 1; c >= 0; c-- {
		s := a[c][3]
		for q := c + 1; q < k; q++ {
			s -= a[c][q] * beta[q]
		}
		beta[c] = s / a[c][c]
	}
	return beta, true
}

// trendTest is a trend-break fit of one endpoint's p50 series.
type trendTest struct {
	s     *series
	ws    []window
	fit   TrendFit
	t0    int64
	level float64 // the fitted line's level at τ (ns)
}

// trendFindings applies Benjamini–Hochberg across the trend tests and
// returns a latency_trend_break finding per rejected break whose rise
// reaches cfg.MinRelChange of the level at the break.
func trendFindings(ts []trendTest, cfg Config) ([]evidence.Finding, error) {
	if len(ts) == 0 {
		return nil, nil
	}
	p := make([]float64, len(ts))
	for i := range ts {
		p[i] = ts[i].fit.P
	}
	bh, err := stattest.BenjaminiHochberg(p, cfg.Alpha)
	if err != nil {
		return nil, fmt.Errorf("trend breaks: %w", err)
	}
	var out []evidence.Finding
	for i := range ts {
		t := &ts[i]
		rel := t.fit.Rise / (math.Abs(t.level) + cfg.FloorNS)
		if !bh.Reject[i] || math.Abs(rel) < cfg.MinRelChange {
			continue
		}
		out = append(out, t.finding(bh.Adjusted[i], rel, cfg))
	}
	sortFindings(out)
	return out, nil
}

func (t *trendTest) finding(q, rel float64, cfg Config) evidence.Finding {
	atNS := t.ws[t.fit.Break].startNS
	name := t.s.name + " slope"
	refs := []evidence.Ref{{ID: evidence.ChangePointEvidenceID(name, atNS), Line: evidence.LineTrace}}
	refs = appendRefs(refs, t.s.exemplars(t.s.pointsOf(t.ws[t.fit.Break:]), cfg.Exemplars)...)
	perMin := func(slopePerS float64) time.Duration { return dur(slopePerS * 60) }
	return evidence.Finding{
		ID:   evidence.NewFindingID(KindTrendBreak, name, refs),
		Kind: KindTrendBreak, Subject: name,
		Summary: fmt.Sprintf("%s: trend changed at %s from %v/min to %v/min, %+.0f%% of its level by the end (F=%.1f, p=%.2g, BH q=%.2g; %d windows)",
			t.s.name, time.Unix(0, atNS).UTC().Format(time.RFC3339Nano), perMin(t.fit.Slope1), perMin(t.fit.Slope2),
			100*rel, t.fit.F, t.fit.P, q, t.fit.N),
		Score:      math.Abs(rel),
		Confidence: 1 - q,
		Refs:       refs,
		Attrs: map[string]float64{
			"break_ns": float64(atNS), "slope_before_ns_per_s": t.fit.Slope1, "slope_after_ns_per_s": t.fit.Slope2,
			"rise_ns": t.fit.Rise, "rel_change": rel, "f": t.fit.F, "p": t.fit.P, "q": q,
			"windows": float64(t.fit.N), "rss_line": t.fit.RSSLine, "rss_break": t.fit.RSSBreak,
		},
		StartNS: t.s.pts[0].t, EndNS: t.s.pts[len(t.s.pts)-1].t,
	}
}

// fUpper is P(F > f) for F ~ F(d1, d2): the regularized incomplete beta
// I_{d2/(d2+d1·f)}(d2/2, d1/2).
func fUpper(f, d1, d2 float64) float64 {
	if f <= 0 {
		return 1
	}
	return incBeta(d2/2, d1/2, d2/(d2+d1*f))
}

// incBeta is the regularized incomplete beta function I_x(a, b), by the
// continued fraction (modified Lentz), using the symmetry relation where
// it converges faster.
func incBeta(a, b, x float64) float64 {
	switch {
	case x <= 0:
		return 0
	case x >= 1:
		return 1
	}
	la, _ := math.Lgamma(a + b)
	lb, _ := math.Lgamma(a)
	lc, _ := math.Lgamma(b)
	front := math.Exp(la - lb - lc + a*math.Log(x) + b*math.Log1p(-x))
	if x > (a+1)/(a+b+2) {
		return 1 - front*betaCF(b, a, 1-x)/b
	}
	return front * betaCF(a, b, x) / a
}

func betaCF(a, b, x float64) float64 {
	const tiny, eps = 1e-300, 1e-15
	c, d := 1.0, 1-(a+b)*x/(a+1)
	if math.Abs(d) < tiny {
		d = tiny
	}
	d = 1 / d
	h := d
	for m := 1; m <= 300; m++ {
		fm := float64(m)
		for _, num := range [2]float64{
			fm * (b - fm) * x / ((a + 2*fm - 1) * (a + 2*fm)),
			-(a + fm) * (a + b + fm) * x / ((a + 2*fm) * (a + 2*fm + 1)),
		} {
			d = 1 + num*d
			if math.Abs(d) < tiny {
				d = tiny
			}
			c = 1 + num/c
			if math.Abs(c) < tiny {
				c = tiny
			}
			d = 1 / d
			h *= d * c
		}
		if math.Abs(d*c-1) < eps {
			break
		}
	}
	return h
}
