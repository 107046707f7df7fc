package analyze

import (
	"strings"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// samplingData is n requests a second apart, each stamped on one kernel
// event; stored(i) says whether request i's trace is stored.
func samplingData(n int, stored func(i int) bool, kernelService string) ([]evidence.Span, []evidence.KernelEvent) {
	const t0 = int64(1_800_000_000e9)
	var spans []evidence.Span
	var kev []evidence.KernelEvent
	for i := range n {
		id := evidence.TraceID{byte(i >> 8), byte(i), 7}
		start := t0 + int64(i)*1e9
		if stored(i) {
			spans = append(spans, evidence.Span{TraceID: id, SpanID: evidence.SpanID{1}, Service: "db", Name: "SELECT",
				Kind: evidence.KindServer, StartNS: start, EndNS: start + 5e6})
		}
		kev = append(kev, evidence.KernelEvent{Node: "n", Stream: "sched", Seq: uint64(i), Type: evidence.KernelRunqueueDelay,
			Service: kernelService, TimeNS: start + 1e6, DurationNS: 1e4, TraceID: id, SpanID: evidence.SpanID{1}})
	}
	return spans, kev
}

func TestDetectSampling(t *testing.T) {
	// 5 % and the slow tail; the first and last requests are kept, so that
	// the spans cover the whole run.
	tail := func(i int) bool { return i == 0 || i == 199 || i%20 == 0 || i >= 180 }
	for _, tc := range []struct {
		name    string
		n       int
		stored  func(int) bool
		service string
		sampled bool
	}{
		{"every trace stored", 200, func(int) bool { return true }, "", false},
		{"tail-sampled", 200, tail, "", true},
		{"tail-sampled, events name the stored service", 200, tail, "db", true},
		{"events of a service that stores no traces", 200, tail, "cache", false},
		{"too few stamped traces to tell", 15, func(i int) bool { return i == 0 || i == 14 }, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spans, kev := samplingData(tc.n, tc.stored, tc.service)
			s := DetectSampling(spans, kev)
			if s.Sampled != tc.sampled {
				t.Fatalf("%+v: sampled %v, want %v", s, s.Sampled, tc.sampled)
			}
			note := s.Note()
			if tc.sampled != strings.Contains(note, "traces are tail-sampled: ") {
				t.Errorf("note %q", note)
			}
		})
	}
	// Only the kept traces of the tail-sampled run: 9 of 10 stamped traces
	// are missing; the events at the run's ends are left out.
	spans, kev := samplingData(200, tail, "")
	s := DetectSampling(spans, kev)
	if s.StampedTraces >= 200 || s.StampedTraces < 180 || s.MissingTraceShare() < 0.8 {
		t.Errorf("%+v: want most of 200 stamped traces, over 80 %% missing", s)
	}
	if !strings.Contains(s.Note(), "% of stamped kernel events point at traces that were not kept") {
		t.Errorf("note %q", s.Note())
	}
}

func TestMarkSampled(t *testing.T) {
	fs := []evidence.Finding{{Kind: "latency_changepoint", Summary: "p50 rose from 498.5 ms"}, {Kind: "lock_convoy", Summary: "convoy"}}
	markSampled(fs, Sampling{})
	if fs[0].Summary != "p50 rose from 498.5 ms" || fs[0].Attrs != nil {
		t.Fatalf("unsampled: %+v", fs[0])
	}
	markSampled(fs, Sampling{Sampled: true, StampedTraces: 100, MissingTraces: 90})
	if !strings.HasSuffix(fs[0].Summary, sampledSuffix) || fs[0].Attrs[AttrTracesNotKept] != 0.9 {
		t.Errorf("change point: %+v, want marked", fs[0])
	}
	if fs[1].Summary != "convoy" || fs[1].Attrs != nil {
		t.Errorf("lock convoy: %+v, want unmarked", fs[1])
	}
}

// TestDetectSamplingPerWindow: a baseline window of sampled traces against
// an incident window whose (slow) traces were all kept is flagged, though
// the two together have only a few missing traces.
func TestDetectSamplingPerWindow(t *testing.T) {
	// 40 baseline requests, 2 kept; 400 incident requests, all kept.
	spans, kev := samplingData(440, func(i int) bool { return i >= 40 || i == 0 || i == 39 }, "")
	const t0 = int64(1_800_000_000e9)
	split := t0 + 40*1e9
	in := &Input{Spans: spans, Kernel: kev, BaseTraces: map[evidence.TraceID]bool{},
		Plan: Plan{Baseline: []hypothesis.Window{{SinceNS: t0, UntilNS: split}},
			Incident: []hypothesis.Window{{SinceNS: split, UntilNS: t0 + 440*1e9}}}}
	for i := range spans {
		if spans[i].StartNS < split {
			in.BaseTraces[spans[i].TraceID] = true
		}
	}
	if all := DetectSampling(spans, kev); all.Sampled {
		t.Fatalf("judged together: %+v; the test needs a share below the threshold", all)
	}
	s := in.detectSampling()
	if !s.Sampled || s.WindowShare < 0.8 || !strings.Contains(s.Note(), "in the most sampled window") {
		t.Errorf("%+v, note %q: want sampled, the baseline's share given", s, s.Note())
	}
}
