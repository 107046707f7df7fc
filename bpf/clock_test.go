package bpf

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestClockConvertsMonotonicToWall(t *testing.T) {
	clk, err := SampleClock()
	if err != nil {
		t.Fatal(err)
	}
	// A bracket of two clock_gettime calls; generous for a loaded VM.
	if clk.Bound() <= 0 || clk.Bound() > 100*time.Microsecond {
		t.Errorf("bound %v, want (0, 100µs]", clk.Bound())
	}
	var mono unix.Timespec
	before := time.Now()
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &mono); err != nil {
		t.Fatal(err)
	}
	after := time.Now()
	got := clk.Time(uint64(mono.Nano()))
	slack := clk.Bound() + time.Microsecond
	if got.Before(before.Add(-slack)) || got.After(after.Add(slack)) {
		t.Errorf("converted %v, want within [%v, %v] ± %v", got, before, after, slack)
	}
}
