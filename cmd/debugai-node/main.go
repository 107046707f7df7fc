// Command debugai-node is debugai's eBPF node collector: it observes futex
// waits, run-queue delays, TCP retransmits, block I/O, fsync waits, major
// page faults and lock order on this machine, stamps them with the spans
// of services that use debugai/hint, and exports them as OTLP logs to
// debugai serve or any OpenTelemetry Collector. It needs root (CAP_BPF,
// CAP_PERFMON) and a kernel with BTF. It is built with CGO_ENABLED=0 and
// links no DuckDB and no LLM client.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/debugai/debugai/node"
	"github.com/debugai/debugai/privacy"
)

// defaultMemoryLimit is the Go runtime's soft memory limit unless
// GOMEMLIMIT says otherwise: it keeps the collector's heap small (parsing
// a large target's symbol tables is the peak).
const defaultMemoryLimit = 64 << 20

func main() {
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var ue usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "debugai-node:", err)
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "debugai-node:", err)
		os.Exit(1)
	}
}

// usageError is a bad flag or argument (exit status 2).
type usageError struct{ error }

const usage = `Usage: debugai-node [flags]

Observes kernel events (futex waits, run-queue delays, TCP retransmits,
block I/O, fsync waits, major page faults) and lock order of the target
processes and exports them as OTLP logs (docs/kernel-events.md).

Anomaly loop: when an event stamped with a trace crosses its --anomaly-*
threshold (or on drops and bursts), a kernel.anomaly span is sent into
that trace, a child of the stamped span, over OTLP traces
(--traces-endpoint), so that a Collector's tail sampling keeps the trace;
at most --anomaly-per-second a second (docs/anomaly-loop.md).

Targets: --pid, --cgroup and --exe may be repeated and combined. Processes
running an --exe binary are found now and whenever they (re)start; span
hooks (debugai/hint) and Go lock-order probes are put on those binaries.
Without --pid and --exe every process (of the --cgroup directories, when
given) is observed.

Signals: SIGINT or SIGTERM stop cleanly (detach, export what was read);
SIGUSR1 or POST /detach on the metrics listener is the kill switch that
detaches every probe at once, then exports and exits.

Flags:
`

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg := node.DefaultConfig()
	fs := flag.NewFlagSet("debugai-node", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		fs.PrintDefaults()
	}
	f := addFlags(fs, &cfg)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected argument %q (targets are flags: --pid, --cgroup, --exe)", fs.Arg(0))}
	}
	if err := f.apply(&cfg); err != nil {
		return usageError{err}
	}
	log, err := newLogger(stderr, *f.logLevel)
	if err != nil {
		return usageError{err}
	}
	cfg.Logger = log
	if cfg.KeyRing, err = loadKeyRing(*f.keyFile); err != nil {
		return err
	}
	n, err := node.Start(cfg)
	if err != nil {
		return err
	}
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	defer signal.Stop(usr1)
	go func() {
		select {
		case <-usr1:
			n.Detach()
		case <-ctx.Done():
		}
	}()
	fmt.Fprintf(stdout, "debugai-node: node %s exporting to %s", cfg.NodeID, cfg.Endpoint)
	if a := n.MetricsAddr(); a != "" {
		fmt.Fprintf(stdout, "; metrics http://%s/metrics", a)
	}
	fmt.Fprintln(stdout)
	return n.Run(ctx)
}

// flags holds what needs parsing after flag.Parse.
type flags struct {
	pids, cgroups, exes, headers, disable listFlag
	keyFile, logLevel                     *string
	ringBytes                             *int
}

