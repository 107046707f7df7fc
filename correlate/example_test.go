package correlate_test

import (
	"fmt"

	"github.com/debugai/debugai/correlate"
	"github.com/debugai/debugai/evidence"
)

func ExampleJoin() {
	span := func(id byte, name string, start, end int64) evidence.Span {
		return evidence.Span{TraceID: evidence.TraceID{1}, SpanID: evidence.SpanID{id}, Name: name,
			Host: "node-a", ProcessPID: 42, ThreadID: 43, StartNS: start, EndNS: end}
	}
	spans := []evidence.Span{
		span(1, "GET /checkout", 1_000_000, 9_000_000),
		span(2, "SQL SELECT", 2_000_000, 5_000_000),
	}
	wait := func(seq uint64, typ evidence.KernelEventType, end, dur int64) evidence.KernelEvent {
		return evidence.KernelEvent{Node: "node-a", Stream: "sched", Seq: seq, Type: typ,
			PID: 42, TID: 43, TimeNS: end, DurationNS: dur}
	}
	// node-a's event clock runs 250 µs ahead of the spans' clock.
	events := []evidence.KernelEvent{
		wait(1, evidence.KernelFutexWait, 4_250_000, 1_500_000),   // inside SQL SELECT
		wait(2, evidence.KernelRunqueueDelay, 7_250_000, 300_000), // in the handler's own time
		wait(3, evidence.KernelFutexWait, 9_900_000, 100_000),     // after the request
	}
	cfg := correlate.DefaultConfig()
	cfg.NodeOffsetNS = map[string]int64{"node-a": -250_000}
	as, st, err := correlate.Join(spans, events, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, a := range as {
		name := "-"
		if a.SpanIndex >= 0 {
			name = spans[a.SpanIndex].Name
		}
		fmt.Printf("%s -> %s (%s, confidence %.1f)\n", events[a.EventIndex].ID(), name, a.Method, a.Confidence())
	}
	fmt.Printf("overlap %d, unassigned %d\n", st.Overlap, st.Unassigned)
	ovs, err := correlate.Overlays(spans, events, as, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range ovs {
		fmt.Println(spans[o.SpanIndex].Name, o.Attrs(), o.Refs)
	}
	// Output:
	// kev:node-a/sched/1 -> SQL SELECT (overlap, confidence 0.9)
	// kev:node-a/sched/2 -> GET /checkout (overlap, confidence 0.9)
	// kev:node-a/sched/3 -> - (none, confidence 0.0)
	// overlap 2, unassigned 1
	// GET /checkout [{debugai.wait.scheduler.runqueue_ns 300000}] [{kev:node-a/sched/2 kernel.sched}]
	// SQL SELECT [{debugai.wait.futex.ns_total 1500000}] [{kev:node-a/sched/1 kernel.futex}]
}
