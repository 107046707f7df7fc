package patterns

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// benchInput builds ~1M spans and 5M kernel events: 1000 threads (4 nodes,
// 100 processes of 10 threads), 250 requests per thread, each a server
// span with 3 sequential client calls, and 20 events per request on the
// request's thread, of every type (futex waits on 8 locks per process with
// wakers, run-queue delays, block I/O, unstamped retransmits, faults).
var benchInput = sync.OnceValue(func() Input {
	r := rand.New(rand.NewPCG(1, 2))
	var in Input
	in.Spans = make([]evidence.Span, 0, 1_000_000)
	in.Events = make([]evidence.KernelEvent, 0, 5_000_000)
	types := []evidence.KernelEventType{evidence.KernelFutexWait, evidence.KernelRunqueueDelay,
		evidence.KernelBlockIO, evidence.KernelTCPRetransmit, evidence.KernelPageFaultMaj, evidence.KernelOffCPU}
	var seq uint64
	for p := range 100 {
		node, pid := fmt.Sprintf("node-%d", p%4), int64(1000+p)
		svc := fmt.Sprintf("svc-%d", p%10)
		for th := range 10 {
			tid := pid*100 + int64(th)
			t := int64(1_700_000_000e9)
			for q := range 250 {
				var trace evidence.TraceID
				trace[0], trace[1], trace[2], trace[3] = byte(p), byte(th), byte(q), byte(q>>8)
				dur := int64(1e6 + r.IntN(4e6))
				if r.IntN(50) == 0 {
					dur *= 10
				}
				root := evidence.Span{TraceID: trace, SpanID: evidence.SpanID{1}, Service: svc, Name: "GET /api",
					Kind: evidence.KindServer, StartNS: t, EndNS: t + dur, ProcessPID: pid, ThreadID: tid, Host: node}
				in.Spans = append(in.Spans, root)
				for c := range 3 {
					s, e := t+dur*int64(c)/4+1000, t+dur*int64(c+1)/4
					in.Spans = append(in.Spans, evidence.Span{TraceID: trace, SpanID: evidence.SpanID{2, byte(c)},
						ParentSpanID: root.SpanID, Service: svc, Name: "SELECT", Kind: evidence.KindClient,
						StartNS: s, EndNS: e, ProcessPID: pid, ThreadID: tid, Host: node})
				}
				for range 20 {
					seq++
					typ := types[r.IntN(len(types))]
					at := t + r.Int64N(dur)
					ev := evidence.KernelEvent{Node: node, Stream: "s", Seq: seq, Type: typ, TimeNS: at,
						DurationNS: int64(r.IntN(50_000)), PID: pid, TID: tid, CgroupID: uint64(p), Service: svc, Value: 1}
					switch typ {
					case evidence.KernelFutexWait:
						ev.Addr, ev.WakerTID, ev.DurationNS = uint64(0x1000+r.IntN(8)), pid*100+int64(r.IntN(10)), int64(r.IntN(3e6))
					case evidence.KernelTCPRetransmit:
						ev.TID, ev.DurationNS = 0, 0
					}
					in.Events = append(in.Events, ev)
				}
				t += dur + 100_000
			}
		}
	}
	return in
})

// BenchmarkAnalyze1Mx5M runs each detector, then all of them, over ~1M
// spans and 5M events. One op is one Analyze call, index and join included.
func BenchmarkAnalyze1Mx5M(b *testing.B) {
	in := benchInput()
	b.Logf("%d spans, %d events", len(in.Spans), len(in.Events))
	for _, kind := range append(append([]string{}, AllKinds...), "all") {
		b.Run(kind, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Join.MatchNode = true
			if kind != "all" {
				cfg.Kinds = []string{kind}
			}
			var n int
			for b.Loop() {
				fs, _, err := Analyze(in, cfg)
				if err != nil {
					b.Fatal(err)
				}
				n = len(fs)
			}
			b.ReportMetric(float64(n), "findings")
		})
	}
}
