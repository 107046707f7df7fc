package duckdb

import (
	"context"
	"fmt"
	"os"
	"sort"
	"testing"
	"time"
)

// TestWriteStepTimes prints how long each step of a Write takes for
// load-generator batches (DEBUGAI_DUCKDB_STEPS=1 to run).
func TestWriteStepTimes(t *testing.T) {
	if os.Getenv("DEBUGAI_DUCKDB_STEPS") == "" {
		t.Skip("set DEBUGAI_DUCKDB_STEPS=1")
	}
	parts, err := loadgenBatches()
	if err != nil {
		t.Fatal(err)
	}
	for _, per := range []int{1, 8} {
		s, _ := openTemp(t)
		bb := newBenchBatch(parts[:per])
		sum := map[string]time.Duration{}
		stepHook = func(n string, d time.Duration) { sum[n] += d }
		const n = 30
		c0, t0 := cpuTime(), time.Now()
		for k := range n {
			if err := s.Write(context.Background(), bb.next(uint64(k))); err != nil {
				t.Fatal(err)
			}
		}
		el, c := time.Since(t0), cpuTime()-c0
		stepHook = nil
		var names []string
		for name := range sum {
			names = append(names, name)
		}
		sort.Strings(names)
		fmt.Printf("%d spans per Write: wall %v, cpu %v per Write\n", len(bb.b.Spans), el/n, c/n)
		for _, name := range names {
			fmt.Printf("  %-28s %v\n", name, sum[name]/n)
		}
	}
}
