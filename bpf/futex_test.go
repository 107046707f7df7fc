package bpf

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestFutexWaitContendedMutex runs two threads contending on a pthread
// mutex and expects their futex waits on the mutex's address, each woken
// by the other thread.
func TestFutexWaitContendedMutex(t *testing.T) {
	requireEBPF(t)
	w := startWorkload(t, buildC(t, "mutex"))

	addrText, ok := strings.CutPrefix(w.line(t), "mutex 0x")
	if !ok {
		t.Fatalf("want the mutex address first, got %q", addrText)
	}
	mutexAddr, err := strconv.ParseUint(addrText, 16, 64)
	if err != nil {
		t.Fatalf("parsing mutex address: %v", err)
	}
	var tids [2]uint32
	for i := range tids {
		s, ok := strings.CutPrefix(w.line(t), "tid ")
		n, err := strconv.ParseUint(s, 10, 32)
		if !ok || err != nil {
			t.Fatalf("want a thread id, got %q", s)
		}
		tids[i] = uint32(n)
	}
	pid := uint32(w.cmd.Process.Pid)

	cfg := DefaultConfig()
	cfg.PIDs = []uint32{pid}
	cfg.FutexThreshold = 20 * time.Microsecond
	probesOnly(t, &cfg, "Futex")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()

	w.run(t)

	var onMutex, woken int
	perTID := map[uint32]int{}
	if _, err := c.Drain(func(ev Event) {
		f, ok := ev.(FutexWait)
		if !ok {
			t.Errorf("unexpected event %+v", ev)
			return
		}
		if f.PID != pid {
			t.Errorf("event from pid %d, filter allows only %d: %+v", f.PID, pid, f)
		}
		if f.Duration < cfg.FutexThreshold {
			t.Errorf("wait %v below the threshold %v", f.Duration, cfg.FutexThreshold)
		}
		if f.Addr != mutexAddr {
			return // the start barrier, pthread_join
		}
		onMutex++
		other := map[uint32]uint32{tids[0]: tids[1], tids[1]: tids[0]}
		want, ok := other[f.TID]
		if !ok {
			t.Errorf("mutex wait by tid %d, not a worker %v", f.TID, tids)
			return
		}
		if f.Cmd() != 0 || f.Op&128 == 0 {
			t.Errorf("op %#x, want FUTEX_WAIT_PRIVATE", f.Op)
		}
		if f.Ret == 0 {
			woken++
			perTID[f.TID]++
			if f.WakerTID != want || f.WakerPID != pid {
				t.Errorf("tid %d woken by %d/%d, want the other worker %d/%d", f.TID, f.WakerPID, f.WakerTID, pid, want)
			}
		}
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	// 60 rounds force 60 blocking waits, 30 by each thread, each woken by
	// the other (the holder unlocks only once the waiter sleeps in the
	// kernel); only skipped probe runs (recursion misses) can lose one.
	for _, tid := range tids {
		if got := perTID[tid]; got > 30 || got < 30 && misses(t, c) == 0 {
			t.Errorf("%d waits on the mutex (%d woken), woken %v by thread, want 30 for each thread", onMutex, woken, perTID)
		}
	}
	if onMutex != woken {
		t.Errorf("%d waits on the mutex, %d woken: a wait returned without a wake", onMutex, woken)
	}
	cn, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.FutexEvents == 0 || cn.FutexDrops != 0 {
		t.Errorf("counters %+v: want futex events and no drops", cn)
	}
	t.Logf("%d mutex waits, %d woken; counters %+v", onMutex, woken, cn)
}

// TestFutex2Syscalls covers futex_wait(2) and futex_waitv(2): the waitv
// event names the futex that woke the thread (w2, index 1), not the first.
func TestFutex2Syscalls(t *testing.T) {
	requireEBPF(t)
	w := startWorkload(t, buildC(t, "futex2"))
	var w0, w2 uint64
	var waiter, waker uint32
	if _, err := fmt.Sscanf(w.line(t), "w0 %v w2 %v tid %d waker %d", &w0, &w2, &waiter, &waker); err != nil {
		t.Fatalf("parsing the workload's first line: %v", err)
	}
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{uint32(w.cmd.Process.Pid)}
	cfg.FutexThreshold = 20 * time.Microsecond
	probesOnly(t, &cfg, "Futex")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()

	w.run(t)

	got := map[FutexSyscall]FutexWait{}
	if _, err := c.Drain(func(ev Event) {
		if f, ok := ev.(FutexWait); ok && f.TID == waiter {
			got[f.Syscall] = f
		}
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if f, ok := got[SyscallFutexWait]; !ok || f.Addr != w0 || f.WakerTID != waker || f.Ret != 0 || f.Cmd() != -1 {
		t.Errorf("futex_wait event %+v (found %v), want Addr %#x, waker %d, Ret 0", f, ok, w0, waker)
	}
	if f, ok := got[SyscallFutexWaitv]; !ok || f.Addr != w2 || f.WakerTID != waker || f.Ret != 1 {
		t.Errorf("futex_waitv event %+v (found %v), want Addr %#x (index 1), waker %d, Ret 1", f, ok, w2, waker)
	}
}
