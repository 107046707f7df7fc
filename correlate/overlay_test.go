package correlate

import (
	"errors"
	"reflect"
	"testing"

	"github.com/debugai/debugai/evidence"
)

func TestOverlays(t *testing.T) {
	spans := []evidence.Span{sp(0, 1, 0, 1000), sp(1, 1, 100, 200), sp(2, 1, 2000, 3000)}
	typed := func(typ evidence.KernelEventType, seq uint64, tm, dur, val int64) evidence.KernelEvent {
		e := kev(1, tm, dur)
		e.Type, e.Seq, e.Value = typ, seq, val
		return e
	}
	events := []evidence.KernelEvent{
		typed(evidence.KernelFutexWait, 1, 50, 40, 0),
		typed(evidence.KernelFutexWait, 2, 400, 100, 0),
		typed(evidence.KernelRunqueueDelay, 3, 150, 20, 0),
		typed(evidence.KernelTCPRetransmit, 4, 600, 0, 3),
		typed(evidence.KernelTCPRetransmit, 5, 610, 0, 0), // no value: counts 1
		typed(evidence.KernelPageFaultMaj, 6, 700, 0, 2),
		typed(evidence.KernelBlockIO, 7, 900, 200, 8192),
		typed(evidence.KernelOffCPU, 8, 950, 10, 0),
		typed(evidence.KernelAnomaly, 9, 960, 0, 0),      // counted, not cited
		typed(evidence.KernelFutexWait, 10, 5000, 10, 0), // no span
	}
	cfg := DefaultConfig()
	cfg.MaxOverlayRefs = 3
	as, _, err := Join(spans, events, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ovs, err := Overlays(spans, events, as, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(ovs) != 2 || ovs[0].SpanIndex != 0 || ovs[1].SpanIndex != 1 {
		t.Fatalf("overlays %+v: want spans 0 and 1", ovs)
	}
	o := ovs[0]
	want := Overlay{SpanIndex: 0, SpanID: spans[0].ID(), FutexWaitNS: 140, OffCPUNS: 10, BlockIONS: 200, BlockIOBytes: 8192,
		TCPRetransmits: 4, MajorFaults: 2, Events: 8, MinConfidence: ConfidenceOverlapNearEdge, // events within 2 µs of the child
		Refs: []evidence.Ref{{ID: "kev:h/s/7", Line: evidence.LineKernelBlock}, {ID: "kev:h/s/2", Line: evidence.LineKernelFutex},
			{ID: "kev:h/s/1", Line: evidence.LineKernelFutex}}}
	if !reflect.DeepEqual(o, want) {
		t.Errorf("overlay\n got %+v\nwant %+v", o, want)
	}
	wantAttrs := evidence.Attrs{
		{Key: KeyFutexWaitNS, Value: evidence.IntValue(140)},
		{Key: KeyOffCPUNS, Value: evidence.IntValue(10)},
		{Key: KeyTCPRetransmits, Value: evidence.IntValue(4)},
		{Key: KeyMajorFaults, Value: evidence.IntValue(2)},
		{Key: KeyBlockIONS, Value: evidence.IntValue(200)},
	}
	if got := o.Attrs(); !reflect.DeepEqual(got, wantAttrs) {
		t.Errorf("attrs\n got %+v\nwant %+v", got, wantAttrs)
	}
	if ovs[1].RunqueueNS != 20 || ovs[1].Events != 1 {
		t.Errorf("child overlay %+v: want runqueue 20 from 1 event", ovs[1])
	}
	bad := []Assignment{{EventIndex: 0, SpanIndex: 7, Method: MethodOverlap}}
	if _, err := Overlays(spans, events, bad, cfg); !errors.Is(err, ErrBadAssignment) {
		t.Errorf("bad assignment: got %v, want ErrBadAssignment", err)
	}
}
