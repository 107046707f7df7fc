package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/debugai/debugai/bench/httpload"
	"github.com/debugai/debugai/bench/procstat"
	"github.com/debugai/debugai/workload/mutexsvc"
)

const benchNodeUsage = `bench node [flags]

Measures the node collector's overhead on a service. Each round serves the
mutex workload ("debugai workload mutex": a span hint, CPU work, a
process-wide mutex) from a copy of this executable, offers it a fixed-rate
open-loop HTTP load, and records achieved throughput, latency and the
service's CPU per request: once without and once with debugai-node
attached to the copy (--exe), in ABBA order over the rounds to cancel
drift. The node exports to a discard OTLP/HTTP sink run in-process; its
CPU time, peak RSS, events and exported records are recorded too. Prints
per-round figures, medians and with/without ratios (progress on stderr).

Needs root (the node loads eBPF programs) and a debugai-node binary:
  CGO_ENABLED=0 go build -o "$(dirname "$(command -v debugai)")/debugai-node" ./cmd/debugai-node
Choose a --rate the machine sustains without the collector: a saturated
service makes the throughput comparison meaningless.`

// benchNodeConfig is what the flags of bench node say.
type benchNodeConfig struct {
	rounds        int
	rate          float64
	duration      time.Duration
	warmup        time.Duration
	maxInFlight   int
	nodeBin       string
	nodeArgs      []string
	targetTimeout time.Duration
	work          time.Duration
	critical      time.Duration
	asJSON        bool
}

