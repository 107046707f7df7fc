package correlate

import (
	"math/rand/v2"
	"slices"

	"github.com/debugai/debugai/evidence"
)

// workload is synthetic spans and kernel events with the true span of
// every event (truth[i], -1 for none). Events inside spans carry hook
// stamps; events between requests do not.
type workload struct {
	spans  []evidence.Span
	events []evidence.KernelEvent
	truth  []int32
	seq    uint64
	trace  uint64
}

// shape describes one process of a workload.
type shape struct {
	node     string
	pid      int64
	threads  int   // OS threads (workers, or Ms for goroutines)
	requests int   // requests per worker (per goroutine)
	noTID    bool  // the SDK records no thread.id
	offset   int64 // the node's event clock minus the span clock
	jitter   int64 // clock alignment error: uniform in [-jitter, +jitter]
	minGap   int64 // least time between a span boundary and a wait
	perOwn   int   // events per stretch of own time: uniform in [0, perOwn); 0 means 3
}

const baseNS = int64(1_750_000_000_000_000_000)

func between(r *rand.Rand, lo, hi int64) int64 { return lo + r.Int64N(hi-lo+1) }

// threadPerRequest adds s.threads workers, each serving s.requests nested
// requests one after another with idle gaps.
func (w *workload) threadPerRequest(r *rand.Rand, s shape) {
	for th := range s.threads {
		tid := s.pid + 1 + int64(th)
		t := baseNS + r.Int64N(1e6)
		for range s.requests {
			gap := between(r, 20e3, 500e3)
			if r.IntN(4) == 0 { // an event while idle: belongs to no span
				w.event(r, s, evidence.KernelPageFaultMaj, tid, -1, t+gap/2, 0)
			}
			t += gap
			w.trace++
			t = w.span(r, s, tid, evidence.SpanID{}, t, 0)
		}
	}
}

// span appends a span starting at start on tid with nested children, and
// events in its own time, and returns its end.
func (w *workload) span(r *rand.Rand, s shape, tid int64, parent evidence.SpanID, start int64, depth int) int64 {
	idx := int32(len(w.spans))
	w.seq++
	var trace evidence.TraceID
	var id evidence.SpanID
	for i := range 8 {
		trace[i] = byte(w.trace >> (8 * i))
		id[i] = byte(w.seq >> (8 * i))
	}
	trace[15], id[7] = 0x7e, 0x5a
	w.spans = append(w.spans, evidence.Span{TraceID: trace, SpanID: id, ParentSpanID: parent,
		Host: s.node, ProcessPID: s.pid, ThreadID: tid, Name: "op", StartNS: start})
	if s.noTID {
		w.spans[idx].ThreadID = 0
	}
	cur := start
	children := 0
	if depth < 3 {
		children = r.IntN(4 - depth)
	}
	for c := 0; c <= children; c++ {
		self := between(r, 2e3, 100e3)
		w.ownTime(r, s, tid, idx, cur, cur+self)
		cur += self
		if c < children {
			cur = w.span(r, s, tid, id, cur, depth+1)
		}
	}
	w.spans[idx].EndNS = cur
	return cur
}

var eventTypes = []evidence.KernelEventType{
	evidence.KernelFutexWait, evidence.KernelRunqueueDelay, evidence.KernelOffCPU,
	evidence.KernelBlockIO, evidence.KernelPageFaultMaj, evidence.KernelTCPRetransmit,
}

// ownTime places up to two events in [a, b), the span's own time.
func (w *workload) ownTime(r *rand.Rand, s shape, tid int64, span int32, a, b int64) {
	n := s.perOwn
	if n == 0 {
		n = 3
	}
	for range r.IntN(n) {
		room := b - a - 2*s.minGap
		if room <= 0 {
			return
		}
		typ := eventTypes[r.IntN(len(eventTypes))]
		d := min(between(r, 1e3, 200e3), room)
		if typ == evidence.KernelPageFaultMaj || typ == evidence.KernelTCPRetransmit {
			d = 0 // point events
		}
		start := a + s.minGap + r.Int64N(room-d+1)
		w.event(r, s, typ, tid, span, start+d, d)
	}
}

