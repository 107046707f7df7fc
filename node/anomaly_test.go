package node

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/evidence"
)

// spanfsync's stamps (bpf/testdata/spanfsync): goroutine i runs in trace
// deb0000000000000<i>1111222233334444, span 5a0000000000000<i+1>, and
// fsyncs 6 times inside it.
func spanfsyncStamp(i int) (evidence.TraceID, evidence.SpanID) {
	var tr evidence.TraceID
	var sp evidence.SpanID
	binary.BigEndian.PutUint64(tr[0:8], 0xdeb0_0000_0000_0000|uint64(i))
	binary.BigEndian.PutUint64(tr[8:16], 0x1111_2222_3333_4444)
	binary.BigEndian.PutUint64(sp[:], 0x5a00_0000_0000_0000|uint64(i+1))
	return tr, sp
}

// TestAnomalySpans runs the node with real eBPF against a real OTLP
// receiver (logs and traces) while spanfsync fsyncs inside 8 stamped
// spans, and checks the kernel.anomaly spans the node sends into those
// traces: one per stamped span over the threshold, with the right trace
// and parent ids and only the documented attributes; none below it; no
// more than the cap; and on a burst, one per stamped span of the second.
func TestAnomalySpans(t *testing.T) {
	requireEBPF(t)
	spanBin := buildGo(t, "../bpf/testdata/spanfsync")
	ring := testRing(t)
	for _, tc := range []struct {
		name    string
		anomaly AnomalyConfig
		burst   int
		// want is the number of spans, or -1 for the cap case.
		want int
		kind string
	}{
		{name: "over", anomaly: AnomalyConfig{Block: time.Nanosecond, PerSecond: 100}, want: 8, kind: "fsync"},
		{name: "below", anomaly: AnomalyConfig{Block: time.Hour, PerSecond: 100}, want: 0},
		{name: "cap", anomaly: AnomalyConfig{Block: time.Nanosecond, PerSecond: 1}, want: -1, kind: "fsync"},
		{name: "burst", anomaly: AnomalyConfig{Burst: true, PerSecond: 100}, burst: 10, want: -2, kind: AnomalyBurst},
	} {
		t.Run(tc.name, func(t *testing.T) {
			snk := startSink(t, ring)
			cfg := DefaultConfig()
			cfg.Endpoint, cfg.NodeID, cfg.KeyRing = snk.url, "node-a", ring
			cfg.Executables = []string{spanBin}
			cfg.MetricsListen = ""
			cfg.RescanInterval, cfg.FlushInterval = time.Second, 100*time.Millisecond
			cfg.Probes.FsyncThreshold = 0
			cfg.Probes.DisableRunqueue, cfg.Probes.DisablePageFault, cfg.Probes.DisableBlock = true, true, true
			cfg.Anomaly = tc.anomaly
			if tc.burst > 0 {
				cfg.BurstRecords = tc.burst
			}
			n, err := Start(cfg)
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			ctx, stop := context.WithCancel(context.Background())
			runErr := make(chan error, 1)
			go func() { runErr <- n.Run(ctx) }()

			sp := start(t, spanBin, t.TempDir())
			sp.until(t, "ready")
			waitFor(t, "the span workload to become a target", func() bool { return slices.Contains(n.Targets(), uint32(sp.cmd.Process.Pid)) })
			sp.send(t, "go")
			sp.until(t, "done")
			pid := int64(sp.cmd.Process.Pid)
			stamped := func() []evidence.KernelEvent {
				kevs, _ := snk.snapshot()
				var out []evidence.KernelEvent
				for _, k := range kevs {
					if k.PID == pid && k.Type == evidence.KernelFsync && k.SpanID != (evidence.SpanID{}) {
						out = append(out, k)
					}
				}
				return out
			}
			waitFor(t, "the 48 stamped fsyncs", func() bool { return len(stamped()) == 48 })
			if tc.want == -2 {
				waitFor(t, "a burst span", func() bool { return len(snk.spanSnapshot()) > 0 })
			}
			// Run returns after both exporters flushed what was queued.
			stop()
			if err := <-runErr; err != nil {
				t.Fatalf("Run: %v", err)
			}
			sp.send(t, "exit")

			spans := snk.spanSnapshot()
			sent, capped := n.anom.stats()
			if uint64(len(spans)) != sent {
				t.Errorf("receiver got %d kernel.anomaly spans, node admitted %d", len(spans), sent)
			}
			switch tc.want {
			case -1: // the cap: at most one a second, the rest counted
				secs := map[int64]bool{}
				for _, k := range stamped() {
					secs[k.TimeNS/1e9] = true
				}
				// Every stamped span not sent was refused at least once.
				if len(spans) < 1 || len(spans) > len(secs)+1 || sent+capped < 8 {
					t.Errorf("cap 1/s over %d second(s): %d spans sent, %d refused; want 1..%d sent and at least %d refused", len(secs), sent, capped, len(secs)+1, 8-len(spans))
				}
			case -2: // a burst: spans into stamped traces, at most one each
				if len(spans) < 1 || len(spans) > 8 || capped != 0 {
					t.Errorf("burst: %d spans, %d capped; want 1..8 and none capped", len(spans), capped)
				}
			default:
				if len(spans) != tc.want || capped != 0 {
					t.Errorf("%d kernel.anomaly spans (%d capped), want %d", len(spans), capped, tc.want)
				}
			}
			snk.mu.Lock()
			stored := snk.storedSpans
			snk.mu.Unlock()
			if stored != 0 {
				t.Errorf("the receiver stored %d of the node's spans as spans", stored)
			}
			kevs, _ := snk.snapshot()
			parents := map[evidence.SpanID]bool{}
			for _, s := range spans {
				checkAnomalySpan(t, s, tc.kind, parents, kevs)
			}
		})
	}
}

