package duckdb

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/debugai/debugai/bench/loadgen"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/ingest"
	"github.com/debugai/debugai/privacy"
)

// loadgenBatches converts bench/loadgen bodies (1000 spans each) through the
// privacy converter, the way serve does, once per test binary.
var loadgenBatches = sync.OnceValues(func() ([]*evidence.Batch, error) {
	bodies, err := loadgen.Generate(loadgen.BodyConfig{Bodies: 16, SpansPerBody: 1000, Seed: 7,
		Start: time.Unix(1_700_000_000, 0)})
	if err != nil {
		return nil, err
	}
	cfg := privacy.DefaultConfig()
	ring, err := privacy.NewKeyRing([]byte("duckdb-bench-secret-0123456789"), cfg.Keys, nil)
	if err != nil {
		return nil, err
	}
	r, err := privacy.NewRedactor(cfg, ring)
	if err != nil {
		return nil, err
	}
	conv := ingest.NewPrivacyConverter(r)
	out := make([]*evidence.Batch, len(bodies))
	for i, body := range bodies {
		td, err := loadgen.Decode(body)
		if err != nil {
			return nil, err
		}
		b, _, _ := conv.ConvertTraces(td)
		out[i] = b
	}
	return out, nil
})

// mergeForBench concatenates batches the way the ingest pipeline's group
// commit does (resources deduplicated, audit counts summed).
func mergeForBench(bs []*evidence.Batch) *evidence.Batch {
	m := &evidence.Batch{}
	seen := map[string]bool{}
	auditAt := map[[3]string]int{}
	for _, b := range bs {
		for _, r := range b.Resources {
			if !seen[r.ID] {
				seen[r.ID] = true
				m.Resources = append(m.Resources, r)
			}
		}
		m.Spans = append(m.Spans, b.Spans...)
		for _, a := range b.Audit {
			k := [3]string{a.Source, a.Key, a.Action}
			if i, ok := auditAt[k]; ok {
				m.Audit[i].Count += a.Count
				continue
			}
			auditAt[k] = len(m.Audit)
			m.Audit = append(m.Audit, a)
		}
	}
	return m
}

// benchBatch is one writer's batch, re-identified before each Write so that
// every Write stores new spans at a later time (as live ingest does).
type benchBatch struct {
	base []evidence.Span
	b    *evidence.Batch
}

func newBenchBatch(parts []*evidence.Batch) *benchBatch {
	m := mergeForBench(parts)
	base := m.Spans
	m.Spans = append([]evidence.Span(nil), base...)
	for i := range m.Spans {
		m.Spans[i].Events = append([]evidence.SpanEvent(nil), base[i].Events...)
	}
	return &benchBatch{base: base, b: m}
}

// next gives the batch the ids and times of write number k.
func (bb *benchBatch) next(k uint64) *evidence.Batch {
	mix := (k + 1) * 0x9E3779B97F4A7C15
	shift := int64(k) * int64(time.Second)
	for i := range bb.base {
		src, dst := &bb.base[i], &bb.b.Spans[i]
		dst.TraceID = src.TraceID
		binary.BigEndian.PutUint64(dst.TraceID[:8], binary.BigEndian.Uint64(src.TraceID[:8])^mix)
		binary.BigEndian.PutUint64(dst.SpanID[:], binary.BigEndian.Uint64(src.SpanID[:])^mix)
		if !src.ParentSpanID.IsZero() {
			binary.BigEndian.PutUint64(dst.ParentSpanID[:], binary.BigEndian.Uint64(src.ParentSpanID[:])^mix)
		}
		dst.StartNS, dst.EndNS = src.StartNS+shift, src.EndNS+shift
		for j := range dst.Events {
			dst.Events[j].TimeNS = src.Events[j].TimeNS + shift
		}
	}
	return bb.b
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkWriteLoadgenBatches writes privacy-converted load-generator
// spans (fresh ids and later times on every Write) into a growing store, with
// one or two goroutines calling Write. It reports wall-clock throughput and
// the process's CPU time per span (getrusage: Go and DuckDB threads).
// Use -benchtime=Nx: each of the N Writes stores spans new spans.
func BenchmarkWriteLoadgenBatches(b *testing.B) {
	parts, err := loadgenBatches()
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{1000, 4000, 8000} {
		for _, writers := range []int{1, 2} {
			b.Run(fmt.Sprintf("spans=%d/writers=%d", size, writers), func(b *testing.B) {
				s := openBench(b)
				ctx := context.Background()
				per := size / 1000
				batches := make([]*benchBatch, writers)
				spans := 0
				for w := range batches {
					batches[w] = newBenchBatch(parts[w*per : (w+1)*per])
					spans = len(batches[w].b.Spans)
				}
				var next atomic.Uint64
				b.ResetTimer()
				cpu0 := cpuTime()
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				for w := range writers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for {
							k := next.Add(1) - 1
							if k >= uint64(b.N) {
								return
							}
							if err := s.Write(ctx, batches[w].next(k)); err != nil {
								errs <- err
								return
							}
						}
					}()
				}
				wg.Wait()
				cpu := cpuTime() - cpu0
				b.StopTimer()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
				total := float64(spans) * float64(b.N)
				b.ReportMetric(total/b.Elapsed().Seconds(), "spans/s")
				b.ReportMetric(float64(cpu.Microseconds())/total, "cpu-us/span")
				b.ReportMetric(float64(b.Elapsed().Microseconds())/total, "wall-us/span")
			})
		}
	}
}

// openBench opens a store in a temporary directory, with DuckDB threads
// from DEBUGAI_DUCKDB_THREADS.
func openBench(b *testing.B) *Store {
	th, _ := strconv.Atoi(os.Getenv("DEBUGAI_DUCKDB_THREADS"))
	s, err := Open(context.Background(), filepath.Join(b.TempDir(), "bench.duckdb"), Options{Threads: th})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := s.Close(); err != nil {
			b.Error(err)
		}
	})
	return s
}
