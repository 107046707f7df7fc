package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/debugai/debugai/bench/loadgen"
	"github.com/debugai/debugai/bench/procstat"
)

const benchUsage = `bench ingest [flags]

Measures end-to-end ingest: OTLP/HTTP protobuf into the store with privacy
on. Each run starts a fresh "debugai serve" child process on a temporary
store, replays pre-encoded request bodies at it (every span unique within a
run) with a load generator, and reads the server's throughput (acknowledged
spans per second), latency, CPU time and peak RSS. With a Collector binary
(built by bench/collector/build.sh), each run also sends the same bodies to
an OpenTelemetry Collector (otlp receiver -> file exporter) for a side-by-side
ratio. Prints per-run figures and medians; --json for machine output.`

type benchRun struct {
	Run        int     `json:"run"`
	Target     string  `json:"target"`
	Spans      int64   `json:"spans"`
	SpansPerS  float64 `json:"spans_per_s"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	PeakRSSMB  float64 `json:"peak_rss_mb"`
	CPUSeconds float64 `json:"cpu_s"`
	Throttled  int64   `json:"throttled"`
	Errors     int64   `json:"errors"`
}

type benchReport struct {
	Machine         string             `json:"machine"`
	CPUs            int                `json:"cpus"`
	SpansPerRun     int64              `json:"spans_per_run"`
	SpansPerRequest int                `json:"spans_per_request"`
	Concurrency     int                `json:"concurrency"`
	Runs            []benchRun         `json:"runs"`
	MedianSpansPerS map[string]float64 `json:"median_spans_per_s"`
	MedianPeakRSSMB map[string]float64 `json:"median_peak_rss_mb"`
	Ratio           float64            `json:"ratio_debugai_to_collector,omitempty"`
}

func runBench(ctx context.Context, args []string, env *cmdEnv) error {
	if len(args) > 0 && args[0] == "node" {
		return runBenchNode(ctx, args[1:], env)
	}
	if len(args) > 0 && args[0] == "hostile" {
		return runBenchHostile(ctx, args[1:], env)
	}
	if len(args) == 0 || args[0] != "ingest" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "Usage: debugai "+benchUsage+"\n\nAlso: debugai bench node (node collector overhead; see bench node --help), debugai bench hostile (peak memory under gzip bombs and overload).")
			return flag.ErrHelp
		}
		return usagef("bench: want a benchmark name: ingest, node or hostile")
	}
	fs := newFlagSet("bench ingest", benchUsage, env)
	runs := fs.Int("runs", 5, "number of runs (the median is reported)")
	requests := fs.Int("requests", 1000, "requests per run")
	spansPer := fs.Int("spans-per-request", 1000, "spans per request")
	conc := fs.Int("concurrency", 4, "concurrent load-generator connections")
	collector := fs.String("collector", defaultCollectorBinary(env), "OpenTelemetry Collector binary for the side-by-side run (\"\" skips it)")
	collectorCfg := fs.String("collector-config", "bench/collector/config.yaml", "Collector configuration (otlp receiver -> file exporter)")
	asJSON := fs.Bool("json", false, "print JSON")
	serveArgs := fs.String("serve-args", "", "extra flags for the serve child process, space-separated (e.g. \"--cpuprofile /tmp/serve.prof\")")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if *runs < 1 || *requests < 1 || *spansPer < 1 || *conc < 1 {
		return usagef("bench ingest: --runs, --requests, --spans-per-request and --concurrency must be positive")
	}
	if *collector != "" {
		if _, err := os.Stat(*collector); err != nil {
			return fmt.Errorf("collector binary %s: %w (build it with bench/collector/build.sh, or pass --collector \"\")", *collector, err)
		}
		if _, err := os.Stat(*collectorCfg); err != nil {
			return fmt.Errorf("collector config: %w", err)
		}
	}
	fmt.Fprintf(env.stderr, "generating %d requests of %d spans...\n", *requests, *spansPer)
	bodies, err := loadgen.Generate(loadgen.BodyConfig{Bodies: *requests, SpansPerBody: *spansPer, Seed: uint64(time.Now().UnixNano())})
	if err != nil {
		return err
	}
	rep := benchReport{Machine: cpuModel(), CPUs: runtime.NumCPU(), SpansPerRun: int64(*requests) * int64(*spansPer),
		SpansPerRequest: *spansPer, Concurrency: *conc}
	targets := []string{"debugai"}
	if *collector != "" {
		targets = append(targets, "collector")
	}
	for i := 1; i <= *runs; i++ {
		for _, target := range targets {
			fmt.Fprintf(env.stderr, "run %d/%d: %s...\n", i, *runs, target)
			var r benchRun
			if target == "debugai" {
				r, err = benchDebugai(ctx, bodies, *conc, strings.Fields(*serveArgs))
			} else {
				r, err = benchCollector(ctx, *collector, *collectorCfg, bodies, *conc)
			}
			if err != nil {
				return fmt.Errorf("run %d, %s: %w", i, target, err)
			}
			r.Run = i
			rep.Runs = append(rep.Runs, r)
		}
	}
	rep.MedianSpansPerS, rep.MedianPeakRSSMB = map[string]float64{}, map[string]float64{}
	for _, t := range targets {
		var tput, rss []float64
		for _, r := range rep.Runs {
			if r.Target == t {
				tput, rss = append(tput, r.SpansPerS), append(rss, r.PeakRSSMB)
			}
		}
		rep.MedianSpansPerS[t], rep.MedianPeakRSSMB[t] = median(tput), median(rss)
	}
	if c := rep.MedianSpansPerS["collector"]; c > 0 {
		rep.Ratio = rep.MedianSpansPerS["debugai"] / c
	}
	if *asJSON {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	printBench(env.stdout, &rep)
	return nil
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func printBench(w io.Writer, r *benchReport) {
	fmt.Fprintf(w, "ingest benchmark: %s, %d CPUs; %d spans per run (%d requests of %d spans, protobuf), concurrency %d\n",
		r.Machine, r.CPUs, r.SpansPerRun, r.SpansPerRun/int64(r.SpansPerRequest), r.SpansPerRequest, r.Concurrency)
	fmt.Fprintf(w, "%-4s %-10s %12s %9s %9s %12s %8s %9s\n", "run", "target", "spans/s", "p50 ms", "p99 ms", "peak RSS MB", "CPU s", "throttled")
	for _, x := range r.Runs {
		fmt.Fprintf(w, "%-4d %-10s %12.0f %9.1f %9.1f %12.1f %8.2f %9d\n", x.Run, x.Target, x.SpansPerS, x.P50ms, x.P99ms, x.PeakRSSMB, x.CPUSeconds, x.Throttled)
	}
	for _, t := range []string{"debugai", "collector"} {
		if v, ok := r.MedianSpansPerS[t]; ok {
			fmt.Fprintf(w, "median %-10s %12.0f spans/s, peak RSS %.1f MB\n", t, v, r.MedianPeakRSSMB[t])
		}
	}
	if r.Ratio > 0 {
		fmt.Fprintf(w, "ratio debugai/collector: %.2f\n", r.Ratio)
	}
}

// benchDebugai runs one measured ingest into a fresh serve child process.
func benchDebugai(ctx context.Context, bodies [][]byte, conc int, extra []string) (benchRun, error) {
	dir, err := os.MkdirTemp("", "debugai-bench-")
	if err != nil {
		return benchRun{}, err
	}
	defer os.RemoveAll(dir)
	exe, err := os.Executable()
	if err != nil {
		return benchRun{}, err
	}
	args := append([]string{"serve", "--store", filepath.Join(dir, "bench.duckdb"),
		"--listen", "127.0.0.1:0", "--grpc-listen", "", "--log-level", "warn"}, extra...)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "DEBUGAI_HMAC_KEY=bench-"+fmt.Sprint(time.Now().UnixNano())+"-0123456789")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return benchRun{}, err
	}
	if err := cmd.Start(); err != nil {
		return benchRun{}, fmt.Errorf("starting serve: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return benchRun{}, fmt.Errorf("serve did not start: %w", err)
	}
	m := serveBanner(line)
	if m == "" {
		return benchRun{}, fmt.Errorf("unexpected serve banner %q", line)
	}
	return measure(ctx, cmd, m+"/v1/traces", bodies, conc, "debugai")
}

// serveBanner extracts the OTLP/HTTP URL from serve's first stdout line.
func serveBanner(line string) string {
	_, rest, ok := strings.Cut(line, "OTLP/HTTP ")
	if !ok {
		return ""
	}
	url, _, _ := strings.Cut(rest, ";")
	return strings.TrimSpace(url)
}

func benchCollector(ctx context.Context, bin, cfg string, bodies [][]byte, conc int) (benchRun, error) {
	dir, err := os.MkdirTemp("", "debugai-bench-otelcol-")
	if err != nil {
		return benchRun{}, err
	}
	defer os.RemoveAll(dir)
	addr, err := freeLoopbackAddr()
	if err != nil {
		return benchRun{}, err
	}
	cmd := exec.CommandContext(ctx, bin, "--config", cfg)
	cmd.Env = append(os.Environ(), "DEBUGAI_BENCH_OTLP_HTTP="+addr, "DEBUGAI_BENCH_OUT="+filepath.Join(dir, "traces.pb"))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return benchRun{}, fmt.Errorf("starting collector: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if err := waitListening(ctx, addr, 30*time.Second); err != nil {
		return benchRun{}, fmt.Errorf("collector: %w", err)
	}
	return measure(ctx, cmd, "http://"+addr+"/v1/traces", bodies, conc, "collector")
}

// measure drives the load at url and reads the server process's figures;
// it then stops the process gracefully (SIGTERM) and waits for it.
func measure(ctx context.Context, cmd *exec.Cmd, url string, bodies [][]byte, conc int, target string) (benchRun, error) {
	pid := cmd.Process.Pid
	_ = procstat.ResetPeak(pid)
	cpu0, err := procstat.ReadCPU(pid)
	if err != nil {
		return benchRun{}, err
	}
	res, err := loadgen.Run(ctx, loadgen.RunConfig{URL: url, Bodies: bodies, Concurrency: conc, MaxRequests: int64(len(bodies))})
	if err != nil {
		return benchRun{}, err
	}
	cpu1, err := procstat.ReadCPU(pid)
	if err != nil {
		return benchRun{}, err
	}
	mem, err := procstat.Read(pid)
	if err != nil {
		return benchRun{}, err
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return benchRun{}, err
	}
	if err := cmd.Wait(); err != nil {
		return benchRun{}, fmt.Errorf("%s exited with %w", target, err)
	}
	if res.Errors > 0 {
		return benchRun{}, fmt.Errorf("%d requests failed: %v", res.Errors, res.FirstError)
	}
	return benchRun{
		Target: target, Spans: res.Spans, SpansPerS: res.SpansPerSecond,
		P50ms: float64(res.LatencyP50) / 1e6, P99ms: float64(res.LatencyP99) / 1e6,
		PeakRSSMB: float64(mem.Peak) / (1 << 20), CPUSeconds: (cpu1 - cpu0).Seconds(), Throttled: res.Throttled,
	}, nil
}

func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := l.Addr().String()
	return addr, l.Close()
}

// waitListening polls until addr accepts connections (a start-up wait for
// an external process that says nothing when it is ready).
func waitListening(ctx context.Context, addr string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			return c.Close()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not listening on %s after %s: %w", addr, limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func defaultCollectorBinary(env *cmdEnv) string {
	cache := env.getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		cache = filepath.Join(home, ".cache")
	}
	p := filepath.Join(cache, "debugai", "otelcol", "dist", "otelcol-debugai-bench")
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
