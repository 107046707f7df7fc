package bpf

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cilium/ebpf"

	"github.com/debugai/debugai/hint"
)

// BenchmarkSpanHookPair measures a hint.Enter + hint.Exit pair with the
// collector's span-hook programs attached to this test binary (goroutine
// span stacks in a BPF map), and, as ...Locked, a Go mutex Lock+Unlock
// pair observed by the wait probes (uncontended: the probes do not fire).
func BenchmarkSpanHookPair(b *testing.B) {
	requireEBPF(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{uint32(os.Getpid())}
	cfg.DisableFutex, cfg.DisableRunqueue, cfg.DisableTCP, cfg.DisableBlock, cfg.DisablePageFault = true, true, true, true, true
	c, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AttachSpanHooks(exe); err != nil {
		b.Fatal(err)
	}
	trace := [16]byte{1, 2, 3}
	span := [8]byte{4, 5, 6}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		hint.Enter(trace, span)
		hint.Exit(trace, span)
	}
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N)/1000, "µs/pair")
	b.StopTimer()
	counters, err := c.Counters()
	if err != nil {
		b.Fatal(err)
	}
	if counters.SpanEnters < uint64(b.N) {
		b.Fatalf("%d span enters seen for %d pairs: the hooks did not fire", counters.SpanEnters, b.N)
	}
}

// BenchmarkGoLockWaitProbes measures a contended-free sync.Mutex
// Lock/Unlock pair in a process whose runtime_SemacquireMutex and
// runtime_Semrelease are probed: the uncontended path never reaches them,
// so this should match the unprobed cost.
func BenchmarkGoLockWaitProbes(b *testing.B) {
	requireEBPF(b)
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{uint32(os.Getpid())}
	cfg.DisableRunqueue, cfg.DisableTCP, cfg.DisableBlock, cfg.DisablePageFault, cfg.DisableFsync = true, true, true, true, true
	c, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if _, err := c.AttachGoLockWaits(exe); err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	b.ResetTimer()
	for range b.N {
		mu.Lock()
		mu.Unlock() //nolint:staticcheck // an empty critical section is the point
	}
	b.StopTimer()
	var runs uint64
	for _, p := range []*ebpf.Program{c.objs.GoSemaAcquire, c.objs.GoSemaAcquired, c.objs.GoSemaRelease} {
		st, err := p.Stats()
		if err != nil {
			b.Fatal(err)
		}
		runs += st.RunCount
	}
	b.ReportMetric(float64(runs)/float64(b.N), "probe-runs/op")
}
