package bpf

import (
	"context"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// Measurements, not tests: run as root with
//
//	go test -run '^$' -bench . -benchtime 200000x ./bpf/
//
// (PINGPONG=pin puts both ping-pong threads on CPU 0; BPFSTATS=off measures
// the workload's overhead without run-time stats, which cost per run too.)
// BenchmarkFutexPingPong reports the in-kernel cost per program run (BPF
// run-time stats) and the ping-pong's CPU per round with the probes off,
// filtered out, below the threshold and emitting every wait.
// BenchmarkConsumer reports how fast Read and Drain decode records.

type progStats struct {
	runtime time.Duration
	runs    uint64
}

func statsOf(b *testing.B, p *ebpf.Program) progStats {
	s, err := p.Stats()
	if err != nil {
		b.Fatalf("program stats: %v", err)
	}
	return progStats{s.Runtime, s.RunCount}
}

func enableStats(b *testing.B) {
	if os.Getenv("BPFSTATS") == "off" { // overhead without the stats' own cost
		return
	}
	closer, err := ebpf.EnableStats(unix.BPF_STATS_RUN_TIME)
	if err != nil {
		b.Fatalf("enabling BPF run-time stats: %v", err)
	}
	b.Cleanup(func() { closer.Close() })
}

func BenchmarkFutexPingPong(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "pingpong")
	enableStats(b)
	placement := os.Getenv("PINGPONG") // "pin": both threads on CPU 0
	for _, mode := range []string{"no-probes", "filtered-out", "below-threshold", "emit-all", "emit-all-wake-each"} {
		b.Run(mode, func(b *testing.B) {
			w := startWorkload(b, bin, strconv.Itoa(b.N), placement)
			if got := w.line(b); got != "ready" {
				b.Fatalf("workload printed %q", got)
			}
			cfg := DefaultConfig()
			cfg.DisableRunqueue = true
			cfg.DisableTCP, cfg.DisableBlock, cfg.DisablePageFault = true, true, true
			cfg.RingBytes = 64 << 20
			switch mode {
			case "filtered-out":
				cfg.PIDs = []uint32{1<<22 + 1} // above pid_max: nobody
			case "below-threshold":
				cfg.PIDs = []uint32{uint32(w.cmd.Process.Pid)}
				cfg.FutexThreshold = time.Hour
			case "emit-all", "emit-all-wake-each":
				cfg.PIDs = []uint32{uint32(w.cmd.Process.Pid)}
				cfg.FutexThreshold = 0
				if mode == "emit-all-wake-each" {
					cfg.WakeupBytes = 0
				}
			}
			var c *Collector
			if mode != "no-probes" {
				var err error
				if c, err = Load(cfg); err != nil {
					b.Fatal(err)
				}
				defer c.Close()
			}
			// Consume concurrently, as the node collector does.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			consumed := make(chan int, 1)
			if c != nil {
				go func() {
					n := 0
					for {
						if _, err := c.Read(ctx); err != nil {
							consumed <- n
							return
						}
						n++
					}
				}()
			}
			progs := map[string]*ebpf.Program{}
			before := map[string]progStats{}
			if c != nil {
				progs = map[string]*ebpf.Program{"enter": c.objs.FutexEnterFutex, "exit": c.objs.FutexExit, "waking": c.objs.FutexWaking}
				for name, p := range progs {
					before[name] = statsOf(b, p)
				}
			}
			b.ResetTimer()
			w.run(b)
			b.StopTimer()
			ru, ok := w.cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if !ok {
				b.Fatal("no rusage for the workload")
			}
			cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/round")
			for name, p := range progs {
				after := statsOf(b, p)
				runs := after.runs - before[name].runs
				if runs > 0 {
					b.ReportMetric(float64(after.runtime-before[name].runtime)/float64(runs), name+"-ns/run")
					b.ReportMetric(float64(runs)/float64(b.N), name+"-runs/round")
				}
			}
			if c != nil {
				cn, err := c.Counters()
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(cn.FutexEvents)/float64(b.N), "records/round")
				b.ReportMetric(float64(cn.FutexDrops), "drops")
				cancel()
				<-consumed
			}
		})
	}
}

