package correlate

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

type benchSet struct {
	spans  []evidence.Span
	orders []benchOrder
}

type benchOrder struct {
	name   string
	events []evidence.KernelEvent
	truth  []int32
}

// benchData builds ~1M spans on 1000 threads (4 nodes, 100 processes of 10
// threads, thread-per-request, nested) and 5M events inside them or between
// requests, without clock error so the right answer is exact. Spans come in
// end order (as SDKs export them); events once in time order (a merged
// collector stream) and once shuffled.
var benchData = sync.OnceValue(func() *benchSet {
	r := rand.New(rand.NewPCG(3, 5))
	w := &workload{}
	for p := range 100 {
		s := shape{node: fmt.Sprintf("node-%d", p%4), pid: int64(1000 + 100*p), threads: 10,
			requests: 211, minGap: 1000, perOwn: 7}
		w.threadPerRequest(r, s)
	}
	n := min(len(w.events), 5_000_000)
	d := &benchSet{}
	// Spans in end order; remap the truth.
	sorder := make([]int32, len(w.spans))
	for i := range sorder {
		sorder[i] = int32(i)
	}
	slices.SortFunc(sorder, func(a, b int32) int { return cmp.Compare(w.spans[a].EndNS, w.spans[b].EndNS) })
	where := make([]int32, len(w.spans))
	d.spans = make([]evidence.Span, len(w.spans))
	for i, k := range sorder {
		d.spans[i] = w.spans[k]
		where[k] = int32(i)
	}
	perm := func(order []int32) benchOrder {
		o := benchOrder{events: make([]evidence.KernelEvent, len(order)), truth: make([]int32, len(order))}
		for i, k := range order {
			o.events[i] = w.events[k]
			if t := w.truth[k]; t >= 0 {
				o.truth[i] = where[t]
			} else {
				o.truth[i] = -1
			}
		}
		return o
	}
	order := make([]int32, n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(w.events[a].TimeNS, w.events[b].TimeNS) })
	timeOrdered := perm(order)
	timeOrdered.name = "time-ordered"
	r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	shuffled := perm(order)
	shuffled.name = "shuffled"
	// Hide the stamps: the benchmark measures the overlap join.
	for _, o := range []benchOrder{timeOrdered, shuffled} {
		for i := range o.events {
			o.events[i].TraceID, o.events[i].SpanID = evidence.TraceID{}, evidence.SpanID{}
		}
	}
	d.orders = []benchOrder{timeOrdered, shuffled}
	return d
})

// BenchmarkJoin5Mx1M joins 5M kernel events to ~1M spans on ~1000 threads
// by exact innermost overlap. One op is the whole join.
func BenchmarkJoin5Mx1M(b *testing.B) {
	d := benchData()
	b.Logf("%d spans, %d events", len(d.spans), len(d.orders[0].events))
	for _, o := range d.orders {
		b.Run(o.name, func(b *testing.B) {
			cfg := DefaultConfig()
			var as []Assignment
			var st Stats
			var err error
			runtime.GC()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if as, st, err = Join(d.spans, o.events, cfg); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(len(o.events)), "ns/event")
			b.StopTimer()
			for i, a := range as {
				if a.SpanIndex != o.truth[i] {
					b.Fatalf("event %d: span %d, want %d (%+v)", i, a.SpanIndex, o.truth[i], st)
				}
			}
		})
	}
}

// cpuTime is the process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
