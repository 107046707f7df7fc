package patterns

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/debugai/debugai/detect/stattest"
	"github.com/debugai/debugai/evidence"
)

// attrBlockOp is the block_io attribute naming the request's operation
// ("read", "write", "flush", ...), as bpf.AttrBlockOp writes it. A flush is
// the device cache flush that fsync/fdatasync issue.
const attrBlockOp = "debugai.block.op"

// ioStats sums one endpoint's block I/O.
type ioStats struct {
	slowN, fastN, slowWith          int
	slowDur, fastDur                int64
	slowIO, fastIO, flushIO, syncIO int64
	slowVals, fastVals              []float64
	p                               float64
}

// ioLatency implements io_latency (see the package doc).
func (x *index) ioLatency() ([]evidence.Finding, error) {
	if !x.hasType(evidence.KernelBlockIO) && !x.hasType(evidence.KernelFsync) {
		return nil, nil
	}
	blk, err := x.typedSpanEvents(evidence.KernelBlockIO, false)
	if err != nil {
		return nil, err
	}
	syncs, err := x.typedSpanEvents(evidence.KernelFsync, false)
	if err != nil {
		return nil, err
	}
	io := mergeSpanLists(blk, syncs)
	c := &x.cfg.IO
	var eps []int
	var sts []*ioStats
	var ps []float64
	for e := range x.epName {
		if x.slowNS[e] < 0 {
			continue
		}
		st := x.endpointIO(e, io)
		if st.slowWith < c.MinSlowWithIO {
			continue
		}
		r, err := stattest.KS2Samp(st.fastVals, st.slowVals, stattest.KSOptions{Alternative: stattest.Greater, Method: stattest.Bounded})
		if err != nil {
			return nil, fmt.Errorf("io latency test of %s: %w", x.epName[e], err)
		}
		st.p = r.PValue
		eps, sts, ps = append(eps, e), append(sts, st), append(ps, st.p)
	}
	adj, reject := x.bh(ps)
	var out []evidence.Finding
	for j, e := range eps {
		st := sts[j]
		share := float64(st.slowIO) / float64(max(st.slowDur, 1))
		explained := 0.0
		durEx := float64(st.slowDur)/float64(st.slowN) - float64(st.fastDur)/float64(max(st.fastN, 1))
		if durEx > 0 {
			ioEx := float64(st.slowIO)/float64(st.slowN) - float64(st.fastIO)/float64(max(st.fastN, 1))
			explained = min(1, ioEx/durEx)
		}
		if !reject[j] || share < c.MinShare || explained < c.MinExplained {
			continue
		}
		out = append(out, x.ioFinding(e, st, share, explained, adj[j], io))
	}
	return out, nil
}

func (x *index) endpointIO(e int, io *spanLists) *ioStats {
	st := &ioStats{}
	var ivs [][2]int64
	for _, s := range x.epSpans[x.epOff[e]:x.epOff[e+1]] {
		ivs = ivs[:0]
		for _, ev := range io.of(s) {
			k := &x.events[ev]
			d := max(k.DurationNS, 0)
			ivs = append(ivs, [2]int64{k.TimeNS - d, k.TimeNS})
			if x.label[s] != labelSlow {
				continue
			}
			if k.Type == evidence.KernelFsync {
				st.syncIO += d
			} else if v, ok := k.Attrs.Get(attrBlockOp); ok && v.Str == "flush" {
				st.flushIO += d
			}
		}
		ns := min(unionNS(ivs), x.spans[s].DurationNS())
		if x.label[s] == labelSlow {
			st.slowN++
			st.slowDur += x.spans[s].DurationNS()
			st.slowIO += ns
			st.slowVals = append(st.slowVals, float64(ns))
			if ns > 0 {
				st.slowWith++
			}
		} else {
			st.fastN++
			st.fastDur += x.spans[s].DurationNS()
			st.fastIO += ns
			st.fastVals = append(st.fastVals, float64(ns))
		}
	}
	return st
}