// BenchmarkConsumer fills the ring buffer with futex records (ping-pong,
// threshold 0), then times decoding them with Read (one at a time) or
// Drain. ns/op is per record.
func BenchmarkConsumer(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "pingpong")
	for _, how := range []string{"Read", "Drain"} {
		b.Run(how, func(b *testing.B) {
			w := startWorkload(b, bin, strconv.Itoa(b.N))
			if got := w.line(b); got != "ready" {
				b.Fatalf("workload printed %q", got)
			}
			cfg := DefaultConfig()
			cfg.DisableRunqueue = true
			cfg.DisableTCP, cfg.DisableBlock, cfg.DisablePageFault = true, true, true
			cfg.RingBytes = 256 << 20
			cfg.PIDs = []uint32{uint32(w.cmd.Process.Pid)}
			cfg.FutexThreshold = 0
			c, err := Load(cfg)
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			w.run(b)
			cn, err := c.Counters()
			if err != nil {
				b.Fatal(err)
			}
			want := int(cn.FutexEvents)
			var ru0, ru1 unix.Rusage
			_ = unix.Getrusage(unix.RUSAGE_SELF, &ru0)
			b.ResetTimer()
			start := time.Now()
			n := 0
			if how == "Read" {
				for ; n < want; n++ {
					if _, err := c.Read(context.Background()); err != nil {
						b.Fatal(err)
					}
				}
			} else if n, err = c.Drain(func(Event) {}); err != nil {
				b.Fatal(err)
			}
			elapsed := time.Since(start)
			b.StopTimer()
			_ = unix.Getrusage(unix.RUSAGE_SELF, &ru1)
			cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
			b.ReportMetric(float64(n)/elapsed.Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(max(n, 1)), "cpu-ns/record")
			b.ReportMetric(float64(n), "records")
			b.ReportMetric(float64(cn.FutexDrops), "drops")
		})
	}
}

// BenchmarkRunqueue runs the four-spinner workload (4 threads on CPU 0 for
// 300 ms) in a child cgroup with the run-queue probes filtering on it, and
// reports the per-run cost of the sched_switch and sched_wakeup programs
// over everything the machine scheduled meanwhile. Use -benchtime 1x.
func BenchmarkRunqueue(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "spinners")
	enableStats(b)
	for _, mode := range []string{"cgroup-filter", "all-cgroups"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				dir, cgid := testCgroup(b)
				w := startWorkload(b, bin)
				if got := w.line(b); got != "ready" {
					b.Fatalf("workload printed %q", got)
				}
				if err := os.WriteFile(dir+"/cgroup.procs", []byte(strconv.Itoa(w.cmd.Process.Pid)), 0); err != nil {
					b.Fatal(err)
				}
				cfg := DefaultConfig()
				cfg.DisableFutex = true
				cfg.DisableTCP, cfg.DisableBlock, cfg.DisablePageFault = true, true, true
				cfg.RunqueueThreshold = time.Millisecond
				if mode == "cgroup-filter" {
					cfg.CgroupIDs = []uint64{cgid}
				}
				c, err := Load(cfg)
				if err != nil {
					b.Fatal(err)
				}
				progs := map[string]*ebpf.Program{"switch": c.objs.RunqSwitch, "wakeup": c.objs.RunqWakeup}
				before := map[string]progStats{}
				for name, p := range progs {
					before[name] = statsOf(b, p)
				}
				w.run(b)
				for name, p := range progs {
					after := statsOf(b, p)
					runs := after.runs - before[name].runs
					if runs > 0 {
						b.ReportMetric(float64(after.runtime-before[name].runtime)/float64(runs), name+"-ns/run")
						b.ReportMetric(float64(runs), name+"-runs")
					}
				}
				n, err := c.Drain(func(Event) {})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(n), "records")
				if err := c.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
