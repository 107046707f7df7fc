package patterns

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/debugai/debugai/evidence"
)

// throttledProc is one process's cpu_throttle records and the spans of
// its own that overlap them.
type throttledProc struct {
	key       procKey
	events    []timed
	intervals [][2]int64 // throttled intervals, aligned time, sorted
	periods   int64
	ns        int64
}

// throttleStarvation implements the cpu_throttle part of starvation (see
// the package doc): processes whose cgroup's CPU quota throttled them
// while their slow spans ran.
func (x *index) throttleStarvation() ([]evidence.Finding, error) {
	if !x.hasType(evidence.KernelCPUThrottle) || len(x.spans) == 0 {
		return nil, nil
	}
	c := &x.cfg.Starvation
	var procs []*throttledProc
	for k, evs := range x.procEvents(evidence.KernelCPUThrottle, false) {
		tp := &throttledProc{key: k, events: evs}
		for _, e := range evs {
			ev := &x.events[e.ev]
			iv := int64(c.ThrottleIntervalNS)
			if v, ok := ev.Attrs.Get(attrCPUIntervalNS); ok && v.Int > 0 {
				iv = v.Int
			}
			tp.intervals = append(tp.intervals, [2]int64{e.t - iv, e.t})
			tp.periods += max(ev.Value, 0)
			tp.ns += max(ev.DurationNS, 0)
		}
		if len(evs) >= c.MinThrottleRecords && tp.ns >= c.MinThrottledNS {
			procs = append(procs, tp)
		}
	}
	if len(procs) == 0 {
		return nil, nil
	}
	slices.SortFunc(procs, func(a, b *throttledProc) int {
		return cmp.Or(strings.Compare(a.key.node, b.key.node), cmp.Compare(a.key.pid, b.key.pid))
	})
	var ps []float64
	tabs := make([]table, len(procs))
	hits := make([][]int32, len(procs))
	for j, tp := range procs {
		tabs[j], hits[j] = x.throttleOverlap(tp)
		ps = append(ps, tabs[j].fisher())
	}
	adj, reject := x.bh(ps)
	var out []evidence.Finding
	for j, tp := range procs {
		if reject[j] && tabs[j].slowWith >= c.MinThrottledSlowSpans {
			out = append(out, x.throttleFinding(tp, &tabs[j], hits[j], ps[j], adj[j]))
		}
	}
	return out, nil
}

// attrCPUIntervalNS is node.AttrCPUIntervalNS (detectors do not import
// the collector): the interval a cpu_throttle record covers.
const attrCPUIntervalNS = "debugai.cpu.interval_ns"

// throttleOverlap labels the process's labelled spans by whether they
// overlap a throttled interval and returns the table and the slow ones
// that do.
func (x *index) throttleOverlap(tp *throttledProc) (table, []int32) {
	var t table
	var slow []int32
	for _, s := range x.spansOfProc()[tp.key] {
		if x.label[s] == labelNone {
			continue
		}
		sp := &x.spans[s]
		i, _ := slices.BinarySearchFunc(tp.intervals, sp.StartNS, func(iv [2]int64, t int64) int { return cmp.Compare(iv[1], t) })
		hit := i < len(tp.intervals) && tp.intervals[i][0] <= max(sp.EndNS, sp.StartNS)
		t.add(x.label[s], hit)
		if hit && x.label[s] == labelSlow {
			slow = append(slow, s)
		}
	}
	return t, slow
}

func (x *index) throttleFinding(tp *throttledProc, t *table, slow []int32, p, padj float64) evidence.Finding {
	var refs refSet
	for _, j := range topK(len(tp.events), x.cfg.MaxRefs, func(j int) int64 { return x.events[tp.events[j].ev].DurationNS }) {
		refs.event(&x.events[tp.events[j].ev])
	}
	endpoints := map[string]int{}
	for _, s := range slow {
		endpoints[x.spans[s].Service+"/"+x.spans[s].Name]++
	}
	for _, j := range topK(len(slow), x.cfg.MaxRefs, func(j int) int64 { return x.spans[slow[j]].DurationNS() }) {
		refs.span(&x.spans[slow[j]])
	}
	subject := dominant(endpoints)
	if subject == "" {
		subject = fmt.Sprintf("pid %d@%s", tp.key.pid, tp.key.node)
	}
	slowN, fastN := t.slowWith+t.slowWithout, t.fastWith+t.fastWithout
	score := float64(t.slowWith)/float64(max(slowN, 1)) - float64(t.fastWith)/float64(max(fastN, 1))
	var window int64
	for _, iv := range tp.intervals {
		window += iv[1] - iv[0]
	}
	svc, _, _ := strings.Cut(subject, "/")
	summary := fmt.Sprintf("the CPU quota of %s's cgroup (pid %d) throttled it in %d enforcement periods, %v in all, over %d intervals (%v); %d of its %d slow spans ran while it was throttled, against %d of its %d fast ones (Fisher p = %.2g, BH q = %.2g): its requests waited for CPU time the quota did not give",
		svc, tp.key.pid, tp.periods, roundDur(tp.ns), len(tp.events), roundDur(window), t.slowWith, slowN, t.fastWith, fastN, p, padj)
	attrs := map[string]float64{
		"records": float64(len(tp.events)), "throttled_periods": float64(tp.periods), "throttled_ns": float64(tp.ns),
		"slow_with": float64(t.slowWith), "fast_with": float64(t.fastWith), "slow_without": float64(t.slowWithout),
		"fast_without": float64(t.fastWithout), "p_value": p, "p_adjusted": padj, "pid": float64(tp.key.pid),
	}
	return newFinding(KindStarvation, subject, summary, score, (1-padj)*sat(float64(t.slowWith), float64(x.cfg.Starvation.MinThrottledSlowSpans)), refs.refs, attrs)
}