// event appends an event ending at end (span clock) of duration d, true
// span span (stamped when >= 0).
func (w *workload) event(r *rand.Rand, s shape, typ evidence.KernelEventType, tid int64, span int32, end, d int64) {
	var val int64
	switch typ {
	case evidence.KernelPageFaultMaj, evidence.KernelTCPRetransmit:
		val = 1 + r.Int64N(3)
	case evidence.KernelBlockIO:
		val = 4096 * (1 + r.Int64N(16))
	}
	w.seq++
	e := evidence.KernelEvent{Node: s.node, Stream: "ring", Seq: w.seq, Type: typ,
		TimeNS: end + s.offset + between(r, -s.jitter, s.jitter), DurationNS: d,
		PID: s.pid, TID: tid, Value: val}
	if span >= 0 {
		e.TraceID, e.SpanID = w.spans[span].TraceID, w.spans[span].SpanID
	}
	w.events = append(w.events, e)
	w.truth = append(w.truth, span)
}

// slice is one stretch of a goroutine's own (virtual) time on a thread.
type slice struct{ v, real, tid int64 }

// goroutines adds a Go-like process: g goroutines serving requests,
// multiplexed onto s.threads OS threads in quanta of 20-200 µs. Span hooks
// key by goroutine, so stamps are right; a span's thread.id is the thread
// it started on, and its work (and events) move to other threads.
func (w *workload) goroutines(r *rand.Rand, s shape, g int) {
	// Each goroutine's program, in its virtual time from 0.
	progs := make([]workload, g)
	ends := make([]int64, g)
	for k := range progs {
		t := int64(0)
		p := &progs[k]
		p.seq, p.trace = w.seq+uint64(k)<<32, w.trace+uint64(k)<<32
		for range s.requests {
			t += between(r, 20e3, 200e3)
			p.trace++
			t = p.span(r, shape{node: s.node, pid: s.pid, minGap: s.minGap}, 0, evidence.SpanID{}, t, 0)
		}
		ends[k] = t
	}
	// Schedule: each quantum, every thread runs one goroutine; sticky.
	sched := make([][]slice, g)
	vclock := make([]int64, g)
	running := make([]int, s.threads)
	for i := range running {
		running[i] = -1
	}
	now := baseNS
	for {
		q := between(r, 20e3, 200e3)
		busy := map[int]bool{}
		for th := range running {
			k := running[th]
			if k < 0 || vclock[k] >= ends[k] || busy[k] || r.IntN(10) < 4 {
				k = -1
				for _, c := range r.Perm(g) {
					if vclock[c] < ends[c] && !busy[c] {
						k = c
						break
					}
				}
			}
			running[th] = k
			if k >= 0 {
				busy[k] = true
				sched[k] = append(sched[k], slice{v: vclock[k], real: now, tid: s.pid + 1 + int64(th)})
				vclock[k] += q
			}
		}
		if len(busy) == 0 {
			break
		}
		now += q
	}
	for k := range progs {
		w.addProgram(r, s, &progs[k], sched[k])
	}
	w.seq += uint64(g) << 32
	w.trace += uint64(g) << 32
}

// addProgram maps one goroutine's program onto its schedule.
func (w *workload) addProgram(r *rand.Rand, s shape, p *workload, sl []slice) {
	place := func(v int64) (int64, int64) {
		i, _ := slices.BinarySearchFunc(sl, v, func(x slice, v int64) int {
			if x.v > v {
				return 1
			}
			return -1
		})
		x := sl[max(i-1, 0)]
		return x.real + v - x.v, x.tid
	}
	off := int32(len(w.spans))
	for _, sp := range p.spans {
		start, tid := place(sp.StartNS)
		end, _ := place(sp.EndNS - 1)
		sp.StartNS, sp.EndNS, sp.ThreadID = start, end+1, tid
		if s.noTID {
			sp.ThreadID = 0
		}
		w.spans = append(w.spans, sp)
	}
	for i, e := range p.events {
		if e.DurationNS > 0 {
			t0, tid0 := place(e.TimeNS - e.DurationNS)
			t1, tid1 := place(e.TimeNS - 1)
			if tid0 != tid1 || t1-t0 != e.DurationNS-1 {
				continue // descheduled mid-wait
			}
			e.TimeNS, e.TID = t1+1, tid1
		} else {
			e.TimeNS, e.TID = place(e.TimeNS)
		}
		e.TimeNS += s.offset + between(r, -s.jitter, s.jitter)
		e.Node, e.PID = s.node, s.pid
		w.events = append(w.events, e)
		w.truth = append(w.truth, p.truth[i]+off)
	}
}
