package patterns

import (
	"fmt"
	"slices"
	"strconv"

	"github.com/debugai/debugai/evidence"
)

// cgroupKey names a cgroup on a node; a zero id falls back to the process.
type cgroupKey struct {
	node   string
	cgroup uint64
	pid    int64 // only when cgroup is 0
}

func (k cgroupKey) String() string {
	if k.cgroup == 0 {
		return "pid " + strconv.FormatInt(k.pid, 10) + "@" + k.node
	}
	return "cgroup " + strconv.FormatUint(k.cgroup, 10) + "@" + k.node
}

type rqGroup struct {
	key      cgroupKey
	events   []int32
	totalNS  int64
	spans    []int32 // spans whose run-queue delay comes from this group
	services map[string]int
}

// starvation implements starvation (see the package documentation): from
// run-queue delays and from cgroup CPU-quota throttling.
func (x *index) starvation() ([]evidence.Finding, error) {
	fs, err := x.runqueueStarvation()
	if err != nil {
		return nil, err
	}
	ts, err := x.throttleStarvation()
	if err != nil {
		return nil, err
	}
	return append(fs, ts...), nil
}

// runqueueStarvation finds cgroups whose run-queue delays fill their spans.
func (x *index) runqueueStarvation() ([]evidence.Finding, error) {
	groups := map[cgroupKey]*rqGroup{}
	for i := range x.events {
		ev := &x.events[i]
		if ev.Type != evidence.KernelRunqueueDelay {
			continue
		}
		k := cgroupKey{node: ev.Node, cgroup: ev.CgroupID}
		if k.cgroup == 0 {
			k.pid = ev.PID
		}
		g := groups[k]
		if g == nil {
			g = &rqGroup{key: k, services: map[string]int{}}
			groups[k] = g
		}
		g.events = append(g.events, int32(i))
		g.totalNS += max(ev.DurationNS, 0)
		g.services[ev.Service]++
	}
	if len(groups) == 0 || len(x.spans) == 0 {
		return nil, nil
	}
	if err := x.join(); err != nil {
		return nil, err
	}
	spanRQ := make([]int64, len(x.spans))
	owner := make([]*rqGroup, len(x.spans))
	for _, g := range groups {
		for _, i := range g.events {
			s := x.evSpan[i]
			if s < 0 {
				continue
			}
			if owner[s] == nil {
				owner[s] = g
				g.spans = append(g.spans, s)
			}
			spanRQ[s] += max(x.events[i].DurationNS, 0)
		}
	}
	var out []evidence.Finding
	for _, g := range groups {
		if f, ok := x.starvationFinding(g, spanRQ); ok {
			out = append(out, f)
		}
	}
	return out, nil
}

func (x *index) starvationFinding(g *rqGroup, spanRQ []int64) (evidence.Finding, bool) {
	c := &x.cfg.Starvation
	if len(g.events) < c.MinEvents || len(g.spans) < c.MinSpans ||
		float64(len(g.spans)) < c.MinSpanFraction*float64(len(x.spans)) {
		return evidence.Finding{}, false
	}
	delays := make([]int64, len(g.events))
	for j, i := range g.events {
		delays[j] = x.events[i].DurationNS
	}
	slices.Sort(delays)
	p90 := quantileInt(delays, 0.9)
	var rqNS, durNS int64
	slices.Sort(g.spans)
	for _, s := range g.spans {
		rqNS += spanRQ[s]
		durNS += max(x.spans[s].DurationNS(), 1)
	}
	share := min(1, float64(rqNS)/float64(durNS))
	if p90 < c.MinP90DelayNS || share < c.MinShare {
		return evidence.Finding{}, false
	}
	var refs refSet
	for _, j := range topK(len(g.events), x.cfg.MaxRefs, func(j int) int64 { return x.events[g.events[j]].DurationNS }) {
		refs.event(&x.events[g.events[j]])
	}
	for _, j := range topK(len(g.spans), x.cfg.MaxRefs, func(j int) int64 { return spanRQ[g.spans[j]] }) {
		refs.span(&x.spans[g.spans[j]])
	}
	svc := dominant(g.services)
	subject := g.key.String()
	if svc != "" {
		subject = svc + " " + subject
	}
	summary := fmt.Sprintf("%d spans of %s spent %.0f%% of their time (%v) runnable but waiting for a CPU; %d run-queue delays, p90 %v (cgroup throttling is not observed)",
		len(g.spans), subject, 100*share, roundDur(rqNS), len(g.events), roundDur(p90))
	attrs := map[string]float64{
		"events": float64(len(g.events)), "runqueue_ns": float64(g.totalNS), "spans": float64(len(g.spans)),
		"span_runqueue_ns": float64(rqNS), "span_ns": float64(durNS), "share": share,
		"p90_delay_ns": float64(p90), "cgroup_id": float64(g.key.cgroup),
	}
	conf := sat(share, c.MinShare) * sat(float64(len(g.spans)), float64(c.MinSpans))
	return newFinding(KindStarvation, subject, summary, share, conf, refs.refs, attrs), true
}

// dominant returns the most frequent non-empty name (ties: smallest).
func dominant(counts map[string]int) string {
	best, n := "", 0
	for k, v := range counts {
		if k != "" && (v > n || v == n && k < best) {
			best, n = k, v
		}
	}
	return best
}