func addFlags(fs *flag.FlagSet, cfg *node.Config) *flags {
	f := &flags{}
	p := &cfg.Probes
	fs.StringVar(&cfg.Endpoint, "endpoint", envOr("DEBUGAI_NODE_ENDPOINT", cfg.Endpoint), "OTLP/HTTP logs URL of debugai serve or an OpenTelemetry Collector; env DEBUGAI_NODE_ENDPOINT")
	fs.StringVar(&cfg.TracesEndpoint, "traces-endpoint", envOr("DEBUGAI_NODE_TRACES_ENDPOINT", cfg.TracesEndpoint), "OTLP/HTTP traces URL for kernel.anomaly spans (default: --endpoint with /v1/logs replaced by /v1/traces); env DEBUGAI_NODE_TRACES_ENDPOINT")
	a := &cfg.Anomaly
	fs.DurationVar(&a.FutexWait, "anomaly-futex", a.FutexWait, "send a kernel.anomaly span into the stamped trace for a futex or Go mutex wait at least this long (0: off)")
	fs.DurationVar(&a.RunqueueDelay, "anomaly-runqueue", a.RunqueueDelay, "... for a run-queue delay at least this long (0: off)")
	fs.DurationVar(&a.Block, "anomaly-block", a.Block, "... for block I/O or an fsync wait at least this long (0: off)")
	fs.Int64Var(&a.Retransmits, "anomaly-retransmits", a.Retransmits, "... for a retransmit record counting at least this many (0: off)")
	fs.Int64Var(&a.MajorFaults, "anomaly-major-faults", a.MajorFaults, "... for a major-fault record standing for at least this many (0: off)")
	fs.BoolVar(&a.Drops, "anomaly-drops", a.Drops, "... into each trace stamped in a second with record drops")
	fs.BoolVar(&a.Burst, "anomaly-burst", a.Burst, "... into each trace stamped in a second with more records than --burst-records")
	fs.IntVar(&a.PerSecond, "anomaly-per-second", a.PerSecond, "at most this many kernel.anomaly spans a second (0: no spans)")
	fs.Var(&f.headers, "header", "`key=value` header added to export requests (repeatable)")
	fs.StringVar(&cfg.NodeID, "node-id", cfg.NodeID, "this node's id in evidence IDs (no '/' or spaces)")
	fs.Var(&f.pids, "pid", "target process `id` (repeatable, or comma-separated)")
	fs.Var(&f.cgroups, "cgroup", "target cgroup v2 `directory` (repeatable)")
	fs.Var(&f.exes, "exe", "target executable `path`: its processes, now and after restarts (repeatable)")
	fs.BoolVar(&cfg.SpanHooks, "span-hooks", cfg.SpanHooks, "stamp events with spans of --exe binaries that use debugai/hint")
	fs.BoolVar(&cfg.GoLocks, "go-locks", cfg.GoLocks, "lock-order probes on Go --exe binaries (complete only for -gcflags=all=-l builds)")
	fs.BoolVar(&cfg.GoLockWaits, "go-lock-waits", cfg.GoLockWaits, "report contended sync.Mutex waits of Go --exe binaries (works in normal builds)")
	fs.BoolVar(&cfg.PthreadLocks, "pthread-locks", cfg.PthreadLocks, "lock-order probes on the C library of each target process (costs a uprobe trap per lock call)")
	fs.DurationVar(&p.FutexThreshold, "futex-threshold", p.FutexThreshold, "report futex waits at least this long")
	fs.DurationVar(&p.RunqueueThreshold, "runqueue-threshold", p.RunqueueThreshold, "report run-queue delays at least this long")
	fs.DurationVar(&p.BlockThreshold, "block-threshold", p.BlockThreshold, "report block I/O at least this slow")
	fs.DurationVar(&p.FsyncThreshold, "fsync-threshold", p.FsyncThreshold, "report fsync/fdatasync/sync_file_range calls at least this long")
	fs.DurationVar(&p.TCPRetransmitInterval, "tcp-interval", p.TCPRetransmitInterval, "at most one retransmit record per socket per interval (0: every retransmit)")
	fs.IntVar(&p.MajorFaultPeriod, "fault-period", p.MajorFaultPeriod, "one major-fault record per this many major faults per CPU")
	f.ringBytes = fs.Int("ring-bytes", p.RingBytes, "ring buffer size in bytes (a power of two)")
	fs.Var(&f.disable, "disable", "probes to leave off: futex, runqueue, tcp, block, fault, fsync (comma-separated)")
	fs.StringVar(&cfg.MetricsListen, "metrics-listen", cfg.MetricsListen, "address for /metrics and POST /detach (empty: none)")
	fs.DurationVar(&cfg.ThrottlePoll, "throttle-poll", cfg.ThrottlePoll, "read the targets' cgroup cpu.stat this often for CPU-quota throttling (kernel.cpu_throttle records; 0: off)")
	fs.DurationVar(&cfg.FlushInterval, "flush-interval", cfg.FlushInterval, "export at least this often")
	fs.IntVar(&cfg.BurstRecords, "burst-records", cfg.BurstRecords, "send a kernel.anomaly record when more records than this arrive in one second")
	f.keyFile = fs.String("key-file", "", "HMAC master secret file shared with debugai serve, so that tokens match (default: $XDG_CONFIG_HOME/debugai/hmac.key); env DEBUGAI_HMAC_KEY overrides with the secret itself")
	f.logLevel = fs.String("log-level", "info", "debug, info, warn or error")
	return f
}

func (f *flags) apply(cfg *node.Config) error {
	for _, s := range f.pids {
		pid, err := strconv.ParseUint(s, 10, 32)
		if err != nil || pid == 0 {
			return fmt.Errorf("--pid %q: not a process id", s)
		}
		cfg.PIDs = append(cfg.PIDs, uint32(pid))
	}
	cfg.Cgroups, cfg.Executables = f.cgroups, f.exes
	cfg.Probes.RingBytes = *f.ringBytes
	if len(f.headers) > 0 {
		cfg.Headers = map[string]string{}
	}
	for _, h := range f.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return fmt.Errorf("--header %q: want key=value", h)
		}
		cfg.Headers[k] = v
	}
	p := &cfg.Probes
	for _, d := range f.disable {
		switch d {
		case "futex":
			p.DisableFutex = true
		case "runqueue":
			p.DisableRunqueue = true
		case "tcp":
			p.DisableTCP = true
		case "block":
			p.DisableBlock = true
		case "fault":
			p.DisablePageFault = true
		case "fsync":
			p.DisableFsync = true
		default:
			return fmt.Errorf("--disable %q: want futex, runqueue, tcp, block, fault or fsync", d)
		}
	}
	return nil
}

// listFlag collects repeated, comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// loadKeyRing loads the privacy master secret the way debugai serve does.
func loadKeyRing(file string) (*privacy.KeyRing, error) {
	kc := privacy.DefaultConfig().Keys
	kc.File = file
	if kc.File == "" {
		base := os.Getenv("XDG_CONFIG_HOME")
		if base == "" {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("locating the key file: %w", err)
			}
			base = filepath.Join(home, ".config")
		}
		kc.File = filepath.Join(base, "debugai", "hmac.key")
	}
	if err := os.MkdirAll(filepath.Dir(kc.File), 0o700); err != nil {
		return nil, fmt.Errorf("creating key directory: %w", err)
	}
	return privacy.LoadKeyRing(kc, time.Now)
}

func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}
