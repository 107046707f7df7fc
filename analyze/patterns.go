package analyze

import (
	"fmt"
	"strconv"

	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/evidence"
)

// runPatternsDetector runs detect/patterns over the window; with
// a baseline its spans are the gap detectors' baseline
// (the other detectors see every span).
func runPatternsDetector(in *Input) ([]evidence.Finding, error) {
	pin := patterns.Input{Spans: in.Spans, Events: in.Kernel, Edges: in.Edges, IsBaseline: in.baselinePredicate()}
	finds, _, err := patterns.Analyze(pin, patterns.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("patterns: %w", err)
	}
	return finds, nil
}

// maxWaitRefs bounds the wait events cited per lock.
const maxWaitRefs = 20

// lockWaits sums the futex waits (pthread and Go mutex waits alike) that
// joined a span, per lock, against the total time of the window's root
// spans: the lock graph's impact input. Nil when there is nothing to sum.
func lockWaits(in *Input, cfg lockgraph.Config) *lockgraph.Waits {
	if len(in.assign) == 0 {
		return nil
	}
	w := &lockgraph.Waits{ByLock: map[string]lockgraph.Wait{}}
	present := make(map[evidence.SpanID]bool, len(in.Spans))
	for i := range in.Spans {
		present[in.Spans[i].SpanID] = true
	}
	for i := range in.Spans {
		s := &in.Spans[i]
		if s.ParentSpanID == (evidence.SpanID{}) || !present[s.ParentSpanID] {
			w.TotalNS += max(s.EndNS-s.StartNS, 0)
		}
	}
	for _, a := range in.assign {
		if a.SpanIndex < 0 {
			continue
		}
		ev := &in.Kernel[a.EventIndex]
		if ev.Type != evidence.KernelFutexWait || ev.Addr == 0 || ev.DurationNS <= 0 {
			continue
		}
		name := cfg.LockName(lockIdentity(ev), ev.Node, ev.Service, ev.PID)
		x := w.ByLock[name]
		x.NS += ev.DurationNS
		if len(x.Refs) < maxWaitRefs {
			x.Refs = append(x.Refs, evidence.Ref{ID: ev.ID(), Line: evidence.LineKernelFutex})
		}
		w.ByLock[name] = x
	}
	if w.TotalNS <= 0 || len(w.ByLock) == 0 {
		return nil
	}
	return w
}

// lockIdentity is the lock a wait is on, named as lock-order edges name
// it: the collector's symbol when it had one, else the address.
func lockIdentity(ev *evidence.KernelEvent) string {
	for _, a := range ev.Attrs {
		if a.Key == evidence.AttrLockName && a.Value.Str != "" {
			return a.Value.Str
		}
	}
	return "0x" + strconv.FormatUint(ev.Addr, 16)
}
