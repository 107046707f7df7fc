package bpf

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// Clock converts bpf_ktime_get_ns values (CLOCK_MONOTONIC) to wall time.
//
// SampleClock reads CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_MONOTONIC and
// keeps the tightest of several brackets: the offset REALTIME − MONOTONIC
// is taken against the bracket's midpoint, so it is off by at most half
// the bracket (Bound), typically well under 2 µs. The offset changes when
// the wall clock is stepped or slewed (NTP): resample periodically (every
// few seconds) rather than once.
type Clock struct {
	offset int64 // REALTIME - MONOTONIC, ns
	bound  time.Duration
}

// clockSamples is how many brackets SampleClock tries.
const clockSamples = 16

// SampleClock measures the REALTIME − MONOTONIC offset.
func SampleClock() (Clock, error) {
	best := Clock{bound: -1}
	for range clockSamples {
		var m1, r, m2 unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m1); err != nil {
			return Clock{}, fmt.Errorf("reading CLOCK_MONOTONIC: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_REALTIME, &r); err != nil {
			return Clock{}, fmt.Errorf("reading CLOCK_REALTIME: %w", err)
		}
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &m2); err != nil {
			return Clock{}, fmt.Errorf("reading CLOCK_MONOTONIC: %w", err)
		}
		a, b := m1.Nano(), m2.Nano()
		half := time.Duration(b-a+1) / 2
		if best.bound < 0 || half < best.bound {
			best = Clock{offset: r.Nano() - (a + (b-a)/2), bound: half}
		}
	}
	return best, nil
}

// UnixNano converts a CLOCK_MONOTONIC reading in ns to unix ns.
func (c Clock) UnixNano(ktime uint64) int64 { return int64(ktime) + c.offset }

// Time converts a CLOCK_MONOTONIC reading in ns to a wall-clock time.
func (c Clock) Time(ktime uint64) time.Time { return time.Unix(0, c.UnixNano(ktime)) }

// Bound is the largest error of the sampled offset: half the tightest
// MONOTONIC bracket around the REALTIME reading.
func (c Clock) Bound() time.Duration { return c.bound }
