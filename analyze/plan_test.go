package analyze

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

func TestResolvePlan(t *testing.T) {
	const s = int64(1e9)
	st := evidence.Stats{Spans: 10, MinStartNS: 100 * s, MaxEndNS: 200 * s, EvidenceMinNS: 50 * s, EvidenceMaxNS: 250 * s}
	kernelOnly := evidence.Stats{KernelEvents: 5, EvidenceMinNS: 50 * s, EvidenceMaxNS: 250 * s}
	for _, tc := range []struct {
		name                 string
		st                   evidence.Stats
		since, until, bs, bu string
		incident, baseline   []hypothesis.Window
		source               string
		windowError          bool
	}{
		{name: "all stored spans, no baseline", st: st, incident: []hypothesis.Window{{SinceNS: 100 * s, UntilNS: 200*s + 1}}, source: SourceNone},
		{name: "kernel-only store: the evidence's range", st: kernelOnly, incident: []hypothesis.Window{{SinceNS: 50 * s, UntilNS: 250*s + 1}}, source: SourceNone},
		{name: "since: the window before is the baseline", st: st, since: "20s",
			incident: []hypothesis.Window{{SinceNS: 180*s + 1, UntilNS: 200*s + 1}}, baseline: []hypothesis.Window{{SinceNS: 160*s + 1, UntilNS: 180*s + 1}}, source: SourceBefore},
		{name: "baseline-until alone", st: st, bu: "50s",
			incident: []hypothesis.Window{{SinceNS: 150*s + 1, UntilNS: 200*s + 1}}, baseline: []hypothesis.Window{{SinceNS: 100 * s, UntilNS: 150*s + 1}}, source: SourceFlags},
		{name: "not a time", st: st, since: "yesterday", windowError: true},
		{name: "empty window", st: st, since: "10s", until: "20s", windowError: true},
		{name: "baseline-since without an end", st: st, bs: "1m", windowError: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ResolvePlan(tc.st, tc.since, tc.until, tc.bs, tc.bu)
			if we := (*WindowError)(nil); tc.windowError != errors.As(err, &we) || !tc.windowError && err != nil {
				t.Fatalf("err %v, want a WindowError: %v", err, tc.windowError)
			}
			if tc.windowError {
				return
			}
			if !equalWindows(p.Incident, tc.incident) || !equalWindows(p.Baseline, tc.baseline) || p.Source != tc.source {
				t.Errorf("plan %+v, want incident %v baseline %v source %q", p, tc.incident, tc.baseline, tc.source)
			}
		})
	}
}

func equalWindows(a, b []hypothesis.Window) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestLoadKernelOnly: a window with kernel events and no spans loads as a
// kernel-only input, without a baseline, bounded by the events.
func TestLoadKernelOnly(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "ev.duckdb")
	st, err := duckdb.Open(ctx, path, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	const t0 = int64(1_800_000_000e9)
	var kev []evidence.KernelEvent
	for i := range 4 {
		kev = append(kev, evidence.KernelEvent{Node: "n1", Stream: "futex_wait-1", Seq: uint64(i), Type: evidence.KernelFutexWait,
			TimeNS: t0 + int64(i)*1e9, DurationNS: 5e6, PID: 7, TID: 8, Addr: 0x1000})
	}
	if err := st.Write(ctx, &evidence.Batch{KernelEvents: kev}); err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	p, err := ResolvePlan(stats, "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	in, err := Load(ctx, st, stats, p, 1000, path)
	if err != nil {
		t.Fatal(err)
	}
	if !in.KernelOnly || len(in.Kernel) != 4 || in.SinceNS != t0 || in.UntilNS != t0+3e9+5e6+1 || in.BaseTraces != nil {
		t.Errorf("input: kernel-only %v, %d events, window %d..%d", in.KernelOnly, len(in.Kernel), in.SinceNS, in.UntilNS)
	}
	if _, _, err := Detect(in); err != nil {
		t.Errorf("detect on a kernel-only window: %v", err)
	}
}