// checkAnomalySpan expects a kernel.anomaly span of kind into one of
// spanfsync's traces, a child of its stamped span, with only the
// documented attributes, once per parent; and the receiver to have stored
// it as a kernel.anomaly event stamped with that parent.
func checkAnomalySpan(t *testing.T, s ptrace.Span, kind string, parents map[evidence.SpanID]bool, kevs []evidence.KernelEvent) {
	t.Helper()
	p := evidence.SpanID(s.ParentSpanID())
	i := int(binary.BigEndian.Uint64(p[:])&0xff) - 1
	tr, parent := spanfsyncStamp(i)
	if i < 0 || i >= 8 || evidence.TraceID(s.TraceID()) != tr || p != parent {
		t.Errorf("kernel.anomaly span in trace %s under %s: not a spanfsync stamp", s.TraceID(), s.ParentSpanID())
		return
	}
	if parents[parent] {
		t.Errorf("a second kernel.anomaly span under %s", parent)
	}
	parents[parent] = true
	if s.Name() != AnomalySpanName || s.SpanID().IsEmpty() || evidence.SpanID(s.SpanID()) == parent {
		t.Errorf("span %q id %s: want %q and a fresh id", s.Name(), s.SpanID(), AnomalySpanName)
	}
	var keys []string
	for k := range s.Attributes().All() {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	want := []string{AttrAnomalyKind, evidence.AttrDurationNS, evidence.AttrKernelAnomaly}
	if kind == AnomalyBurst {
		want = []string{AttrAnomalyKind, evidence.AttrValue, evidence.AttrKernelAnomaly}
	}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("attribute keys %v, want %v", keys, want)
	}
	flag, _ := s.Attributes().Get(evidence.AttrKernelAnomaly)
	k, _ := s.Attributes().Get(AttrAnomalyKind)
	if flag.Type() != pcommon.ValueTypeBool || !flag.Bool() || k.Str() != kind {
		t.Errorf("kernel.anomaly %v, kind %v: want true and %s", flag.AsRaw(), k.AsRaw(), kind)
	}
	d, _ := s.Attributes().Get(evidence.AttrDurationNS)
	if kind == "fsync" && (d.Int() <= 0 || int64(s.EndTimestamp()-s.StartTimestamp()) != d.Int()) {
		t.Errorf("duration %d, span %d ns: want the fsync's wait", d.Int(), s.EndTimestamp()-s.StartTimestamp())
	}
	var stored int
	for _, ev := range kevs {
		if ev.Type != evidence.KernelAnomaly || ev.SpanID != parent {
			continue
		}
		stored++
		got, _ := ev.Attrs.Get(AttrAnomalyKind)
		if ev.TraceID != tr || got != evidence.StringValue(kind) || (kind == "fsync" && ev.DurationNS != d.Int()) {
			t.Errorf("stored as %+v", ev)
		}
	}
	if stored != 1 {
		t.Errorf("the receiver stored %d kernel.anomaly events under %s, want 1", stored, parent)
	}
}

