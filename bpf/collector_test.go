package bpf

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
)

// TestCloseDetachesEverything checks that after Close no link of ours (by
// link id or program id) is left in the kernel, and that Close releases a
// blocked Read and is idempotent.
func TestCloseDetachesEverything(t *testing.T) {
	requireEBPF(t)
	c, err := Load(DefaultConfig())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	linkIDs := map[link.ID]bool{}
	progIDs := map[ebpf.ProgramID]bool{}
	for _, l := range c.links {
		info, err := l.Info()
		if err != nil {
			t.Fatalf("link info: %v", err)
		}
		linkIDs[info.ID] = true
		progIDs[info.Program] = true
	}
	// 6 syscall tracepoints (futex, futex_wait, futex_waitv; enter and
	// exit), sched_waking, 3 run-queue hooks, 2 TCP hooks (state,
	// retransmit), 2 block hooks (issue, complete), 6 fsync tracepoints
	// (fsync, fdatasync, sync_file_range; enter and exit) and one
	// major-fault perf link per online CPU.
	cpus, err := onlineCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if want := 20 + len(cpus); len(linkIDs) != want {
		t.Errorf("%d links attached, want %d", len(linkIDs), want)
	}
	perfFDs := append([]int(nil), c.perfs...)
	if len(perfFDs) != len(cpus) {
		t.Errorf("%d perf events open, want one per CPU (%d)", len(perfFDs), len(cpus))
	}
	if n := countLinks(t, linkIDs, progIDs); n != len(linkIDs) {
		t.Fatalf("found %d of our %d links in the kernel before Close", n, len(linkIDs))
	}

	readErr := make(chan error, 1)
	go func() {
		for {
			if _, err := c.Read(context.Background()); err != nil {
				readErr <- err
				return
			}
		}
	}()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-readErr; !errors.Is(err, ErrClosed) {
		t.Errorf("Read after Close: %v, want ErrClosed", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if n := countLinks(t, linkIDs, progIDs); n != 0 {
		t.Errorf("%d links remain after Close", n)
	}
	// The perf event fds are closed too (EBADF: not reused meanwhile by
	// this single-goroutine test, or reused by something else: not ours).
	for _, fd := range perfFDs {
		if target, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd)); err == nil && target == "anon_inode:[perf_event]" {
			t.Errorf("perf event fd %d still open after Close", fd)
		}
	}
}

// countLinks counts the kernel's links that have one of ids or run one of
// progs.
func countLinks(t *testing.T, ids map[link.ID]bool, progs map[ebpf.ProgramID]bool) int {
	t.Helper()
	var n int
	it := new(link.Iterator)
	defer it.Close()
	for it.Next() {
		info, err := it.Link.Info()
		if err != nil {
			t.Fatalf("link %d info: %v", it.ID, err)
		}
		if ids[it.ID] || progs[info.Program] {
			n++
		}
	}
	if err := it.Err(); err != nil {
		t.Fatalf("iterating links: %v", err)
	}
	return n
}

// TestReadHonoursContext checks that a cancelled context releases Read.
func TestReadHonoursContext(t *testing.T) {
	requireEBPF(t)
	cfg := DefaultConfig()
	cfg.PIDs = []uint32{1<<22 + 1} // above pid_max: nothing matches
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(ctx)
		done <- err
	}()
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Read: %v, want context.Canceled", err)
	}
	// The collector still reads after a cancelled Read.
	n, err := c.Drain(func(Event) {})
	if err != nil || n != 0 {
		t.Errorf("Drain = %d, %v; want 0, nil", n, err)
	}
}

func TestLoadRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RingBytes = 12345
	if _, err := Load(cfg); err == nil {
		t.Fatal("Load accepted a ring size that is not a power of two")
	}
}