func (x *index) ioFinding(e int, st *ioStats, share, explained, padj float64, io *spanLists) evidence.Finding {
	var refs refSet
	slow := x.slowWith(e, io)
	for _, s := range slow[:min(len(slow), x.cfg.MaxRefs)] {
		refs.span(&x.spans[s])
		evs := io.of(s)
		for _, j := range topK(len(evs), 2, func(j int) int64 { return x.events[evs[j]].DurationNS }) {
			refs.event(&x.events[evs[j]])
		}
	}
	subject := x.epName[e]
	slowMean := st.slowIO / int64(st.slowN)
	fastMean := st.fastIO / int64(max(st.fastN, 1))
	summary := fmt.Sprintf("block I/O is %.0f%% of the time of slow %s spans (above p%g = %v): %v per slow span against %v per fast span, %.0f%% of their latency difference (KS p = %.2g)",
		100*share, subject, 100*x.cfg.SlowQuantile, roundDur(x.slowNS[e]), roundDur(slowMean), roundDur(fastMean),
		100*explained, st.p)
	if st.flushIO > 0 {
		summary += fmt.Sprintf("; cache flushes (fsync) %v", roundDur(st.flushIO))
	}
	if st.syncIO > 0 {
		summary += fmt.Sprintf("; waits in fsync/fdatasync %v", roundDur(st.syncIO))
	}
	attrs := map[string]float64{
		"share": share, "explained": explained, "slow_spans": float64(st.slowN), "slow_with_io": float64(st.slowWith),
		"slow_io_ns": float64(st.slowIO), "fast_io_ns": float64(st.fastIO), "slow_mean_io_ns": float64(slowMean),
		"fast_mean_io_ns": float64(fastMean), "flush_ns": float64(st.flushIO), "fsync_ns": float64(st.syncIO), "p_value": st.p, "p_adjusted": padj,
		"slow_threshold_ns": float64(x.slowNS[e]),
	}
	return newFinding(KindIOLatency, subject, summary, share*explained, share*(1-padj), refs.refs, attrs)
}

// mergeSpanLists returns, per span, the events of a then those of b.
func mergeSpanLists(a, b *spanLists) *spanLists {
	l := &spanLists{off: make([]int32, len(a.off)), ev: make([]int32, 0, len(a.ev)+len(b.ev))}
	for s := 0; s+1 < len(a.off); s++ {
		l.ev = append(append(l.ev, a.of(int32(s))...), b.of(int32(s))...)
		l.off[s+1] = int32(len(l.ev))
	}
	return l
}

// unionNS is the total length of the union of the intervals [lo, hi]
// (a span's block requests overlap each other and the fsync that waits
// for them); it sorts ivs.
func unionNS(ivs [][2]int64) int64 {
	slices.SortFunc(ivs, func(a, b [2]int64) int { return cmp.Compare(a[0], b[0]) })
	var total, end int64
	for i, iv := range ivs {
		if i == 0 || iv[0] > end {
			total += iv[1] - iv[0]
			end = iv[1]
		} else if iv[1] > end {
			total += iv[1] - end
			end = iv[1]
		}
	}
	return total
}

// faultProc is one process's major faults and storm windows.
type faultProc struct {
	key     procKey
	events  []timed
	storms  map[int64]int64 // window -> faults
	median  float64
	service string
}

