package bpf

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroup2Root finds the cgroup v2 mount: /sys/fs/cgroup/unified on hybrid
// hosts, /sys/fs/cgroup on unified ones.
func cgroup2Root() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		pre, post, ok := strings.Cut(s.Text(), " - ")
		fields := strings.Fields(pre)
		if ok && strings.HasPrefix(post, "cgroup2 ") && len(fields) >= 5 {
			return fields[4], nil
		}
	}
	return "", errors.New("no cgroup v2 mount")
}

// testCgroup creates a child cgroup v2 removed at the end of the test.
func testCgroup(t testing.TB) (dir string, id uint64) {
	t.Helper()
	return testCgroupNamed(t, "")
}

// testCgroupNamed is testCgroup with a name suffix, for a second cgroup in
// the same test.
func testCgroupNamed(t testing.TB, suffix string) (dir string, id uint64) {
	t.Helper()
	root, err := cgroup2Root()
	if err != nil {
		t.Fatalf("finding cgroup v2: %v", err)
	}
	dir = filepath.Join(root, fmt.Sprintf("debugai-bpf-test-%d%s", os.Getpid(), suffix))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("creating cgroup: %v", err)
	}
	// Registered before the workload's cleanup, so it runs after the
	// workload is gone and the cgroup is empty.
	t.Cleanup(func() {
		if err := os.Remove(dir); err != nil {
			t.Errorf("removing cgroup: %v", err)
		}
	})
	if id, err = CgroupID(dir); err != nil {
		t.Fatal(err)
	}
	return dir, id
}

// TestRunqueueDelayInCgroup oversubscribes one CPU with four busy threads
// inside a child cgroup and expects run-queue delays for that cgroup only.
func TestRunqueueDelayInCgroup(t *testing.T) {
	requireEBPF(t)
	bin := buildC(t, "spinners")
	dir, cgid := testCgroup(t)
	w := startWorkload(t, bin)
	if got := w.line(t); got != "ready" {
		t.Fatalf("workload printed %q, want ready", got)
	}
	pid := w.cmd.Process.Pid
	if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
		t.Fatalf("moving workload into the cgroup: %v", err)
	}

	cfg := DefaultConfig()
	cfg.CgroupIDs = []uint64{cgid}
	cfg.RunqueueThreshold = time.Millisecond
	probesOnly(t, &cfg, "Runqueue")
	c, err := Load(cfg)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	defer c.Close()

	w.run(t)

	var n int
	tids := map[uint32]bool{}
	if _, err := c.Drain(func(ev Event) {
		r, ok := ev.(RunqueueDelay)
		if !ok {
			t.Errorf("unexpected event %+v", ev)
			return
		}
		if r.CgroupID != cgid {
			t.Errorf("event from cgroup %d, filter allows only %d: %+v", r.CgroupID, cgid, r)
			return
		}
		if r.PID != uint32(pid) {
			t.Errorf("event from pid %d, the cgroup holds only %d: %+v", r.PID, pid, r)
		}
		if r.Delay < cfg.RunqueueThreshold {
			t.Errorf("delay %v below the threshold %v", r.Delay, cfg.RunqueueThreshold)
		}
		n++
		tids[r.TID] = true
	}); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	// 4 threads x 300 ms on one CPU: each waits most of the time, in
	// slices of a few ms.
	if n < 8 || len(tids) < 3 {
		t.Errorf("%d run-queue delays from %d threads, want at least 8 from 3", n, len(tids))
	}
	cn, err := c.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if cn.RunqueueDrops != 0 || cn.FutexEvents != 0 {
		t.Errorf("counters %+v: want no drops and no futex events", cn)
	}
	t.Logf("%d delays from %d threads; counters %+v", n, len(tids), cn)
}
