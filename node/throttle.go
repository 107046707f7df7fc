package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debugai/debugai/evidence"
)

// CPU throttling has no tracepoint: the kernel counts it in each cgroup's
// cpu.stat (cgroup v2 with the cpu controller: nr_periods, nr_throttled,
// throttled_usec; the v1 cpu controller: nr_periods, nr_throttled,
// throttled_time in ns). The node reads the cpu.stat files of each
// target process's cgroups at Config.ThrottlePoll and exports a
// kernel.cpu_throttle record per process and interval in which its cgroup
// was throttled: Value = periods throttled, DurationNS = time throttled,
// TimeNS = the end of the interval (the start is TimeNS − the attribute
// debugai.cpu.interval_ns). A throttled cgroup stops every thread in it,
// so the record belongs to the whole process, not to one thread.

// Attributes of kernel.cpu_throttle records.
const (
	AttrCPUPeriods    = "debugai.cpu.periods"     // int: enforcement periods elapsed in the interval
	AttrCPUIntervalNS = "debugai.cpu.interval_ns" // int: length of the interval the counts cover
	AttrCPUController = "debugai.cpu.controller"  // string: "v1" (cpu controller) or "v2"
)

// cpuStat is one reading of a cpu.stat file.
type cpuStat struct {
	periods, throttled int64
	throttledNS        int64
	at                 time.Time
}

// throttleKey is one process's view of one cpu.stat file.
type throttleKey struct {
	pid  uint32
	path string
}

// throttleWatch keeps the previous reading of each (process, cpu.stat).
type throttleWatch struct {
	root string // the cgroup file system's mount point: /sys/fs/cgroup
	prev map[throttleKey]cpuStat
}

func newThrottleWatch(root string) *throttleWatch {
	return &throttleWatch{root: root, prev: map[throttleKey]cpuStat{}}
}

// poll reads the cpu.stat files of pids' cgroups and returns a record per
// process whose cgroup was throttled since the last poll. Processes that
// are gone, and cgroups without throttling counters, are skipped.
func (w *throttleWatch) poll(pids []uint32, now time.Time) []evidence.KernelEvent {
	seen := map[throttleKey]bool{}
	var out []evidence.KernelEvent
	for _, pid := range pids {
		files, err := w.statFiles(pid)
		if err != nil {
			continue
		}
		for _, f := range files {
			k := throttleKey{pid, f.path}
			seen[k] = true
			st, err := readCPUStat(f.path, f.v1)
			if err != nil {
				continue
			}
			st.at = now
			prev, ok := w.prev[k]
			w.prev[k] = st
			if !ok || st.throttled <= prev.throttled {
				continue
			}
			kev := evidence.KernelEvent{
				Type: evidence.KernelCPUThrottle, TimeNS: now.UnixNano(), PID: int64(pid), CgroupID: f.cgroupID,
				DurationNS: max(st.throttledNS-prev.throttledNS, 0), Value: st.throttled - prev.throttled,
				Attrs: evidence.Attrs{
					{Key: AttrCPUPeriods, Value: evidence.IntValue(st.periods - prev.periods)},
					{Key: AttrCPUIntervalNS, Value: evidence.IntValue(now.Sub(prev.at).Nanoseconds())},
					{Key: AttrCPUController, Value: evidence.StringValue(map[bool]string{true: "v1", false: "v2"}[f.v1])},
				},
			}
			out = append(out, kev)
		}
	}
	for k := range w.prev {
		if !seen[k] {
			delete(w.prev, k)
		}
	}
	return out
}

// cpuStatFile is a cpu.stat that governs a process.
type cpuStatFile struct {
	path     string
	v1       bool
	cgroupID uint64 // the v2 cgroup's id (its directory's inode), 0 for v1
}

// statFiles lists the cpu.stat files of pid's cgroups: its v2 cgroup's
// (when it has throttling counters) and its v1 cpu controller's.
func (w *throttleWatch) statFiles(pid uint32) ([]cpuStatFile, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.FormatUint(uint64(pid), 10), "cgroup"))
	if err != nil {
		return nil, err
	}
	var out []cpuStatFile
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-id:controllers:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrls, rel := parts[1], parts[2]
		switch {
		case parts[0] == "0" && ctrls == "":
			for _, mount := range []string{filepath.Join(w.root, "unified"), w.root} {
				dir := filepath.Join(mount, rel)
				if fi, err := os.Stat(filepath.Join(dir, "cgroup.controllers")); err == nil && !fi.IsDir() {
					out = append(out, cpuStatFile{path: filepath.Join(dir, "cpu.stat"), cgroupID: inode(dir)})
					break
				}
			}
		case hasController(ctrls, "cpu"):
			for _, name := range []string{ctrls, "cpu"} {
				dir := filepath.Join(w.root, name, rel)
				if _, err := os.Stat(filepath.Join(dir, "cpu.stat")); err == nil {
					out = append(out, cpuStatFile{path: filepath.Join(dir, "cpu.stat"), v1: true})
					break
				}
			}
		}
	}
	return out, nil
}

func hasController(list, c string) bool {
	for _, x := range strings.Split(list, ",") {
		if x == c {
			return true
		}
	}
	return false
}

func inode(path string) uint64 {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// errNoThrottleCounters: the cgroup's cpu.stat counts no throttling (v2
// without the cpu controller enabled).
var errNoThrottleCounters = errors.New("cpu.stat has no throttling counters")

// readCPUStat parses a cpu.stat file.
func readCPUStat(path string, v1 bool) (cpuStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return cpuStat{}, errNoThrottleCounters
		}
		return cpuStat{}, err
	}
	return parseCPUStat(b, v1)
}

// parseCPUStat reads nr_periods, nr_throttled and throttled_usec (v2) or
// throttled_time (v1, ns) from a cpu.stat file's contents.
func parseCPUStat(b []byte, v1 bool) (cpuStat, error) {
	var st cpuStat
	var have int
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(val), 10, 64)
		if err != nil || n < 0 {
			return cpuStat{}, fmt.Errorf("cpu.stat %s: bad value %q", key, val)
		}
		switch {
		case key == "nr_periods":
			st.periods, have = n, have|1
		case key == "nr_throttled":
			st.throttled, have = n, have|2
		case key == "throttled_usec" && !v1:
			st.throttledNS, have = n*1000, have|4
		case key == "throttled_time" && v1:
			st.throttledNS, have = n, have|4
		}
	}
	if have != 7 {
		return cpuStat{}, errNoThrottleCounters
	}
	return st, nil
}
