package bpf

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// moveToCgroup puts pid into the cgroup v2 directory dir.
func moveToCgroup(t testing.TB, dir string, pid int) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("moving %d into the cgroup: %v", pid, err)
	}
}

// TestPageFaultMajor maps a file dropped from the page cache with
// MADV_RANDOM and reads every page: one major fault per page, all in the
// mapping, from the workload's process and cgroup.
func TestPageFaultMajor(t *testing.T) {
	requireEBPF(t)
	dir, cgid := testCgroup(t)
	const mib = 4
	w := startWorkload(t, buildC(t, "majfault"), filepath.Join(t.TempDir(), "cold"), strconv.Itoa(mib))
	var base, size uintptr
	var resident int
	if _, err := fmt.Sscanf(w.line(t), "map %v %d resident %d", &base, &size, &resident); err != nil {
		t.Fatalf("parsing the workload's first line: %v", err)
	}
	if resident != 0 {
		t.Logf("%d pages still resident after POSIX_FADV_DONTNEED", resident)
	}
	pid := w.cmd.Process.Pid
	moveToCgroup(t, dir, pid)

	cfg := DefaultConfig()
	cfg.CgroupIDs = []uint64{cgid}
	probesOnly(t, &cfg, "PageFault")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()

	w.run(t)

	page := uintptr(os.Getpagesize())
	pages := map[uintptr]bool{}
	var other int
	if _, err := c.Drain(func(ev Event) {
		f, ok := ev.(PageFaultMajor)
		if !ok {
			t.Errorf("unexpected event %+v", ev)
			return
		}
		if f.CgroupID != cgid || f.PID != uint32(pid) {
			t.Errorf("fault from pid %d cgroup %d, want %d and %d: %+v", f.PID, f.CgroupID, pid, cgid, f)
			return
		}
		if f.IP == 0 {
			t.Errorf("no instruction pointer: %+v", f)
		}
		if f.Period != 1 {
			t.Errorf("period %d, want 1", f.Period)
		}
		if a := uintptr(f.Addr); a >= base && a < base+size {
			pages[(a-base)/page] = true
		} else {
			other++ // the program's own text and libraries
		}
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	want := int(size/page) - resident
	if len(pages) < want*9/10 {
		t.Errorf("major faults on %d pages of the mapping, want about %d", len(pages), want)
	}
	cn, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.FaultDrops != 0 || cn.FaultEvents < uint64(len(pages)) {
		t.Errorf("counters %+v: want at least %d fault events and no drops", cn, len(pages))
	}
	t.Logf("major faults on %d of %d pages, %d elsewhere; counters %+v", len(pages), size/page, other, cn)
}
