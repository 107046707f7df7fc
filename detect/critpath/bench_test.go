package critpath

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

var benchOps = func() [][2]string {
	var ops [][2]string
	for s := range 6 {
		for n := range 4 {
			ops = append(ops, [2]string{fmt.Sprintf("svc-%d", s), fmt.Sprintf("op-%d", n)})
		}
	}
	return ops
}()

// synthTrace appends one synthetic trace of about size spans, of a shape
// chosen by r: sequential N+1 calls, parallel fan-out with grandchildren, a
// deep chain, or an async child outliving the root; a few children are
// skewed outside their parent.
func synthTrace(dst []evidence.Span, r *rand.Rand, tid evidence.TraceID, base int64, size int) []evidence.Span {
	next := uint64(1)
	add := func(parent evidence.SpanID, s, e int64) evidence.SpanID {
		var id evidence.SpanID
		for i := range 8 {
			id[i] = byte(next*0x9e3779b97f4a7c15>>(8*i)) ^ tid[i]
		}
		next++
		if r.IntN(50) == 0 { // clock skew
			d := int64(r.IntN(2000) - 1000)
			s, e = s+d, e+d
		}
		op := benchOps[r.IntN(len(benchOps))]
		dst = append(dst, evidence.Span{
			TraceID: tid, SpanID: id, ParentSpanID: parent,
			Service: op[0], Name: op[1], StartNS: base + s, EndNS: base + e,
		})
		return id
	}
	total := int64(100_000 + r.IntN(900_000))
	root := add(evidence.SpanID{}, 0, total)
	n := size - 1
	switch r.IntN(4) {
	case 0: // N+1: sequential calls
		step := total / int64(n+1)
		for i := range int64(n) {
			add(root, step*i+step/4, step*(i+1))
		}
	case 1: // fan-out with grandchildren
		for n > 0 {
			s := int64(r.IntN(int(total / 2)))
			e := s + int64(r.IntN(int(total-s)))
			c := add(root, s, e)
			n--
			for k := r.IntN(3); k > 0 && n > 0; k-- {
				gs := s + int64(r.IntN(int(e-s)+1))
				add(c, gs, gs+int64(r.IntN(int(e-gs)+1)))
				n--
			}
		}
	case 2: // deep chain
		p, s, e := root, int64(0), total
		for range n {
			s, e = s+(e-s)/10, e-(e-s)/10
			p = add(p, s, e)
		}
	default: // sync children plus one async child outliving the root
		for i := range int64(n - 1) {
			add(root, total*i/int64(n), total*(i+1)/int64(n)-1)
		}
		add(root, total/2, total*2)
	}
	return dst
}

type benchData struct {
	grouped []evidence.Span // trace by trace
	byStart []evidence.Span // as a store returns them: by start time
	bounds  []int           // grouped[bounds[i]:bounds[i+1]] is trace i
	nTraces int
	spans   int
}

var benchOnce = sync.OnceValue(func() *benchData {
	r := rand.New(rand.NewPCG(42, 1))
	d := &benchData{grouped: make([]evidence.Span, 0, 1_000_100)}
	for len(d.grouped) < 1_000_000 {
		var tid evidence.TraceID
		for i := range tid {
			tid[i] = byte(r.Uint32())
		}
		d.bounds = append(d.bounds, len(d.grouped))
		base := int64(1.8e18) + int64(r.IntN(3600e9))
		d.grouped = synthTrace(d.grouped, r, tid, base, 2+r.IntN(17)) // mean 10
	}
	d.bounds = append(d.bounds, len(d.grouped))
	d.nTraces, d.spans = len(d.bounds)-1, len(d.grouped)
	order := make([]int32, len(d.grouped))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		return cmp.Or(cmp.Compare(d.grouped[a].StartNS, d.grouped[b].StartNS), cmp.Compare(a, b))
	})
	d.byStart = make([]evidence.Span, len(order))
	for i, k := range order {
		d.byStart[i] = d.grouped[k]
	}
	return d
})

// BenchmarkCriticalPath1M computes the critical paths of ~100k synthetic
// traces holding 1M spans. One op is all traces.
func BenchmarkCriticalPath1M(b *testing.B) {
	d := benchOnce()
	b.Logf("%d spans in %d traces", d.spans, d.nTraces)
	// The machine is shared: report process CPU time per op besides wall
	// time (it includes the GC's work on other cores).
	var cpu0 time.Duration
	start := func(b *testing.B) { runtime.GC(); b.ResetTimer(); cpu0 = cpuTime() }
	perSpan := func(b *testing.B) {
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(d.spans), "ns/span")
		b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
	b.Run("paths", func(b *testing.B) {
		var tr Tracer
		ids := make([]int32, 0, 64)
		start(b)
		for b.Loop() {
			for i := range d.nTraces {
				lo, hi := d.bounds[i], d.bounds[i+1]
				ids = ids[:0]
				for k := lo; k < hi; k++ {
					ids = append(ids, int32(k))
				}
				if _, err := tr.compute(d.grouped, ids, false); err != nil {
					b.Fatal(err)
				}
			}
		}
		perSpan(b)
	})
	for _, in := range []struct {
		name  string
		spans []evidence.Span
	}{{"aggregate-grouped", d.grouped}, {"aggregate-by-start", d.byStart}} {
		b.Run(in.name, func(b *testing.B) {
			start(b)
			for b.Loop() {
				a, err := NewAggregator(DefaultConfig())
				if err != nil {
					b.Fatal(err)
				}
				a.AddSpans(in.spans)
				if r := a.Report(); r.Traces != d.nTraces {
					b.Fatalf("%d traces, want %d", r.Traces, d.nTraces)
				}
			}
			perSpan(b)
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
