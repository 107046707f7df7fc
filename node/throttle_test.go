package node

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

func TestParseCPUStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		v1      bool
		want    cpuStat
		wantErr error
	}{
		{"v2", "usage_usec 100\nnr_periods 40\nnr_throttled 7\nthrottled_usec 2500\n", false, cpuStat{periods: 40, throttled: 7, throttledNS: 2_500_000}, nil},
		{"v1", "nr_periods 40\nnr_throttled 7\nthrottled_time 2500000\n", true, cpuStat{periods: 40, throttled: 7, throttledNS: 2_500_000}, nil},
		{"v2 without the cpu controller", "usage_usec 100\nuser_usec 50\nsystem_usec 50\n", false, cpuStat{}, errNoThrottleCounters},
		{"v1 time read as v2", "nr_periods 1\nnr_throttled 1\nthrottled_time 5\n", false, cpuStat{}, errNoThrottleCounters},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseCPUStat([]byte(tt.in), tt.v1)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("parseCPUStat = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
	if _, err := parseCPUStat([]byte("nr_periods -3\nnr_throttled 1\nthrottled_usec 1\n"), false); err == nil {
		t.Fatal("negative counter accepted")
	}
}

// TestThrottleWatch puts a spinning process into a cgroup limited to 5% of
// a CPU and expects kernel.cpu_throttle records for that process (and for
// no other) once the kernel has throttled it.
func TestThrottleWatch(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("DEBUGAI_REQUIRE_EBPF") == "1" {
			t.Fatal("DEBUGAI_REQUIRE_EBPF=1 but not root: cannot create a CPU-limited cgroup")
		}
		t.Skip("needs root to create a CPU-limited cgroup")
	}
	dir := cpuLimitedCgroup(t, "debugai-throttle-test-"+strconv.Itoa(os.Getpid()))
	spin := exec.Command("sh", "-c", "while :; do :; done")
	if err := spin.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { spin.Process.Kill(); spin.Wait() })
	pid := uint32(spin.Process.Pid)
	for _, d := range dir {
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), []byte(strconv.Itoa(int(pid))), 0); err != nil {
			t.Fatal(err)
		}
	}
	w := newThrottleWatch("/sys/fs/cgroup")
	self := uint32(os.Getpid())
	if got := w.poll([]uint32{pid, self}, time.Now()); len(got) != 0 {
		t.Fatalf("first poll (no previous reading) returned %d records", len(got))
	}
	var recs []evidence.KernelEvent
	deadline := time.Now().Add(10 * time.Second)
	for len(recs) == 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond) // the kernel throttles per 10 ms period: let periods pass
		recs = w.poll([]uint32{pid, self}, time.Now())
	}
	if len(recs) == 0 {
		t.Fatal("no throttling seen in 10 s for a spinning process at 5% of a CPU")
	}
	for _, r := range recs {
		if r.Type != evidence.KernelCPUThrottle || r.PID != int64(pid) || r.Value <= 0 || r.DurationNS <= 0 || r.Type.Line() != evidence.LineKernelSched {
			t.Errorf("record %+v: want a cpu_throttle of pid %d with periods and time", r, pid)
		}
		if _, ok := r.Attrs.Get(AttrCPUIntervalNS); !ok {
			t.Errorf("record %+v lacks %s", r, AttrCPUIntervalNS)
		}
	}
}

// cpuLimitedCgroup creates cgroups (v1 cpu, else v2 cpu.max) limiting
// members to 5% of a CPU per 10 ms and removes them at cleanup.
func cpuLimitedCgroup(t *testing.T, name string) []string {
	t.Helper()
	var dirs []string
	mk := func(root string) string {
		d := filepath.Join(root, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
		t.Cleanup(func() {
			for range 50 {
				if err := os.Remove(d); err == nil || errors.Is(err, os.ErrNotExist) {
					return
				}
				time.Sleep(100 * time.Millisecond) // the killed member leaves asynchronously
			}
		})
		return d
	}
	write := func(d, f, v string) {
		if err := os.WriteFile(filepath.Join(d, f), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"); err == nil {
		d := mk("/sys/fs/cgroup/cpu")
		write(d, "cpu.cfs_period_us", "10000")
		write(d, "cpu.cfs_quota_us", "1000")
		return dirs
	}
	write("/sys/fs/cgroup", "cgroup.subtree_control", "+cpu")
	d := mk("/sys/fs/cgroup")
	write(d, "cpu.max", fmt.Sprintf("%d %d", 1000, 10000))
	return dirs
}
