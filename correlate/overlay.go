package correlate

import (
	"fmt"
	"math"

	"github.com/debugai/debugai/evidence"
)

// Overlay attribute keys: the seed's per-span kernel overlays. Overlay.Attrs
// writes them onto a span's attributes.
const (
	// KeyFutexWaitNS: sum of futex_wait durations.
	KeyFutexWaitNS = "debugai.wait.futex.ns_total"
	// KeyRunqueueNS: sum of runqueue_delay durations.
	KeyRunqueueNS = "debugai.wait.scheduler.runqueue_ns"
	// KeyTCPRetransmits: sum of tcp_retransmit values (1 per event without one).
	KeyTCPRetransmits = "debugai.net.tcp.retransmits"
	// KeyMajorFaults: sum of page_fault_major values (1 per event without one).
	KeyMajorFaults = "debugai.mem.page_faults.major"
	// KeyBlockIONS: sum of block_io durations.
	KeyBlockIONS = "debugai.io.block.ns_total"
	// KeyFsyncNS: sum of fsync (fdatasync, sync_file_range) waits.
	KeyFsyncNS = "debugai.io.fsync.ns_total"
	// KeyOffCPUNS: sum of offcpu durations. Not one of the seed's keys:
	// debugai's addition, so that no kernel.sched time is dropped.
	KeyOffCPUNS = "debugai.wait.offcpu.ns_total"
)

// Overlay sums the kernel events assigned to one span. Only the span's own
// events count (those whose innermost span it is): a parent's overlay does
// not include its children's.
type Overlay struct {
	SpanIndex int32
	SpanID    string // span:<trace>/<span>

	FutexWaitNS, RunqueueNS, OffCPUNS, BlockIONS int64
	// FsyncNS is the span's threads' waits in fsync-like calls: the time
	// it was blocked flushing, which its block_io records (often issued by
	// the kernel's writeback threads) do not show on its own thread.
	FsyncNS                     int64
	TCPRetransmits, MajorFaults int64
	BlockIOBytes                int64

	// Events counts the assigned events of every type (anomaly records
	// included).
	Events int
	// MinConfidence is the lowest Assignment.Confidence among them.
	MinConfidence float64
	// Refs cite the contributing events on evidence lines, longest
	// duration first (then largest value, then input order), at most
	// Config.MaxOverlayRefs.
	Refs []evidence.Ref
}

// Attrs returns the overlay's non-zero sums under the Key... names, in a
// fixed order.
func (o *Overlay) Attrs() evidence.Attrs {
	var a evidence.Attrs
	for _, kv := range []struct {
		key string
		v   int64
	}{
		{KeyFutexWaitNS, o.FutexWaitNS},
		{KeyRunqueueNS, o.RunqueueNS},
		{KeyOffCPUNS, o.OffCPUNS},
		{KeyTCPRetransmits, o.TCPRetransmits},
		{KeyMajorFaults, o.MajorFaults},
		{KeyBlockIONS, o.BlockIONS},
		{KeyFsyncNS, o.FsyncNS},
	} {
		if kv.v != 0 {
			a = append(a, evidence.Attr{Key: kv.key, Value: evidence.IntValue(kv.v)})
		}
	}
	return a
}

// refCand is a candidate ref: an event and its rank.
type refCand struct {
	event    int32
	dur, val int64
}

func (c refCand) better(o refCand) bool {
	if c.dur != o.dur {
		return c.dur > o.dur
	}
	if c.val != o.val {
		return c.val > o.val
	}
	return c.event < o.event
}

// Overlays sums, per span, the events that as (Join's result for spans and
// events) assigns to it. It returns one Overlay per span with at least one
// event, ordered by span index.
func Overlays(spans []evidence.Span, events []evidence.KernelEvent, as []Assignment, cfg Config) ([]Overlay, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	at := make([]int32, len(spans)) // span index -> overlay index + 1
	var out []Overlay
	var cands [][]refCand
	for _, a := range as {
		if a.SpanIndex < 0 || a.Method == MethodNone {
			continue
		}
		if int(a.SpanIndex) >= len(spans) || a.EventIndex < 0 || int(a.EventIndex) >= len(events) {
			return nil, fmt.Errorf("%w: event %d, span %d (%d events, %d spans)",
				ErrBadAssignment, a.EventIndex, a.SpanIndex, len(events), len(spans))
		}
		if at[a.SpanIndex] == 0 {
			out = append(out, Overlay{SpanIndex: a.SpanIndex, MinConfidence: math.Inf(1)})
			cands = append(cands, nil)
			at[a.SpanIndex] = int32(len(out))
		}
		k := at[a.SpanIndex] - 1
		ev := &events[a.EventIndex]
		o := &out[k]
		o.add(ev)
		o.MinConfidence = min(o.MinConfidence, a.Confidence())
		if ev.Type.Line() != evidence.LineUnclassified {
			cands[k] = keepBest(cands[k], refCand{a.EventIndex, max(ev.DurationNS, 0), ev.Value}, cfg.MaxOverlayRefs)
		}
	}
	order := make([]int32, 0, len(out))
	for i := range at {
		if at[i] > 0 {
			order = append(order, at[i]-1)
		}
	}
	sorted := make([]Overlay, len(out))
	for i, k := range order {
		o := out[k]
		o.SpanID = spans[o.SpanIndex].ID()
		for _, c := range cands[k] {
			ev := &events[c.event]
			o.Refs = append(o.Refs, evidence.Ref{ID: ev.ID(), Line: ev.Type.Line()})
		}
		sorted[i] = o
	}
	return sorted, nil
}

// IOWaitNS is the span's I/O wait: the larger of its block I/O and its
// fsync waits. A flush waits for block I/O, so the two overlap when both
// are on the span's thread; the larger is the least the span waited.
func (o *Overlay) IOWaitNS() int64 { return max(o.BlockIONS, o.FsyncNS) }

// add sums one event into the overlay.
func (o *Overlay) add(ev *evidence.KernelEvent) {
	o.Events++
	d := max(ev.DurationNS, 0)
	countOf := func(v int64) int64 {
		if v > 0 {
			return v
		}
		return 1
	}
	switch ev.Type {
	case evidence.KernelFutexWait:
		o.FutexWaitNS += d
	case evidence.KernelRunqueueDelay:
		o.RunqueueNS += d
	case evidence.KernelOffCPU:
		o.OffCPUNS += d
	case evidence.KernelBlockIO:
		o.BlockIONS += d
		o.BlockIOBytes += max(ev.Value, 0)
	case evidence.KernelFsync:
		o.FsyncNS += d
	case evidence.KernelTCPRetransmit:
		o.TCPRetransmits += countOf(ev.Value)
	case evidence.KernelPageFaultMaj:
		o.MajorFaults += countOf(ev.Value)
	}
}

// keepBest inserts c into cs, kept sorted best first and at most n long.
func keepBest(cs []refCand, c refCand, n int) []refCand {
	if len(cs) == n && !c.better(cs[n-1]) {
		return cs
	}
	i := len(cs)
	for i > 0 && c.better(cs[i-1]) {
		i--
	}
	if len(cs) < n {
		cs = append(cs, refCand{})
	}
	copy(cs[i+1:], cs[i:len(cs)-1])
	cs[i] = c
	return cs
}
