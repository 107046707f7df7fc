package patterns

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// poolScope is one operation in one process: the calls that share a pool.
type poolScope struct {
	op   string // "service/name" or "service/name -> callee"
	host string
	pid  int64
}

// poolStats is the result of sweeping one scope.
type poolStats struct {
	plateau         int   // maximum concurrency
	busyNS, atMaxNS int64 // time with >= 1 call in flight, with plateau calls
	handoff         map[int32]bool
	queued          []int32 // queued calls
	waits           []int64 // their waits
	waitNS, spanNS  int64   // over fan-out batches
	maxBatch        int
}

// poolSaturation implements pool_saturation (see the package doc).
func (x *index) poolSaturation() ([]evidence.Finding, error) {
	ops, names := x.callOps()
	scopes := map[poolScope][]int32{}
	for i := range x.spans {
		s := &x.spans[i]
		if s.ParentSpanID.IsZero() {
			continue
		}
		op := names[ops[i]]
		k := poolScope{op, s.Host, s.ProcessPID}
		scopes[k] = append(scopes[k], int32(i))
	}
	keys := make([]poolScope, 0, len(scopes))
	for k, v := range scopes {
		if len(v) >= x.cfg.Pool.MinQueued {
			keys = append(keys, k)
		}
	}
	slices.SortFunc(keys, func(a, b poolScope) int {
		return cmp.Or(strings.Compare(a.op, b.op), strings.Compare(a.host, b.host), cmp.Compare(a.pid, b.pid))
	})
	var out []evidence.Finding
	for _, k := range keys {
		if f, ok := x.poolFinding(k, scopes[k]); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

// point is a start (+1) or end (-1) of a call.
type point struct {
	t     int64
	delta int8
	span  int32
}

// sweep computes the concurrency plateau of calls and which calls start
// at a handoff: within HandoffNS after a call ended at the plateau.
func (x *index) sweep(calls []int32) *poolStats {
	pts := make([]point, 0, 2*len(calls))
	for _, s := range calls {
		sp := &x.spans[s]
		pts = append(pts, point{sp.StartNS, 1, s}, point{max(sp.EndNS, sp.StartNS), -1, s})
	}
	slices.SortFunc(pts, func(a, b point) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.delta, b.delta), cmp.Compare(a.span, b.span))
	})
	st := &poolStats{handoff: map[int32]bool{}}
	conc := 0
	for _, p := range pts {
		conc += int(p.delta)
		st.plateau = max(st.plateau, conc)
	}
	conc = 0
	lastSat := int64(-1 << 62)
	for i, p := range pts {
		if i > 0 && conc > 0 {
			st.busyNS += p.t - pts[i-1].t
			if conc == st.plateau {
				st.atMaxNS += p.t - pts[i-1].t
			}
		}
		if p.delta < 0 && conc == st.plateau {
			lastSat = p.t
		}
		if p.delta > 0 && p.t-lastSat <= x.cfg.Pool.HandoffNS {
			st.handoff[p.span] = true
		}
		conc += int(p.delta)
	}
	return st
}

// batches finds the fan-out batches (calls of one parent with at least two
// in flight at once) and their queued calls.
func (x *index) batches(calls []int32, st *poolStats) {
	byParent := slices.Clone(calls)
	slices.SortFunc(byParent, func(a, b int32) int {
		sa, sb := &x.spans[a], &x.spans[b]
		return cmp.Or(slices.Compare(sa.TraceID[:], sb.TraceID[:]), slices.Compare(sa.ParentSpanID[:], sb.ParentSpanID[:]),
			cmp.Compare(sa.StartNS, sb.StartNS), cmp.Compare(a, b))
	})
	for i := 0; i < len(byParent); {
		j := i + 1
		for j < len(byParent) && x.spans[byParent[j]].TraceID == x.spans[byParent[i]].TraceID &&
			x.spans[byParent[j]].ParentSpanID == x.spans[byParent[i]].ParentSpanID {
			j++
		}
		b := byParent[i:j]
		i = j
		if len(b) < 2 || x.sweepMax(b) < 2 {
			continue
		}
		st.maxBatch = max(st.maxBatch, len(b))
		b0 := x.spans[b[0]].StartNS
		for _, s := range b {
			w := x.spans[s].StartNS - b0
			st.waitNS += w
			st.spanNS += w + max(x.spans[s].DurationNS(), 0)
			if w >= max(x.cfg.Pool.MinWaitNS, 1) {
				st.queued = append(st.queued, s)
				st.waits = append(st.waits, w)
			}
		}
	}
}

// sweepMax is the most calls in flight at once; calls are sorted by start.
// A call ending exactly when another starts does not overlap it.
func (x *index) sweepMax(calls []int32) int {
	ends := make([]int64, len(calls))
	for i, s := range calls {
		ends[i] = max(x.spans[s].EndNS, x.spans[s].StartNS)
	}
	slices.Sort(ends)
	best, e := 0, 0
	for i, s := range calls {
		for e < len(ends) && ends[e] <= x.spans[s].StartNS {
			e++
		}
		best = max(best, i+1-e)
	}
	return best
}

func (x *index) poolFinding(k poolScope, calls []int32) (evidence.Finding, bool) {
	c := &x.cfg.Pool
	st := x.sweep(calls)
	if st.plateau < c.MinPoolSize {
		return evidence.Finding{}, false
	}
	x.batches(calls, st)
	handed := 0
	for _, s := range st.queued {
		if st.handoff[s] {
			handed++
		}
	}
	if len(st.queued) < c.MinQueued || st.maxBatch <= st.plateau ||
		float64(handed) < c.MinHandoffShare*float64(len(st.queued)) {
		return evidence.Finding{}, false
	}
	var refs refSet
	for _, j := range topK(len(st.queued), x.cfg.MaxRefs, func(j int) int64 { return st.waits[j] }) {
		refs.span(&x.spans[st.queued[j]])
	}
	waits := slices.Clone(st.waits)
	slices.Sort(waits)
	p50, p95 := quantileInt(waits, 0.5), quantileInt(waits, 0.95)
	handoff := float64(handed) / float64(len(st.queued))
	plateauShare := float64(st.atMaxNS) / float64(max(st.busyNS, 1))
	waitShare := float64(st.waitNS) / float64(max(st.spanNS, 1))
	summary := fmt.Sprintf("%s never runs more than %d calls at once (at that plateau %.0f%% of its busy time) although its callers issue up to %d together: %d calls queued for a slot, wait p50 %v, p95 %v, %.0f%% of them starting as another call ended",
		k.op, st.plateau, 100*plateauShare, st.maxBatch, len(st.queued), roundDur(p50), roundDur(p95), 100*handoff)
	attrs := map[string]float64{
		"plateau": float64(st.plateau), "plateau_share": plateauShare, "max_batch": float64(st.maxBatch),
		"queued": float64(len(st.queued)), "calls": float64(len(calls)), "wait_p50_ns": float64(p50),
		"wait_p95_ns": float64(p95), "wait_share": waitShare, "handoff_share": handoff, "pid": float64(k.pid),
	}
	conf := handoff * sat(float64(len(st.queued)), float64(c.MinQueued))
	return newFinding(KindPoolSaturation, k.op, summary, waitShare, conf, refs.refs, attrs), true
}
