package bpf

import (
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/cilium/ebpf"
)

// Per-run cost (BPF run-time stats) of the TCP, block and major-fault
// programs, emitting ("match": the workload's cgroup is the filter) and
// rejecting ("filtered-out": a cgroup nobody is in). Run as root with
//
//	go test -run '^$' -bench 'TCP|Block|MajorFault' -benchtime 1x ./bpf/

// reportProgs reports ns/run and runs of each program since before.
func reportProgs(b *testing.B, progs map[string]*ebpf.Program, before map[string]progStats) {
	for name, p := range progs {
		after := statsOf(b, p)
		runs := after.runs - before[name].runs
		if runs > 0 {
			b.ReportMetric(float64(after.runtime-before[name].runtime)/float64(runs), name+"-ns/run")
			b.ReportMetric(float64(runs), name+"-runs")
		}
	}
}

func snapshotProgs(b *testing.B, progs map[string]*ebpf.Program) map[string]progStats {
	m := map[string]progStats{}
	for name, p := range progs {
		m[name] = statsOf(b, p)
	}
	return m
}

// loadFiltered loads cfg filtering on cgid, or on an empty cgroup for
// "filtered-out".
func loadFiltered(b *testing.B, cfg Config, mode string, cgid uint64) *Collector {
	cfg.CgroupIDs = []uint64{cgid}
	if mode == "filtered-out" {
		_, other := testCgroupNamed(b, "empty")
		cfg.CgroupIDs = []uint64{other}
	}
	c, err := Load(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkMajorFault(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "majfault")
	enableStats(b)
	for _, mode := range []string{"match", "filtered-out"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				dir, cgid := testCgroup(b)
				w := startWorkload(b, bin, filepath.Join(b.TempDir(), "cold"), "16")
				w.line(b)
				moveToCgroup(b, dir, w.cmd.Process.Pid)
				cfg := DefaultConfig()
				cfg.DisableFutex, cfg.DisableRunqueue, cfg.DisableTCP, cfg.DisableBlock = true, true, true, true
				c := loadFiltered(b, cfg, mode, cgid)
				progs := map[string]*ebpf.Program{"fault": c.objs.PageFaultMaj}
				before := snapshotProgs(b, progs)
				w.run(b)
				reportProgs(b, progs, before)
				n, _ := c.Drain(func(Event) {})
				b.ReportMetric(float64(n), "records")
			}
		})
	}
}

func BenchmarkBlockIO(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "directio")
	enableStats(b)
	for _, mode := range []string{"match", "filtered-out"} {
		b.Run(mode, func(b *testing.B) {
			for range b.N {
				dir, cgid := testCgroup(b)
				w := startWorkload(b, bin, filepath.Join(b.TempDir(), "direct"), "256", "16")
				w.line(b)
				moveToCgroup(b, dir, w.cmd.Process.Pid)
				cfg := DefaultConfig()
				cfg.BlockThreshold = 0
				cfg.DisableFutex, cfg.DisableRunqueue, cfg.DisableTCP, cfg.DisablePageFault = true, true, true, true
				c := loadFiltered(b, cfg, mode, cgid)
				progs := map[string]*ebpf.Program{"issue": c.objs.BlockIssue, "complete": c.objs.BlockComplete}
				before := snapshotProgs(b, progs)
				w.run(b)
				reportProgs(b, progs, before)
				n, _ := c.Drain(func(Event) {})
				b.ReportMetric(float64(n), "records")
			}
		})
	}
}

func BenchmarkTCPRetransmit(b *testing.B) {
	requireEBPF(b)
	bin := buildC(b, "tcpxfer")
	enableStats(b)
	for i, mode := range []string{"match", "filtered-out"} {
		b.Run(mode, func(b *testing.B) {
			for j := range b.N {
				txNS, rxNS, rxLink := vethPair(b, fmt.Sprintf("b%d%d", i, j), "10.214.0.1/24", "10.214.0.2/24")
				dir, cgid := testCgroup(b)
				rx := startWorkload(b, "ip", "netns", "exec", rxNS, bin, "recv", "10.214.0.2", "7412")
				rx.line(b)
				tx := startWorkload(b, "ip", "netns", "exec", txNS, bin, "send", "10.214.0.2", "7412", "2500")
				tx.line(b)
				moveToCgroup(b, dir, tx.cmd.Process.Pid)
				cfg := DefaultConfig()
				cfg.DisableFutex, cfg.DisableRunqueue, cfg.DisableBlock, cfg.DisablePageFault = true, true, true, true
				c := loadFiltered(b, cfg, mode, cgid)
				progs := map[string]*ebpf.Program{"retransmit": c.objs.TcpRetransmit, "state": c.objs.TcpState}
				before := snapshotProgs(b, progs)
				if _, err := io.WriteString(tx.stdin, "go\n"); err != nil {
					b.Fatal(err)
				}
				tx.line(b)
				time.Sleep(300 * time.Millisecond)
				ipCmd(b, "-n", rxNS, "link", "set", rxLink, "down")
				time.Sleep(1200 * time.Millisecond)
				ipCmd(b, "-n", rxNS, "link", "set", rxLink, "up")
				for _, w := range []*workload{tx, rx} {
					w.line(b)
					w.line(b)
					if err := w.cmd.Wait(); err != nil {
						b.Fatal(err)
					}
				}
				reportProgs(b, progs, before)
				n, _ := c.Drain(func(Event) {})
				b.ReportMetric(float64(n), "records")
			}
		})
	}
}