// faultStorms implements page_fault_storm (see the package doc).
func (x *index) faultStorms() ([]evidence.Finding, error) {
	if !x.hasType(evidence.KernelPageFaultMaj) || len(x.spans) == 0 {
		return nil, nil
	}
	if err := x.join(); err != nil {
		return nil, err
	}
	procs := x.procEvents(evidence.KernelPageFaultMaj, false)
	var fps []*faultProc
	for k, evs := range procs {
		if fp := x.stormsOf(k, evs); fp != nil {
			fps = append(fps, fp)
		}
	}
	if len(fps) == 0 {
		return nil, nil
	}
	slices.SortFunc(fps, func(a, b *faultProc) int {
		return cmp.Or(strings.Compare(a.key.node, b.key.node), cmp.Compare(a.key.pid, b.key.pid))
	})
	var ps []float64
	var tabs []table
	var hits [][]int32
	for _, fp := range fps {
		t, slow := x.stormOverlap(fp)
		tabs, hits, ps = append(tabs, t), append(hits, slow), append(ps, t.fisher())
	}
	adj, reject := x.bh(ps)
	var out []evidence.Finding
	for j, fp := range fps {
		if !reject[j] || tabs[j].slowWith < x.cfg.Faults.MinSlowSpans {
			continue
		}
		out = append(out, x.faultFinding(fp, &tabs[j], hits[j], ps[j], adj[j]))
	}
	return out, nil
}

// stormsOf counts faults per window and keeps the storm windows; nil when
// there is none.
func (x *index) stormsOf(k procKey, evs []timed) *faultProc {
	c := &x.cfg.Faults
	counts := map[int64]int64{}
	for _, e := range evs {
		counts[floorDiv(e.t, c.WindowNS)] += max(x.events[e.ev].Value, 1)
	}
	first, last := floorDiv(evs[0].t, c.WindowNS), floorDiv(evs[len(evs)-1].t, c.WindowNS)
	// The process was observed from its first span or fault to its last:
	// windows of that time without faults count as zero, so that faults
	// that start with the incident stand out against a quiet baseline.
	for _, s := range x.spansOfProc()[k] {
		sp := &x.spans[s]
		first = min(first, floorDiv(sp.StartNS, c.WindowNS))
		last = max(last, floorDiv(max(sp.EndNS, sp.StartNS), c.WindowNS))
	}
	vals := make([]int64, 0, len(counts))
	for _, n := range counts {
		vals = append(vals, n)
	}
	slices.Sort(vals)
	zeros := (last - first + 1) - int64(len(vals))
	med := medianWithZeros(vals, zeros)
	fp := &faultProc{key: k, events: evs, storms: map[int64]int64{}, median: med,
		service: x.events[evs[0].ev].Service}
	if fp.service == "" { // fault records often carry no service; the process's spans do
		fp.service = x.procService(k)
	}
	for w, n := range counts {
		if n >= c.MinFaults && float64(n) >= c.BurstFactor*max(med, 1) {
			fp.storms[w] = n
		}
	}
	if len(fp.storms) == 0 {
		return nil
	}
	return fp
}

