// Package procstat reads a Linux process's memory and CPU use from procfs,
// for benchmarks that report the resident set size and CPU time of the
// server under test.
package procstat

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Sentinel errors for files that do not hold what a reader wants.
var (
	// ErrNoMemory reports a status file without VmRSS and VmHWM lines, as
	// for a kernel thread or a zombie.
	ErrNoMemory = errors.New("no VmRSS/VmHWM in status")
	// ErrBadStat reports a /proc/<pid>/stat text that does not parse.
	ErrBadStat = errors.New("malformed stat")
)

// Memory is a process's resident memory, in bytes.
type Memory struct {
	RSS  uint64 // VmRSS: resident now
	Peak uint64 // VmHWM: the high-water mark of RSS since start or ResetPeak
}

// Read returns the memory of process pid from /proc/<pid>/status.
func Read(pid int) (Memory, error) {
	f, err := os.Open(statusPath(pid))
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory of pid %d: %w", pid, err)
	}
	defer f.Close()
	m, err := Parse(f)
	if err != nil {
		return Memory{}, fmt.Errorf("reading memory of pid %d: %w", pid, err)
	}
	return m, nil
}

func statusPath(pid int) string { return "/proc/" + strconv.Itoa(pid) + "/status" }

// Parse reads VmRSS and VmHWM from the text of a /proc/<pid>/status file.
func Parse(r io.Reader) (Memory, error) {
	var m Memory
	var haveRSS, havePeak bool
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		key, val, ok := strings.Cut(sc.Text(), ":")
		if !ok || (key != "VmRSS" && key != "VmHWM") {
			continue
		}
		n, err := parseKB(val)
		if err != nil {
			return Memory{}, fmt.Errorf("parsing %s: %w", key, err)
		}
		if key == "VmRSS" {
			m.RSS, haveRSS = n, true
		} else {
			m.Peak, havePeak = n, true
		}
	}
	if err := sc.Err(); err != nil {
		return Memory{}, fmt.Errorf("parsing status: %w", err)
	}
	if !haveRSS || !havePeak {
		return Memory{}, ErrNoMemory
	}
	return m, nil
}

// parseKB parses a value such as "   12345 kB" into bytes.
func parseKB(v string) (uint64, error) {
	f := strings.Fields(v)
	if len(f) != 2 || f[1] != "kB" {
		return 0, fmt.Errorf("value %q: want \"<n> kB\"", strings.TrimSpace(v))
	}
	n, err := strconv.ParseUint(f[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("value %q: %w", strings.TrimSpace(v), err)
	}
	if n > (1<<64-1)/1024 {
		return 0, fmt.Errorf("value %q: too large", strings.TrimSpace(v))
	}
	return n * 1024, nil
}

// userHZ is the unit of the CPU times in /proc/<pid>/stat: USER_HZ, which
// Linux fixes at 100 for every architecture's user-space ABI.
const userHZ = 100

// ReadCPU returns the CPU time, user plus system, that process pid has used
// so far (from /proc/<pid>/stat, at 10 ms resolution). On a shared machine,
// work per CPU-second is steadier than work per wall-clock second.
func ReadCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, fmt.Errorf("reading cpu time of pid %d: %w", pid, err)
	}
	d, err := ParseStat(string(b))
	if err != nil {
		return 0, fmt.Errorf("reading cpu time of pid %d: %w", pid, err)
	}
	return d, nil
}

// ParseStat returns utime+stime from the text of a /proc/<pid>/stat file.
func ParseStat(stat string) (time.Duration, error) {
	// The command name, field 2, is in parentheses and may hold spaces and
	// parentheses itself: the fields after it start after the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing stat: %w", ErrBadStat)
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing stat: %d fields after the name: %w", len(f), ErrBadStat)
	}
	var ticks uint64
	for _, s := range f[11:13] {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parsing stat: %w: %w", ErrBadStat, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * (time.Second / userHZ), nil
}

// ResetPeak resets the VmHWM of process pid to its current RSS (by writing
// "5" to /proc/<pid>/clear_refs), so that a later Read reports the peak of
// the measured phase alone, not of start-up. It needs the right to ptrace pid.
func ResetPeak(pid int) error {
	path := "/proc/" + strconv.Itoa(pid) + "/clear_refs"
	if err := os.WriteFile(path, []byte("5"), 0); err != nil {
		return fmt.Errorf("resetting peak memory of pid %d: %w", pid, err)
	}
	return nil
}

// PeakOfExited returns the peak RSS, in bytes, of a process that has exited
// and been waited for (its ru_maxrss, which Linux reports in KiB). It
// reports false where the platform has no such figure.
func PeakOfExited(ps *os.ProcessState) (uint64, bool) {
	if ps == nil {
		return 0, false
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil || ru.Maxrss < 0 {
		return 0, false
	}
	return uint64(ru.Maxrss) * 1024, true
}
