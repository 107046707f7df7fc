package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/debugai/debugai/workload/bank"
	"github.com/debugai/debugai/workload/mutexsvc"
)

const workloadUsage = `workload mutex|bank|shop|media|ride|hog [flags]

Serves a demo workload over HTTP until SIGINT or SIGTERM, for benchmarks
and for trying the node collector. "mutex" (package workload/mutexsvc)
marks each request as a span with debugai/hint, does --work of CPU work,
then --critical more while holding one process-wide mutex. "bank"
(package workload/bank) serves one role of a two-service system traced
with OpenTelemetry, with switchable bugs (debugai record runs both);
"shop" (package workload/shop) one role of a six-service system; "media"
(package workload/media) one role of a seven-service system; "ride"
(package workload/ride) one process of a seven-service system with
replicas; "hog"
spins threads on CPU work (a noisy neighbour).
Prints "listening on http://ADDR" on stdout once it accepts requests (a
bank ledger with --grpc-listen: "listening on http://ADDR grpc ADDR");
GET /healthz answers without doing work.`

func runWorkload(ctx context.Context, args []string, env *cmdEnv) error {
	if len(args) > 0 {
		switch args[0] {
		case "bank":
			return runWorkloadBank(ctx, args[1:], env)
		case "shop":
			return runWorkloadShop(ctx, args[1:], env)
		case "media":
			return runWorkloadMedia(ctx, args[1:], env)
		case "ride":
			return runWorkloadRide(ctx, args[1:], env)
		case "hog":
			return runWorkloadHog(ctx, args[1:], env)
		}
	}
	if len(args) == 0 || args[0] != "mutex" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(env.stderr, "Usage: debugai "+workloadUsage)
			return flag.ErrHelp
		}
		return usagef("workload: want a workload name: mutex, bank, shop, media, ride or hog")
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
	err = serveWorkload(ctx, svc, *listen, nil, "", env)
	st := svc.Stats()
	fmt.Fprintf(env.stderr, "workload mutex: served %d requests (%d sync failures)\n", st.Requests, st.SyncFailures)
	return err
}

// serveWorkload serves h on listen (and, when gsrv is not nil, gsrv on
// grpcListen) until ctx ends, printing the ready line (see readyLine) once
// it accepts requests.
func serveWorkload(ctx context.Context, h http.Handler, listen string, gsrv *grpc.Server, grpcListen string, env *cmdEnv) (err error) {
	l, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("workload listener: %w", err)
	}
	var gl net.Listener
	if gsrv != nil {
		if gl, err = net.Listen("tcp", grpcListen); err != nil {
			return errors.Join(fmt.Errorf("workload gRPC listener: %w", err), l.Close())
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	served := make(chan error, 2)
	running := 1
	go func() { served <- srv.Serve(l) }()
	grpcAddr := ""
	if gl != nil {
		running++
		grpcAddr = gl.Addr().String()
		go func() {
			// ErrServerStopped: stopped before it began to serve
			if err := gsrv.Serve(gl); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				served <- fmt.Errorf("gRPC: %w", err)
				return
			}
			served <- nil
		}()
	}
	fmt.Fprintln(env.stdout, readyLine(l.Addr().String(), grpcAddr))
	select {
	case serr := <-served:
		running--
		if serr != nil {
			err = fmt.Errorf("serving: %w", serr)
		}
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = errors.Join(err, srv.Shutdown(sctx))
	if gsrv != nil {
		stopGRPC(sctx, gsrv)
	}
	for range running {
		if serr := <-served; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
			err = errors.Join(err, fmt.Errorf("serving: %w", serr))
		}
	}
	return err
}

// stopGRPC stops gsrv gracefully, or at once when ctx ends first.
func stopGRPC(ctx context.Context, gsrv *grpc.Server) {
	stopped := make(chan struct{})
	go func() { gsrv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-ctx.Done():
		gsrv.Stop()
		<-stopped
	}
}

// readyLine is the first line a workload prints on stdout: "listening on
// http://HTTPADDR", followed by " grpc GRPCADDR" when it also serves gRPC.
func readyLine(httpAddr, grpcAddr string) string {
	line := "listening on http://" + httpAddr
	if grpcAddr != "" {
		line += " grpc " + grpcAddr
	}
	return line
}

