package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/debugai/debugai/workload/mutexsvc"
)

const workloadUsage = `workload mutex [flags]

Serves a demo workload over HTTP until SIGINT or SIGTERM, for benchmarks
and for trying the node collector. "mutex" (package workload/mutexsvc)
marks each request as a span with debugai/hint, does --work of CPU work,
then --critical more while holding one process-wide mutex. Prints
"listening on http://ADDR" on stdout once it accepts requests; GET
/healthz answers without doing work.`

func runWorkload(ctx context.Context, args []string, env *cmdEnv) error {
	if len(args) == 0 || args[0] != "mutex" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "Usage: debugai "+workloadUsage)
			return flag.ErrHelp
		}
		return usagef("workload: want a workload name: mutex")
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
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("workload listener: %w", err)
	}
	srv := &http.Server{Handler: svc, ReadHeaderTimeout: 5 * time.Second}
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
	st := svc.Stats()
	fmt.Fprintf(env.stderr, "workload mutex: served %d requests (%d sync failures)\n", st.Requests, st.SyncFailures)
	return err
}
