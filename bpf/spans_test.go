package bpf

import (
	"encoding/hex"
	"io"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSpanHooksGoroutines runs goroutines that fsync inside hint spans
// while competing for one P, so that they change OS threads mid-span, and
// expects every fsync record inside a span to carry that goroutine's span
// (the hooks key spans by goroutine, not thread) and those outside none.
func TestSpanHooksGoroutines(t *testing.T) {
	requireEBPF(t)
	t.Run("static", func(t *testing.T) { spanHooksGoroutines(t, buildGo(t, "spanfsync")) })
	// C thread-locals in the TLS block move g (as in debugai itself, which
	// links DuckDB): the probes must read it where this binary keeps it.
	t.Run("cgo-tls", func(t *testing.T) { spanHooksGoroutines(t, buildGo(t, "spanfsync", "-tags", "cgotls")) })
}

func spanHooksGoroutines(t *testing.T, bin string) {
	cmd := exec.Command(bin, t.TempDir())
	cmd.Env = append(cmd.Environ(), "GOMAXPROCS=1")
	w := startCmd(t, cmd)
	if got := w.line(t); got != "ready" {
		t.Fatalf("workload printed %q, want ready", got)
	}
	pid := uint32(w.cmd.Process.Pid)

	cfg := DefaultConfig()
	cfg.PIDs = []uint32{pid}
	cfg.FsyncThreshold = 0
	probesOnly(t, &cfg, "Fsync")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()
	if _, err := c.AttachSpanHooks(bin); err != nil {
		t.Fatalf("AttachSpanHooks: %v", err)
	}
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	spanOfFD := map[int32]string{}
	for {
		line := w.line(t)
		if line == "done" {
			break
		}
		var fd int32
		var span string
		if _, err := fmtSscan(line, &fd, &span); err != nil {
			t.Fatalf("workload line %q: %v", line, err)
		}
		spanOfFD[fd] = span
	}
	byFD := map[int32][]Fsync{}
	if _, err := c.Drain(func(ev Event) {
		if f, ok := ev.(Fsync); ok && f.PID == pid {
			byFD[f.FD] = append(byFD[f.FD], f)
		}
	}); err != nil {
		t.Fatal(err)
	}
	w.finish(t)

	if len(spanOfFD) != 8 {
		t.Fatalf("workload reported %d files, want 8", len(spanOfFD))
	}
	var moved int
	for fd, span := range spanOfFD {
		evs := byFD[fd]
		if len(evs) != 7 {
			t.Errorf("fd %d: %d fsync records, want 7 (1 outside the span, 6 inside)", fd, len(evs))
			continue
		}
		slices.SortFunc(evs, func(a, b Fsync) int { return int(a.EndNS - b.EndNS) })
		if !evs[0].Span.IsZero() {
			t.Errorf("fd %d: fsync before the span stamped with %v", fd, evs[0].Span)
		}
		tids := map[uint32]bool{}
		for _, e := range evs[1:] {
			tids[e.TID] = true
			if got := hex.EncodeToString(e.Span.SpanID[:]); got != span {
				t.Errorf("fd %d on thread %d: span %s, want %s", fd, e.TID, got, span)
			}
			if !strings.HasPrefix(e.Span.TraceID.String(), "deb0") {
				t.Errorf("fd %d: trace %s, want the workload's", fd, e.Span.TraceID)
			}
			if e.Syscall != SyscallFsync || e.Duration <= 0 || e.Ret != 0 {
				t.Errorf("fd %d: record %+v", fd, e)
			}
		}
		if len(tids) > 1 {
			moved++
		}
	}
	if moved == 0 {
		t.Errorf("no goroutine changed threads inside its span: the test did not exercise goroutine keying")
	}
	t.Logf("%d of 8 goroutines ran their span on more than one thread", moved)
	counters, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if counters.SpanEnters != 8 || counters.SpanOverflow != 0 {
		t.Errorf("counters %+v: want 8 span enters, no overflow", counters)
	}
}

// fmtSscan parses "file <fd> span <hex>".
func fmtSscan(line string, fd *int32, span *string) (int, error) {
	f := strings.Fields(line)
	if len(f) != 4 || f[0] != "file" || f[2] != "span" {
		return 0, strconv.ErrSyntax
	}
	n, err := strconv.ParseInt(f[1], 10, 32)
	if err != nil {
		return 0, err
	}
	*fd, *span = int32(n), f[3]
	return 2, nil
}

// TestSpanHooksThreads runs two C threads inside spans (debugai_hint.h)
// that take turns blocking on a mutex the other holds (driven step by step
// by the workload's main thread, see testdata/spanthreads.c) and
// fdatasync, and expects exactly their waits on that mutex and their
// fdatasync, each stamped with its own thread's span.
func TestSpanHooksThreads(t *testing.T) {
	requireEBPF(t)
	include, err := filepath.Abs("../hint/c")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildCFlags(t, "spanthreads", "-O2", "-I", include)
	w := startWorkload(t, bin, t.TempDir())
	mutex, err := strconv.ParseUint(strings.TrimPrefix(w.line(t), "mutex 0x"), 16, 64)
	if err != nil {
		t.Fatalf("workload's mutex address: %v", err)
	}
	spanOfTID := map[uint32]string{}
	for range 2 {
		f := strings.Fields(w.line(t))
		if len(f) != 4 || f[0] != "tid" {
			t.Fatalf("workload line %v", f)
		}
		n, err := strconv.ParseUint(f[1], 10, 32)
		if err != nil {
			t.Fatalf("workload line %v", f)
		}
		spanOfTID[uint32(n)] = f[3]
	}
	pid := uint32(w.cmd.Process.Pid)
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{pid}
	cfg.FsyncThreshold, cfg.FutexThreshold = 0, 50*time.Microsecond
	probesOnly(t, &cfg, "Futex", "Fsync")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()
	if _, err := c.AttachSpanHooks(bin); err != nil {
		t.Fatalf("AttachSpanHooks: %v", err)
	}
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q", got)
	}
	futexes, fsyncs := map[uint32]int{}, map[uint32]int{}
	check := func(kind string, tid uint32, s SpanRef) {
		if got, want := hex.EncodeToString(s.SpanID[:]), spanOfTID[tid]; got != want {
			t.Errorf("%s on thread %d: span %s, want %s", kind, tid, got, want)
		}
	}
	if _, err := c.Drain(func(ev Event) {
		switch e := ev.(type) {
		case FutexWait:
			if _, ok := spanOfTID[e.TID]; !ok {
				return // the main thread's waits (joins): no span
			}
			if e.Addr != mutex {
				t.Errorf("futex wait on %#x by thread %d, want only the mutex %#x", e.Addr, e.TID, mutex)
			}
			futexes[e.TID]++
			check("futex wait", e.TID, e.Span)
		case Fsync:
			fsyncs[e.TID]++
			check("fsync", e.TID, e.Span)
		}
	}); err != nil {
		t.Fatal(err)
	}
	w.finish(t)
	for tid := range spanOfTID {
		if fsyncs[tid] != 1 {
			t.Errorf("thread %d: %d fsync records, want 1", tid, fsyncs[tid])
		}
		// ROUNDS/2 of testdata/spanthreads.c; only skipped probe runs
		// (recursion misses) can lose one.
		if got := futexes[tid]; got > 4 || got < 4 && misses(t, c) == 0 {
			t.Errorf("thread %d: %d waits on the mutex, want the workload's 4", tid, got)
		}
	}
}