// parseReadyLine returns the HTTP base URL and the gRPC address ("" when
// the workload serves no gRPC) of a readyLine.
func parseReadyLine(line string) (httpURL, grpcAddr string, err error) {
	rest, ok := strings.CutPrefix(line, "listening on ")
	f := strings.Fields(rest)
	switch {
	case !ok || len(f) == 0 || !strings.HasPrefix(f[0], "http://"):
		return "", "", fmt.Errorf("unexpected first line %q: want \"listening on http://ADDR\"", line)
	case len(f) == 1:
		return f[0], "", nil
	case len(f) == 3 && f[1] == "grpc":
		return f[0], f[2], nil
	}
	return "", "", fmt.Errorf("unexpected first line %q: want \"listening on http://ADDR[ grpc ADDR]\"", line)
}

const workloadBankUsage = `workload bank [flags]

Serves one role of the bank system (package workload/bank): the frontend
(POST /transfer, GET /balance) calls the ledger (POST /entries, GET
/balance). With --grpc-listen the ledger also serves gRPC (service
debugai.bank.v1.Ledger, unary Authorize: both accounts exist, the amount
is positive; it takes no lock) and its ready line ends in " grpc ADDR";
a frontend given --ledger-grpc calls Authorize before each transfer's
POST /entries (403 when refused, 502 when the call fails). Spans (otelhttp
and otelgrpc, one trace per request across both services) go to --otlp
(OTLP/HTTP) with the hint span processor registered, so debugai-node
stamps kernel events with them. --bug turns on
a real defect: convoy (the ledger fdatasyncs its snapshot while holding
its mutex), regression (v2's GET /balance does extra CPU work), iostorm
(POST /entries journals each entry with fdatasync, outside the mutex),
faultstorm (GET /balance reads evicted pages of an mmapped archive: major
faults), cpuquota (the ledger joins the --cpu-cgroups, which the caller
gives a CPU quota), callconvoy (the frontend holds a mutex across its
Authorize call; --authorize-delay makes the ledger's Authorize slow),
lockinv (POST /entries takes the ledger lock then the
audit lock; GET /balance reconciles holding the audit lock while it waits
for the ledger lock with a timeout; --locks pthread makes both pthread
mutexes taken by C code) or none;
POST /admin/bug?bug=NAME switches it at run time and POST /admin/flush
exports the spans ended so far.`

func runWorkloadBank(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg := bank.DefaultConfig()
	fs := newFlagSet("workload bank", workloadBankUsage, env)
	role := fs.String("role", string(cfg.Role), "frontend or ledger")
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on (port 0: any free port)")
	fs.StringVar(&cfg.LedgerURL, "ledger", "", "the ledger's base URL (frontend)")
	grpcListen := fs.String("grpc-listen", "", "address the ledger also serves gRPC Authorize on (port 0: any free port; default: no gRPC)")
	fs.StringVar(&cfg.LedgerGRPC, "ledger-grpc", "", "the ledger's gRPC address host:port; the frontend calls Authorize before each transfer (default: no call)")
	otlp := fs.String("otlp", "", "OTLP/HTTP traces endpoint, e.g. http://127.0.0.1:4318 (default: no export)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "deployed version: v1 or v2")
	bug := fs.String("bug", string(cfg.Bug), "active bug: none, convoy, callconvoy, regression, iostorm, faultstorm, cpuquota or lockinv")
	fs.DurationVar(&cfg.AuthorizeDelay, "authorize-delay", cfg.AuthorizeDelay, "how long the ledger's Authorize waits for a slow dependency (0: none)")
	fs.StringVar(&cfg.Locks, "locks", cfg.Locks, "the lockinv bug's locks: go (sync.Mutex) or pthread (pthread mutexes in C)")
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
	if *grpcListen != "" {
		_, port, err := net.SplitHostPort(*grpcListen)
		if _, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil {
			return usagef("--grpc-listen %q: want host:port", *grpcListen)
		}
		if cfg.Role != bank.RoleLedger {
			return usagef("--grpc-listen: only the ledger serves gRPC")
		}
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
	var gsrv *grpc.Server
	if *grpcListen != "" {
		if gsrv, err = svc.GRPCServer(); err != nil {
			return err
		}
	}
	return serveWorkload(ctx, svc, *listen, gsrv, *grpcListen, env)
}