// TestAnomalyThresholds: each kind against its threshold (at it: a span;
// under it, unstamped, or off: none), one span per stamped span and kind,
// and the per-second cap.
func TestAnomalyThresholds(t *testing.T) {
	cfg := DefaultAnomalyConfig()
	tr, sp := spanfsyncStamp(0)
	ev := func(typ evidence.KernelEventType, dur, value int64) *evidence.KernelEvent {
		return &evidence.KernelEvent{Node: "n", Stream: string(typ) + "-x", Type: typ, TimeNS: 2e9, DurationNS: dur, Value: value, TraceID: tr, SpanID: sp}
	}
	for _, tc := range []struct {
		name string
		ev   *evidence.KernelEvent
		cfg  func(*AnomalyConfig)
		want bool
	}{
		{"futex at threshold", ev(evidence.KernelFutexWait, 10e6, 0), nil, true},
		{"futex under", ev(evidence.KernelFutexWait, 10e6-1, 0), nil, false},
		{"futex off", ev(evidence.KernelFutexWait, 1e9, 0), func(c *AnomalyConfig) { c.FutexWait = 0 }, false},
		{"runqueue", ev(evidence.KernelRunqueueDelay, 10e6, 0), nil, true},
		{"runqueue under", ev(evidence.KernelRunqueueDelay, 9e6, 0), nil, false},
		{"block", ev(evidence.KernelBlockIO, 50e6, 4096), nil, true},
		{"fsync under", ev(evidence.KernelFsync, 49e6, 0), nil, false},
		{"fsync", ev(evidence.KernelFsync, 50e6, 0), nil, true},
		{"retransmit", ev(evidence.KernelTCPRetransmit, 0, 1), nil, true},
		{"retransmits under", ev(evidence.KernelTCPRetransmit, 0, 2), func(c *AnomalyConfig) { c.Retransmits = 3 }, false},
		{"major fault", ev(evidence.KernelPageFaultMaj, 0, 1), nil, true},
		{"major faults off", ev(evidence.KernelPageFaultMaj, 0, 9), func(c *AnomalyConfig) { c.MajorFaults = 0 }, false},
		{"cpu throttle is no trigger", ev(evidence.KernelCPUThrottle, 1e9, 9), nil, false},
		{"unstamped", func() *evidence.KernelEvent {
			e := ev(evidence.KernelFutexWait, 1e9, 0)
			e.SpanID = evidence.SpanID{}
			return e
		}(), nil, false},
		{"spans off", ev(evidence.KernelFutexWait, 1e9, 0), func(c *AnomalyConfig) { c.PerSecond = 0 }, false},
	} {
		c := cfg
		if tc.cfg != nil {
			tc.cfg(&c)
		}
		a := newAnomalies(c, "n")
		got, ok := a.event(tc.ev, 5e9)
		if ok != tc.want {
			t.Errorf("%s: span %v, want %v", tc.name, ok, tc.want)
			continue
		}
		if ok && (got.trace != tr || got.parent != sp || got.kind != string(tc.ev.Type) || got.endNS != tc.ev.TimeNS || got.startNS != tc.ev.TimeNS-tc.ev.DurationNS) {
			t.Errorf("%s: %+v", tc.name, got)
		}
		if _, again := a.event(tc.ev, 5e9); again {
			t.Errorf("%s: a second span for the same stamped span and kind", tc.name)
		}
	}

	// The cap: 3 a second over distinct stamped spans, refusals counted,
	// a new second admits again.
	c := cfg
	c.PerSecond = 3
	a := newAnomalies(c, "n")
	admitted := 0
	for i := range 5 {
		e := ev(evidence.KernelFutexWait, 20e6, 0)
		e.SpanID[7] = byte(i + 1)
		if _, ok := a.event(e, 7e9+int64(i)); ok {
			admitted++
		}
	}
	e := ev(evidence.KernelFutexWait, 20e6, 0)
	e.SpanID[7] = 9
	_, next := a.event(e, 8e9)
	if sent, capped := a.stats(); admitted != 3 || capped != 2 || !next || sent != 4 {
		t.Errorf("cap 3/s: %d admitted in the second, %d refused, next second admitted %v (sent %d); want 3, 2, true, 4", admitted, capped, next, sent)
	}
}
