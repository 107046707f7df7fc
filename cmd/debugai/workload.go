package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/debugai/debugai/workload/bank"
	"github.com/debugai/debugai/workload/mutexsvc"
)

const workloadUsage = `workload mutex|bank [flags]

Serves a demo workload over HTTP until SIGINT or SIGTERM, for benchmarks
and for trying the node collector. "mutex" (package workload/mutexsvc)
marks each request as a span with debugai/hint, does --work of CPU work,
then --critical more while holding one process-wide mutex. "bank"
(package workload/bank) serves one role of a two-service system traced
with OpenTelemetry, with switchable bugs (debugai record runs both).
Prints "listening on http://ADDR" on stdout once it accepts requests;
GET /healthz answers without doing work.`

func runWorkload(ctx context.Context, args []string, env *cmdEnv) error {
	if len(args) > 0 && args[0] == "bank" {
		return runWorkloadBank(ctx, args[1:], env)
	}
	if len(args) == 0 || args[0] != "mutex" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "Usage: debugai "+workloadUsage)
			return flag.ErrHelp
		}
		return usagef("workload: want a workload name: mutex or bank")
	}
	cfg := mutexsvc.DefaultConfig()
	fs := newFlagSet("workload mutex", workloadUsage, env)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (port 0: any free port)")
	fs.DurationVar(&cfg.Work, "work", cfg.Work, "CPU work per request before taking the mutex")
	fs.DurationVar(&cfg.Critical, "critical", cfg.Critical, "CPU work per request while holding the mutex")
	fs.Float64Var(&cfg.ItersPerMicrosecond, "iters-per-us", 0, "work-loop iterations per microsecond (0: calibrate at start); benchmarks pass one calibration to every run")
	fs.BoolVar(&cfg.Hints, "hints", cfg.Hints, "mark each request as a span with hint.Enter/Exit")
	fs.StringVar(&cfg.SyncDir, "sync-dir", "", "write and fsync a small file in this directory per request (default: none)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("workload mutex takes no arguments, got %q", fs.Args())
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	svc, err := mutexsvc.New(cfg)
	if err != nil {
		return err
	}
	err = serveWorkload(ctx, svc, *listen, env)
	st := svc.Stats()
	fmt.Fprintf(env.stderr, "workload mutex: served %d requests (%d sync failures)\n", st.Requests, st.SyncFailures)
	return err
}

// serveWorkload serves h on listen until ctx ends, printing "listening on
// http://ADDR" once it accepts requests.
func serveWorkload(ctx context.Context, h http.Handler, listen string, env *cmdEnv) error {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("workload listener: %w", err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	fmt.Fprintf(env.stdout, "listening on http://%s\n", l.Addr())
	select {
	case err := <-served:
		return fmt.Errorf("serving: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

const workloadBankUsage = `workload bank [flags]

Serves one role of the bank system (package workload/bank): the frontend
(POST /transfer, GET /balance) calls the ledger (POST /entries, GET
/balance). Spans go to --otlp (OTLP/HTTP) with the hint span processor
registered, so debugai-node stamps kernel events with them. --bug turns on
a real defect: convoy (the ledger fdatasyncs its snapshot while holding
its mutex), regression (v2's GET /balance does extra CPU work), iostorm
(POST /entries journals each entry with fdatasync, outside the mutex),
faultstorm (GET /balance reads evicted pages of an mmapped archive: major
faults), cpuquota (the ledger joins the --cpu-cgroups, which the caller
gives a CPU quota) or none;
POST /admin/bug?bug=NAME switches it at run time and POST /admin/flush
exports the spans ended so far.`

func runWorkloadBank(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg := bank.DefaultConfig()
	fs := newFlagSet("workload bank", workloadBankUsage, env)
	role := fs.String("role", string(cfg.Role), "frontend or ledger")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (port 0: any free port)")
	fs.StringVar(&cfg.LedgerURL, "ledger", "", "the ledger's base URL (frontend)")
	otlp := fs.String("otlp", "", "OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318 (default: no export)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "deployed version: v1 or v2")
	bug := fs.String("bug", string(cfg.Bug), "active bug: none, convoy, regression, iostorm, faultstorm or cpuquota")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory of the ledger's snapshot file (default: the temporary directory)")
	fs.IntVar(&cfg.SnapshotBytes, "snapshot-bytes", cfg.SnapshotBytes, "bytes of the snapshot the ledger rewrites per entry")
	fs.IntVar(&cfg.SyncChunkBytes, "sync-chunk-bytes", cfg.SyncChunkBytes, "bytes of the snapshot written (and, under the convoy bug, fdatasynced) at a time")
	fs.IntVar(&cfg.RegressionRounds, "regression-rounds", cfg.RegressionRounds, "SHA-256 rounds over 4 KiB that v2 adds per balance read under the regression bug")
	fs.IntVar(&cfg.FaultFileBytes, "fault-file-bytes", cfg.FaultFileBytes, "size of the archive the ledger maps (faultstorm bug)")
	fs.IntVar(&cfg.FaultPages, "fault-pages", cfg.FaultPages, "archive pages read per balance under the faultstorm bug")
	cgroups := fs.String("cpu-cgroups", "", "comma-separated cgroup directories the ledger joins under the cpuquota bug")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *cgroups != "" {
		cfg.CPUCgroups = strings.Split(*cgroups, ",")
	}
	if fs.NArg() > 0 {
		return usagef("workload bank takes no arguments, got %q", fs.Args())
	}
	cfg.Role, cfg.Bug = bank.Role(*role), bank.Bug(*bug)
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	tp, err := bank.NewTracerProvider(ctx, &cfg, *otlp)
	if err != nil {
		return usageError{err.Error()}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(sctx))
	}()
	svc, err := bank.New(cfg, tp)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()
	return serveWorkload(ctx, svc, *listen, env)
}