// nodeRun is one measured run of the service, with or without the node.
type nodeRun struct {
	Round        int     `json:"round"`
	Mode         string  `json:"mode"` // "without" or "with"
	Requests     int64   `json:"requests"`
	AchievedPerS float64 `json:"achieved_per_s"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	Maxms        float64 `json:"max_ms"`
	LagP99ms     float64 `json:"generator_lag_p99_ms"`
	Errors       int64   `json:"errors"`
	Shed         int64   `json:"shed"`
	SvcCPUs      float64 `json:"service_cpu_s"`
	SvcCPUPer1k  float64 `json:"service_cpu_ms_per_1000_requests"`
	NodeCPUs     float64 `json:"node_cpu_s,omitempty"`
	NodePeakMB   float64 `json:"node_peak_rss_mb,omitempty"`
	NodeRSSMB    float64 `json:"node_rss_mb,omitempty"`
	NodeEvents   float64 `json:"node_events,omitempty"`
	NodeExported float64 `json:"node_exported,omitempty"`
	NodeDrops    float64 `json:"node_drops,omitempty"`
	SinkBytes    int64   `json:"sink_bytes,omitempty"`
}

// nodeReport is the whole benchmark's output.
type nodeReport struct {
	Machine        string             `json:"machine"`
	CPUs           int                `json:"cpus"`
	Rate           float64            `json:"rate_per_s"`
	Duration       string             `json:"duration"`
	Work           string             `json:"work"`
	Critical       string             `json:"critical"`
	ItersPerMicros float64            `json:"iters_per_us"`
	Runs           []nodeRun          `json:"runs"`
	Medians        map[string]nodeRun `json:"medians"`
	Ratios         nodeRatios         `json:"ratios_with_to_without"`
	PairedRatios   nodeRatios         `json:"median_of_round_ratios"`
}

type nodeRatios struct {
	Throughput float64 `json:"throughput"`
	P99        float64 `json:"p99"`
	CPUPerReq  float64 `json:"service_cpu_per_request"`
}

func runBenchNode(ctx context.Context, args []string, env *cmdEnv) error {
	cfg, err := parseBenchNodeFlags(args, env)
	if err != nil {
		return err
	}
	if cfg.nodeBin, err = findNodeBinary(cfg.nodeBin); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("bench node needs root: the node collector loads eBPF programs (CAP_BPF, CAP_PERFMON); run it with sudo")
	}
	dir, err := os.MkdirTemp("", "debugai-bench-node-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	svcExe, err := copyExecutable(filepath.Join(dir, "debugai-workload"))
	if err != nil {
		return err
	}
	sink, err := startDiscardSink()
	if err != nil {
		return err
	}
	defer sink.close()
	stderr := &syncWriter{w: env.stderr}
	b := &nodeBench{cfg: cfg, dir: dir, svcExe: svcExe, sink: sink, stderr: stderr, secret: randomSecret()}
	fmt.Fprintln(stderr, "calibrating the work loop...")
	b.iters = mutexsvc.Calibrate()
	rep := nodeReport{Machine: cpuModel(), CPUs: runtime.NumCPU(), Rate: cfg.rate, Duration: cfg.duration.String(),
		Work: cfg.work.String(), Critical: cfg.critical.String(), ItersPerMicros: b.iters}
	for r := 1; r <= cfg.rounds; r++ {
		modes := []string{"without", "with"}
		if r%2 == 0 {
			modes = []string{"with", "without"}
		}
		for _, mode := range modes {
			fmt.Fprintf(stderr, "round %d/%d: %s the node collector...\n", r, cfg.rounds, mode)
			run, err := b.measure(ctx, mode == "with")
			if err != nil {
				return fmt.Errorf("round %d, %s the node collector: %w", r, mode, err)
			}
			run.Round, run.Mode = r, mode
			rep.Runs = append(rep.Runs, run)
		}
	}
	summarize(&rep)
	if cfg.asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printNodeBench(env.stdout, &rep)
	return nil
}

func parseBenchNodeFlags(args []string, env *cmdEnv) (benchNodeConfig, error) {
	c := benchNodeConfig{}
	fs := newFlagSet("bench node", benchNodeUsage, env)
	fs.IntVar(&c.rounds, "rounds", 5, "rounds, each one run without and one with the node (ABBA order)")
	fs.Float64Var(&c.rate, "rate", 2000, "offered load, requests per second (open loop)")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "measured load per run")
	fs.DurationVar(&c.warmup, "warmup", 2*time.Second, "unmeasured load before each run")
	fs.IntVar(&c.maxInFlight, "max-in-flight", 512, "requests in flight at most; more are shed and reported")
	fs.StringVar(&c.nodeBin, "node-bin", "", "debugai-node binary (default: debugai-node next to this executable, else in PATH)")
	nodeArgs := fs.String("node-args", "", "extra debugai-node flags, space-separated (e.g. \"--go-locks=false\")")
	fs.DurationVar(&c.targetTimeout, "target-timeout", 30*time.Second, "how long to wait for the node to report the service as a target")
	def := mutexsvc.DefaultConfig()
	fs.DurationVar(&c.work, "work", def.Work, "service CPU work per request before the mutex")
	fs.DurationVar(&c.critical, "critical", def.Critical, "service CPU work per request under the mutex")
	fs.BoolVar(&c.asJSON, "json", false, "print JSON")
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	c.nodeArgs = strings.Fields(*nodeArgs)
	svc := def
	svc.Work, svc.Critical = c.work, c.critical
	lc := httpload.Config{URL: "http://127.0.0.1/", Rate: c.rate, Duration: c.duration, MaxInFlight: c.maxInFlight, Timeout: time.Second}
	switch {
	case fs.NArg() > 0:
		return c, usagef("bench node takes no arguments, got %q", fs.Args())
	case c.rounds < 1:
		return c, usagef("bench node: --rounds %d: want at least 1", c.rounds)
	case c.warmup < 0 || c.targetTimeout <= 0:
		return c, usagef("bench node: --warmup must not be negative and --target-timeout must be positive")
	}
	if err := lc.Validate(); err != nil {
		return c, usagef("bench node: --rate, --duration, --max-in-flight: %v", err)
	}
	if err := svc.Validate(); err != nil {
		return c, usagef("bench node: --work, --critical: %v", err)
	}
	return c, nil
}

// findNodeBinary resolves --node-bin: the flag, else debugai-node next to
// this executable, else in PATH.
func findNodeBinary(flagValue string) (string, error) {
	const build = "CGO_ENABLED=0 go build -o %s ./cmd/debugai-node"
	if flagValue != "" {
		if _, err := os.Stat(flagValue); err != nil {
			return "", fmt.Errorf("node collector binary: %w (build it with "+build+")", err, flagValue)
		}
		return flagValue, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating this executable: %w", err)
	}
	next := filepath.Join(filepath.Dir(exe), "debugai-node")
	if _, err := os.Stat(next); err == nil {
		return next, nil
	}
	if p, err := exec.LookPath("debugai-node"); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("no debugai-node binary next to %s or in PATH: build it with "+build+", or pass --node-bin", exe, next)
}

// copyExecutable copies this executable to dst, so that the node's --exe
// target is the benchmark's service and nothing else.
func copyExecutable(dst string) (_ string, err error) {
	exe, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("locating this executable: %w", err)
	}
	return copyExecutableFrom(exe, dst)
}

// copyExecutableFrom copies the executable exe to dst (mode 0755).
func copyExecutableFrom(exe, dst string) (_ string, err error) {
	src, err := os.Open(exe)
	if err != nil {
		return "", fmt.Errorf("copying the executable: %w", err)
	}
	defer src.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
	if err != nil {
		return "", fmt.Errorf("copying the executable: %w", err)
	}
	defer func() { err = errors.Join(err, out.Close()) }()
	if _, err := io.Copy(out, src); err != nil {
		return "", fmt.Errorf("copying the executable: %w", err)
	}
	return dst, nil
}

func randomSecret() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on Linux
	return hex.EncodeToString(b)
}

// measure runs the service (and the node, when with), warms up, offers
// the measured load and reads the processes' figures.
func (b *nodeBench) measure(ctx context.Context, with bool) (run nodeRun, err error) {
	svc, url, err := b.startService(ctx)
	if err != nil {
		return run, err
	}
	defer func() { err = errors.Join(err, svc.stop("service")) }()
	var node *child
	var metricsURL string
	if with {
		if node, metricsURL, err = b.startNode(ctx); err != nil {
			return run, err
		}
		defer func() { err = errors.Join(err, node.stop("node collector")) }()
		if err := waitTargets(ctx, metricsURL, b.cfg.targetTimeout); err != nil {
			return run, err
		}
	}
	if b.cfg.warmup > 0 {
		if _, err := b.load(ctx, url, b.cfg.warmup); err != nil {
			return run, fmt.Errorf("warm-up: %w", err)
		}
	}
	before, err := b.sample(svc, node)
	if err == nil {
		err = b.counters(&before, metricsURL)
	}
	if err != nil {
		return run, err
	}
	res, err := b.load(ctx, url, b.cfg.duration)
	if err != nil {
		return run, err
	}
	after, err := b.sample(svc, node)
	if err != nil {
		return run, err
	}
	if with {
		// /metrics is refreshed every second: let it catch up with the load.
		sleepCtx(ctx, 1100*time.Millisecond)
	}
	if err := b.counters(&after, metricsURL); err != nil {
		return run, err
	}
	return makeRun(res, before, after), nil
}

func (b *nodeBench) load(ctx context.Context, url string, d time.Duration) (httpload.Result, error) {
	lc := httpload.DefaultConfig()
	lc.URL, lc.Rate, lc.Duration, lc.MaxInFlight = url+"/work", b.cfg.rate, d, b.cfg.maxInFlight
	res, err := httpload.Run(ctx, lc)
	if err != nil {
		return res, err
	}
	if res.OK == 0 {
		return res, fmt.Errorf("no request succeeded (%d errors, first: %v)", res.Errors, res.FirstError)
	}
	return res, nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// usage is a sample of the processes' counters.
type usage struct {
	svcCPU      time.Duration
	nodeCPU     time.Duration
	nodePeak    uint64
	nodeRSS     uint64
	nodeMetrics map[string]float64
	sinkBytes   int64
	nodeRunning bool
}

// sample reads the CPU time of the service and the node (when running)
// and the node's peak RSS.
func (b *nodeBench) sample(svc, node *child) (usage, error) {
	var u usage
	var err error
	if u.svcCPU, err = procstat.ReadCPU(svc.cmd.Process.Pid); err != nil {
		return u, err
	}
	if node == nil {
		return u, nil
	}
	u.nodeRunning = true
	pid := node.cmd.Process.Pid
	if u.nodeCPU, err = procstat.ReadCPU(pid); err != nil {
		return u, err
	}
	mem, err := procstat.Read(pid)
	if err != nil {
		return u, err
	}
	u.nodePeak, u.nodeRSS = mem.Peak, mem.RSS
	return u, nil
}

// counters adds the node's metrics and the sink's byte count to u.
func (b *nodeBench) counters(u *usage, metricsURL string) error {
	u.sinkBytes = b.sink.bytes.Load()
	if metricsURL == "" {
		return nil
	}
	var err error
	u.nodeMetrics, err = scrapeMetrics(metricsURL)
	return err
}

func makeRun(res httpload.Result, before, after usage) nodeRun {
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	r := nodeRun{
		Requests: res.OK, AchievedPerS: res.AchievedPerSecond, Errors: res.Errors, Shed: res.Shed,
		P50ms: ms(res.P50), P99ms: ms(res.P99), Maxms: ms(res.Max), LagP99ms: ms(res.LagP99),
		SvcCPUs: (after.svcCPU - before.svcCPU).Seconds(),
	}
	r.SvcCPUPer1k = r.SvcCPUs * 1000 / float64(res.OK) * 1000 // CPU ms per 1000 requests
	if !after.nodeRunning {
		return r
	}
	d := func(name string) float64 { return after.nodeMetrics[name] - before.nodeMetrics[name] }
	r.NodeCPUs = (after.nodeCPU - before.nodeCPU).Seconds()
	r.NodePeakMB, r.NodeRSSMB = float64(after.nodePeak)/(1<<20), float64(after.nodeRSS)/(1<<20)
	r.NodeEvents, r.NodeExported = d("debugai_node_events_total"), d("debugai_node_export_sent_total")
	r.NodeDrops = d("debugai_node_ring_drops_total") + d("debugai_node_export_dropped_total")
	r.SinkBytes = after.sinkBytes - before.sinkBytes
	return r
}

// summarize fills the medians of each mode and the with/without ratios:
// of the medians, and the median of each round's own ratio (the paired
// comparison that the ABBA order is for).
func summarize(rep *nodeReport) {
	rep.Medians = map[string]nodeRun{}
	for _, mode := range []string{"without", "with"} {
		col := func(f func(nodeRun) float64) float64 {
			var v []float64
			for _, r := range rep.Runs {
				if r.Mode == mode {
					v = append(v, f(r))
				}
			}
			return median(v)
		}
		rep.Medians[mode] = nodeRun{
			Mode:         mode,
			Requests:     int64(col(func(r nodeRun) float64 { return float64(r.Requests) })),
			AchievedPerS: col(func(r nodeRun) float64 { return r.AchievedPerS }),
			P50ms:        col(func(r nodeRun) float64 { return r.P50ms }),
			P99ms:        col(func(r nodeRun) float64 { return r.P99ms }),
			Maxms:        col(func(r nodeRun) float64 { return r.Maxms }),
			LagP99ms:     col(func(r nodeRun) float64 { return r.LagP99ms }),
			SvcCPUs:      col(func(r nodeRun) float64 { return r.SvcCPUs }),
			SvcCPUPer1k:  col(func(r nodeRun) float64 { return r.SvcCPUPer1k }),
			NodeCPUs:     col(func(r nodeRun) float64 { return r.NodeCPUs }),
			NodePeakMB:   col(func(r nodeRun) float64 { return r.NodePeakMB }),
			NodeRSSMB:    col(func(r nodeRun) float64 { return r.NodeRSSMB }),
			NodeEvents:   col(func(r nodeRun) float64 { return r.NodeEvents }),
			NodeExported: col(func(r nodeRun) float64 { return r.NodeExported }),
			NodeDrops:    col(func(r nodeRun) float64 { return r.NodeDrops }),
			SinkBytes:    int64(col(func(r nodeRun) float64 { return float64(r.SinkBytes) })),
		}
	}
	rep.Ratios = ratios(rep.Medians["with"], rep.Medians["without"])
	var tput, p99, cpu []float64
	for _, w := range rep.Runs {
		for _, wo := range rep.Runs {
			if w.Mode == "with" && wo.Mode == "without" && w.Round == wo.Round {
				r := ratios(w, wo)
				tput, p99, cpu = append(tput, r.Throughput), append(p99, r.P99), append(cpu, r.CPUPerReq)
			}
		}
	}
	rep.PairedRatios = nodeRatios{Throughput: median(tput), P99: median(p99), CPUPerReq: median(cpu)}
}

func ratios(with, without nodeRun) nodeRatios {
	div := func(a, b float64) float64 {
		if b == 0 {
			return 0
		}
		return a / b
	}
	return nodeRatios{
		Throughput: div(with.AchievedPerS, without.AchievedPerS),
		P99:        div(with.P99ms, without.P99ms),
		CPUPerReq:  div(with.SvcCPUPer1k, without.SvcCPUPer1k),
	}
}

func printNodeBench(w io.Writer, r *nodeReport) {
	fmt.Fprintf(w, "node collector overhead: %s, %d CPUs; workload mutex (%s work + %s under the mutex, %.1f iterations/µs); open loop %.0f req/s for %s per run; ABBA over %d rounds\n",
		r.Machine, r.CPUs, r.Work, r.Critical, r.ItersPerMicros, r.Rate, r.Duration, len(r.Runs)/2)
	fmt.Fprintf(w, "%-7s %-8s %9s %7s %7s %7s %8s %5s %5s %10s %9s %8s %8s %9s %8s\n", "round", "mode", "req/s", "p50 ms", "p99 ms",
		"max ms", "lag p99", "err", "shed", "svc ms/1k", "node CPU", "node MB", "events", "exported", "sink KB")
	row := func(label string, x nodeRun) {
		fmt.Fprintf(w, "%-7s %-8s %9.1f %7.2f %7.2f %7.1f %8.2f %5d %5d %10.1f", label, x.Mode, x.AchievedPerS, x.P50ms, x.P99ms,
			x.Maxms, x.LagP99ms, x.Errors, x.Shed, x.SvcCPUPer1k)
		if x.Mode == "with" {
			fmt.Fprintf(w, " %9.2f %8.1f %8.0f %9.0f %8.0f\n", x.NodeCPUs, x.NodePeakMB, x.NodeEvents, x.NodeExported, float64(x.SinkBytes)/1024)
		} else {
			fmt.Fprintf(w, " %9s %8s %8s %9s %8s\n", "-", "-", "-", "-", "-")
		}
	}
	for _, x := range r.Runs {
		row(strconv.Itoa(x.Round), x)
	}
	row("median", r.Medians["without"])
	row("median", r.Medians["with"])
	q, p := r.Ratios, r.PairedRatios
	loss := (1 - q.Throughput) * 100
	if math.Abs(loss) < 0.005 {
		loss = 0 // not "-0.00"
	}
	fmt.Fprintf(w, "with/without, ratio of medians:     throughput %.4f (loss %.2f %%; target <= 1 %%), p99 %.3f, service CPU per request %.3f\n",
		q.Throughput, loss, q.P99, q.CPUPerReq)
	fmt.Fprintf(w, "with/without, median of round ratios: throughput %.4f, p99 %.3f, service CPU per request %.3f\n", p.Throughput, p.P99, p.CPUPerReq)
	m := r.Medians["with"]
	var peak float64
	for _, x := range r.Runs {
		peak = max(peak, x.NodePeakMB)
	}
	secs, _ := time.ParseDuration(r.Duration)
	perK := 0.0
	if m.Requests > 0 {
		perK = m.NodeCPUs * 1e6 / float64(m.Requests) // CPU ms per 1000 requests
	}
	fmt.Fprintf(w, "node collector (medians per run): CPU %.2f s (%.1f %% of one core, %.1f ms per 1000 requests); peak RSS %.1f MB (max %.1f MB; target <= 100 MB), RSS after the load %.1f MB; %.0f events, %.0f exported, %.0f dropped\n",
		m.NodeCPUs, 100*m.NodeCPUs/secs.Seconds(), perK, m.NodePeakMB, peak, m.NodeRSSMB, m.NodeEvents, m.NodeExported, m.NodeDrops)
}
