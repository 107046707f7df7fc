package report

import (
	"fmt"
	"strconv"
)

const latencyStyle = `.title{font-size:13px;font-weight:bold}.axis,.legend{fill:#333}` +
	`.grid{stroke:#e0e0e0;stroke-width:1}.frame{stroke:#333;stroke-width:1}` +
	`.before{fill:#7f7f7f;fill-opacity:0.6}.after{fill:#d62728;fill-opacity:0.7}` +
	`.p95before{stroke:#555;stroke-width:1.5;stroke-dasharray:4 3}.p95after{stroke:#d62728;stroke-width:1.5;stroke-dasharray:4 3}`

// Latency chart layout, in px.
const (
	latWidth  = 960.0
	latHeight = 360.0
	latX0     = 70.0
	latX1     = 930.0
	latY0     = 60.0
	latY1     = 290.0
)

// LatencySVG draws the before/after latency distributions as paired
// histograms on a log duration axis (five bins per decade): the share of
// requests per bin, before in grey and after in red, with each side's p95
// dashed.
func LatencySVG(r Report) ([]byte, error) {
	c := r.Charts.Latency
	if c == nil || len(c.After.Bins) == 0 {
		return nil, fmt.Errorf("latency distributions: %w", ErrNoChart)
	}
	n := len(c.After.Bins)
	bw := (latX1 - latX0) / float64(n)
	share := func(d Distribution, i int) float64 {
		if d.Count == 0 {
			return 0
		}
		return float64(d.Bins[i].Count) / float64(d.Count)
	}
	top := 0.0
	for i := range n {
		top = max(top, share(c.Before, i), share(c.After, i))
	}
	top = niceCeil(top)
	y := func(f float64) float64 { return latY1 - f/top*(latY1-latY0) }
	var w svg
	w.open(latWidth, latHeight, "Latency of "+c.Service+" "+c.Endpoint, latencyStyle)
	w.text(10, 20, "start", "title", "Latency of "+c.Service+": "+c.Endpoint+", before vs after")
	shareGrid(&w, top, y)
	for i, b := range c.After.Bins {
		x := latX0 + float64(i)*bw
		if bw >= 50 || edgeIsDecade(b.LowNS) {
			w.line(x, latY1, x, latY1+5, "frame")
			w.text(x, latY1+18, "middle", "axis", fmtDur(b.LowNS))
		}
		if i == n-1 && bw >= 50 {
			w.line(latX1, latY1, latX1, latY1+5, "frame")
			w.text(latX1, latY1+18, "middle", "axis", fmtDur(b.HighNS))
		}
		for k, d := range []Distribution{c.Before, c.After} {
			s := share(d, i)
			if s == 0 {
				continue
			}
			w.rect(x+1+float64(k)*(bw-2)/2, y(s), (bw-2)/2, latY1-y(s), d.Label,
				fmt.Sprintf("%s: %d of %d in [%s, %s)", d.Label, d.Bins[i].Count, d.Count, fmtDur(b.LowNS), fmtDur(b.HighNS)))
		}
	}
	w.line(latX0, latY1, latX1, latY1, "frame")
	w.line(latX0, latY0, latX0, latY1, "frame")
	w.text((latX0+latX1)/2, latY1+36, "middle", "axis", "duration (log scale)")
	for _, d := range []Distribution{c.Before, c.After} {
		if d.Count > 0 {
			px := latX0 + binPos(c.After.Bins, d.P95NS)*bw
			w.line(px, latY0-4, px, latY1, "p95"+d.Label)
		}
	}
	w.legend(latX0, latHeight-12, [][2]string{
		{"before", summaryLabel(c.Before)},
		{"after", summaryLabel(c.After)},
	})
	return w.close(), nil
}

// shareGrid draws the horizontal grid at fifths of top, labelled in
// percent.
func shareGrid(w *svg, top float64, y func(float64) float64) {
	for i := 0; i <= 5; i++ {
		f := top * float64(i) / 5
		w.line(latX0, y(f), latX1, y(f), "grid")
		w.text(latX0-6, y(f)+4, "end", "axis", strconv.FormatFloat(100*f, 'f', 0, 64)+"%")
	}
}

// summaryLabel is "before: n=120, p50 1.2ms, p95 3.4ms, p99 5.6ms".
func summaryLabel(d Distribution) string {
	return fmt.Sprintf("%s: n=%d, p50 %s, p95 %s, p99 %s (dashed: p95)",
		d.Label, d.Count, fmtDur(d.P50NS), fmtDur(d.P95NS), fmtDur(d.P99NS))
}

// binPos is v's position in bin units: the bin index plus the linear
// fraction within the bin, clamped to the axis.
func binPos(bins []Bin, v int64) float64 {
	for i, b := range bins {
		if v < b.HighNS {
			if v <= b.LowNS {
				return float64(i)
			}
			return float64(i) + float64(v-b.LowNS)/float64(b.HighNS-b.LowNS)
		}
	}
	return float64(len(bins))
}

// edgeIsDecade reports whether a bin edge is a power of ten.
func edgeIsDecade(v int64) bool {
	for v >= 10 && v%10 == 0 {
		v /= 10
	}
	return v == 1
}

// niceCeil rounds a share up to the next multiple of 0.1 (at least 0.1),
// so that fifths of it are whole percents.
func niceCeil(f float64) float64 {
	steps := int(f*10 + 0.999999)
	return float64(min(max(steps, 1), 10)) / 10
}
