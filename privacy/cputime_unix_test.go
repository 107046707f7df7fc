//go:build unix

package privacy

import (
	"syscall"
	"testing"
	"time"
)

// cpuNow returns the process's user+system CPU time. Benchmarks report it per
// op as cpu-ns/op, which stays meaningful on a shared, busy machine where
// wall-clock ns/op is inflated by other processes.
func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration, perOp int) {
	if d := cpuNow() - start; d > 0 {
		b.ReportMetric(float64(d.Nanoseconds())/float64(b.N*perOp), "cpu-ns/op")
	}
}