// medianWithZeros is the median of sorted vals plus zeros extra zeros.
func medianWithZeros(vals []int64, zeros int64) float64 {
	n := int64(len(vals)) + zeros
	at := func(i int64) float64 {
		if i < zeros {
			return 0
		}
		return float64(vals[i-zeros])
	}
	if n%2 == 1 {
		return at(n / 2)
	}
	return (at(n/2-1) + at(n/2)) / 2
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

// stormOverlap labels the process's spans by whether they overlap a storm
// window (or own a fault event inside one) and returns the table and the
// overlapping slow spans, longest first.
func (x *index) stormOverlap(fp *faultProc) (table, []int32) {
	w := x.cfg.Faults.WindowNS
	hit := map[int32]bool{}
	for _, s := range x.spansOfProc()[fp.key] {
		sp := &x.spans[s]
		lo, hi := floorDiv(sp.StartNS, w), floorDiv(max(sp.EndNS, sp.StartNS), w)
		if hi-lo >= int64(len(fp.storms)) {
			for win := range fp.storms {
				hit[s] = hit[s] || win >= lo && win <= hi
			}
			continue
		}
		for win := lo; win <= hi && !hit[s]; win++ {
			_, hit[s] = fp.storms[win]
		}
	}
	for _, e := range fp.events {
		if s := x.evSpan[e.ev]; s >= 0 {
			if _, ok := fp.storms[floorDiv(e.t, w)]; ok {
				hit[s] = true
			}
		}
	}
	var t table
	var slow []int32
	seen := map[int32]bool{}
	add := func(s int32) {
		if seen[s] || x.label[s] == labelNone {
			return
		}
		seen[s] = true
		t.add(x.label[s], hit[s])
		if hit[s] && x.label[s] == labelSlow {
			slow = append(slow, s)
		}
	}
	for _, s := range x.spansOfProc()[fp.key] {
		add(s)
	}
	for s := range hit {
		add(s)
	}
	slices.SortFunc(slow, func(a, b int32) int {
		return cmp.Or(cmp.Compare(x.spans[b].DurationNS(), x.spans[a].DurationNS()), cmp.Compare(a, b))
	})
	return t, slow
}

// procService is the service most of the process's spans name ("" when
// none does).
func (x *index) procService(k procKey) string {
	counts := map[string]int{}
	for _, s := range x.spansOfProc()[k] {
		counts[x.spans[s].Service]++
	}
	return dominant(counts)
}

// spansOfProc groups spans by process (spans without one are left out).
func (x *index) spansOfProc() map[procKey][]int32 {
	if x.byProc == nil {
		x.byProc = map[procKey][]int32{}
		for i := range x.spans {
			if k, ok := x.spanProc(&x.spans[i]); ok {
				x.byProc[k] = append(x.byProc[k], int32(i))
			}
		}
	}
	return x.byProc
}

func (x *index) faultFinding(fp *faultProc, t *table, slow []int32, p, padj float64) evidence.Finding {
	w := x.cfg.Faults.WindowNS
	var inStorm []int32
	var faults int64
	for _, e := range fp.events {
		if _, ok := fp.storms[floorDiv(e.t, w)]; ok {
			inStorm = append(inStorm, e.ev)
			faults += max(x.events[e.ev].Value, 1)
		}
	}
	var refs refSet
	for _, j := range topK(len(inStorm), x.cfg.MaxRefs, func(j int) int64 { return x.events[inStorm[j]].Value }) {
		refs.event(&x.events[inStorm[j]])
	}
	for _, s := range slow[:min(len(slow), x.cfg.MaxRefs)] {
		refs.span(&x.spans[s])
	}
	var peak int64
	for _, n := range fp.storms {
		peak = max(peak, n)
	}
	subject := "pid " + strconv.FormatInt(fp.key.pid, 10) + "@" + fp.key.node
	if fp.service != "" {
		subject = fp.service + " " + subject
	}
	summary := fmt.Sprintf("%d major faults in %d storm window(s) of %v (peak %d, median %.0f per window) in %s overlap %d of %d slow spans, against %d of %d fast spans (Fisher p = %.2g)",
		faults, len(fp.storms), roundDur(w), peak, fp.median, subject, t.slowWith, t.slowWith+t.slowWithout,
		t.fastWith, t.fastWith+t.fastWithout, p)
	slowRate := float64(t.slowWith) / float64(max(t.slowWith+t.slowWithout, 1))
	rs, rf := t.rates()
	attrs := map[string]float64{
		"faults": float64(faults), "storm_windows": float64(len(fp.storms)), "peak_faults": float64(peak),
		"median_faults": fp.median, "window_ns": float64(w), "slow_with": float64(t.slowWith),
		"slow_without": float64(t.slowWithout), "fast_with": float64(t.fastWith), "fast_without": float64(t.fastWithout),
		"slow_rate": slowRate, "rate_ratio": rs / rf, "p_value": p, "p_adjusted": padj, "pid": float64(fp.key.pid),
	}
	return newFinding(KindPageFaultStorm, subject, summary, rs/rf, slowRate*(1-padj), refs.refs, attrs)
}
