package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/debugai/debugai/analyze"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/evidence/remote"
	"github.com/debugai/debugai/ingest"
)

const serveUsage = `serve [flags]

Receives OpenTelemetry data and stores it as privacy-filtered evidence:
OTLP/HTTP (POST /v1/traces and /v1/logs; protobuf or JSON; gzip) and
OTLP/gRPC (trace and logs services). The node collector's kernel events
arrive as OTLP logs. A request is acknowledged (2xx / OK) only once its data
is committed to the store; when the queue is full the answer is 429 /
RESOURCE_EXHAUSTED with Retry-After. SIGINT or SIGTERM shut down gracefully:
everything acknowledged is flushed.

OTLP on a non-loopback address requires authentication: a bearer token
(--otlp-token-file or DEBUGAI_OTLP_TOKEN; at least 16 characters; senders
send "Authorization: Bearer <token>", e.g. the Collector's bearertokenauth
extension or an exporter's headers) and/or client certificates
(--otlp-tls-cert, --otlp-tls-key, --otlp-client-ca). OTLP/HTTP refuses
Host and Origin headers that do not name localhost, an IP address or one
of --otlp-allowed-hosts (DNS-rebinding protection).

serve owns the store file; it publishes <store>.serve.json (0600) so that
stats, audit and import reach the data through it while it runs.

serve also offers debugai's read-only MCP tools over streamable HTTP at
http://<--mcp-listen>/mcp (default 127.0.0.1:4320; a listener of its own, so
OTLP can be exposed to collectors while MCP stays on loopback). Binding MCP
to a non-loopback address requires a bearer token (--mcp-token or
DEBUGAI_MCP_TOKEN); Host and Origin headers must name localhost or one of
--mcp-allowed-hosts (DNS-rebinding protection).

serve analyzes what it receives by itself: every --analyze-every (30s; 0
turns it off) it runs the detectors over the last --analyze-window (1m,
ending at the latest stored evidence) against the window of equal length
before it, and stores the findings, ranked as detect ranks them, so that
MCP's list_findings shows them at once. A pass is skipped when nothing new
arrived since the last one. When a pass shows a large, significant change
(the mean critical path 20 % longer, or 20 % of traces with a changed shape,
against the window before; 30 % of it explained at one significant
location), serve opens an incident: it investigates it (the deterministic
investigator), stores the report (an MCP resource) and POSTs an
"incident.opened" event, with the report, to --notify-url; the incident
stays open while the change lasts and closes, with an "incident.closed"
event, after 3 passes without it.

serve is also an Alertmanager webhook receiver: POST /debugai/v1/alerts on
the OTLP/HTTP listener (same address, TLS and token as OTLP) takes
Alertmanager's payload; each firing alert queues an investigation of the
--analyze-window ending when it started, against the window before, scoped
to its service when one of --alert-service-labels names a stored service.
The report is stored and POSTed to --notify-url as "alert.investigated".
Repeats of an alert (same fingerprint and start) are investigated once;
resolved alerts are ignored. Alerts are taken even with --analyze-every 0.` + serveRetentionUsage

func runServe(ctx context.Context, args []string, env *cmdEnv) (err error) {
	def := ingest.DefaultConfig()
	fs := newFlagSet("serve", serveUsage, env)
	store := storeFlag(fs, env)
	pf := addPrivacyFlags(fs, env)
	httpAddr := fs.String("listen", def.HTTPAddr, "OTLP/HTTP listen address (loopback by default; \"\" disables)")
	grpcAddr := fs.String("grpc-listen", def.GRPCAddr, "OTLP/gRPC listen address (\"\" disables)")
	maxBody := fs.Int64("max-request-bytes", def.HTTP.MaxRequestBytes, "largest accepted request body, compressed (413 above)")
	queueItems := fs.Int64("queue-items", def.Pipeline.MaxQueueItems, "spans, events and logs accepted but not yet committed before answering 429")
	queueBytes := fs.Int64("queue-bytes", def.Pipeline.MaxQueueBytes, "estimated bytes of the same before answering 429")
	budget := fs.Int64("memory-budget", def.MemoryBudgetBytes, "bytes OTLP requests may hold while being read, decompressed, decoded and converted (a third for bodies, the rest for decoding); beyond it requests wait briefly, then get 429 with Retry-After. With --queue-bytes it also sets the Go memory limit (GOMEMLIMIT, when set, wins)")
	shutdownTimeout := fs.Duration("shutdown-timeout", 30*time.Second, "how long a graceful shutdown may take")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn, error")
	dbThreads := fs.Int("db-threads", defaultDBThreads(), "DuckDB worker threads; the default leaves one core to decoding and privacy (measured: on 2 cores, 1 thread ingests ~10% more)")
	gcPercent := fs.Int("gc-percent", 300, "Go GC target percentage (GOGC); ingest allocates per span, and 300 cut serve's CPU per span ~10% here at ~15% more peak memory. The GOGC environment variable, when set, wins")
	cpuProfile := fs.String("cpuprofile", "", "write a Go CPU profile of the whole run to this file (for performance work)")
	loopDef := analyze.DefaultLoopConfig()
	analyzeEvery := fs.Duration("analyze-every", loopDef.Every, "time between two analysis passes over the recent window (0: no analysis)")
	analyzeWindow := fs.Duration("analyze-window", loopDef.Window, "the recent window each analysis pass compares with the window of equal length before it")
	incDef := analyze.DefaultIncidentConfig()
	notifyURL := fs.String("notify-url", "", "POST each incident event (opened, closed, alert investigated) as JSON to this URL (a webhook; see README)")
	alertDef := analyze.DefaultAlertConfig()
	alertLabels := fs.String("alert-service-labels", strings.Join(alertDef.ServiceLabels, ","), "comma-separated alert labels that may name the service of an Alertmanager alert, first match wins")
	mcpFlags := addMCPHTTPFlags(fs, env)
	authFlags := addOTLPAuthFlags(fs)
	retFlags := addRetentionFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	retCfg, err := retFlags.config()
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("serve takes no arguments, got %q", fs.Args())
	}
	if env.getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	if *dbThreads < 1 {
		return usagef("--db-threads %d: want at least 1", *dbThreads)
	}
	loopCfg := loopDef
	loopCfg.Every, loopCfg.Window = *analyzeEvery, *analyzeWindow
	if err := loopCfg.Validate(); err != nil {
		return usagef("--analyze-every/--analyze-window: %v", err)
	}
	incCfg := incDef
	incCfg.NotifyURL = *notifyURL
	if err := incCfg.Validate(); err != nil {
		return usagef("--notify-url: %v", err)
	}
	alertCfg := alertDef
	alertCfg.ServiceLabels = nil
	for l := range strings.SplitSeq(*alertLabels, ",") {
		if l = strings.TrimSpace(l); l != "" {
			alertCfg.ServiceLabels = append(alertCfg.ServiceLabels, l)
		}
	}
	if err := alertCfg.Validate(); err != nil {
		return usagef("--alert-service-labels: name at least one label")
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			return err
		}
		defer func() { err = errors.Join(err, stop()) }()
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	mcpCfg, mcpOn, err := mcpFlags.config(logger)
	if err != nil {
		return err
	}
	// The run's token guards the read API and, when OTLP requires a token,
	// is accepted there too: import reaches serve with it from the 0600
	// state file.
	token, err := remote.NewToken()
	if err != nil {
		return err
	}
	cfg := def
	if cfg.Auth, err = authFlags.config(env, token); err != nil {
		return err
	}
	cfg.HTTPAddr, cfg.GRPCAddr = *httpAddr, *grpcAddr
	cfg.HTTP.MaxRequestBytes = *maxBody
	cfg.HTTP.MaxDecompressedBytes = max(cfg.HTTP.MaxDecompressedBytes, *maxBody)
	cfg.Pipeline.MaxQueueItems, cfg.Pipeline.MaxQueueBytes = *queueItems, *queueBytes
	cfg.MemoryBudgetBytes = *budget
	cfg.Pipeline.MaxCommitItems = min(cfg.Pipeline.MaxCommitItems, *queueItems)
	if err := cfg.Validate(); err != nil {
		if errors.Is(err, ingest.ErrAuthRequired) {
			return usagef("%v (set --otlp-token-file or DEBUGAI_OTLP_TOKEN, or --otlp-client-ca)", err)
		}
		return usagef("%v", err)
	}
	if env.getenv("GOMEMLIMIT") == "" {
		// What requests and the queue may hold, plus room for the rest of
		// the Go heap: the GC works harder near it instead of letting the
		// heap grow to GOGC's target (DuckDB's memory is not Go's).
		debug.SetMemoryLimit(cfg.MemoryBudgetBytes + cfg.Pipeline.MaxQueueBytes + goHeapHeadroom)
	}
	redactor, _, err := pf.load(env)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*store), 0o755); err != nil {
		return fmt.Errorf("creating store directory: %w", err)
	}
	st, err := duckdb.Open(ctx, *store, duckdb.Options{Logger: logger, Threads: *dbThreads})
	if errors.Is(err, duckdb.ErrLocked) {
		return fmt.Errorf("store %s is in use by another process (another debugai serve?): %w", *store, err)
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, st.Close()) }()

	srv, err := ingest.NewServer(cfg, ingest.NewPrivacyConverter(redactor), st, logger)
	if err != nil {
		return err
	}
	if err := srv.Handle(remote.APIPrefix, remote.Handler(st, token, logger)); err != nil {
		return err
	}
	alerts := analyze.NewAlertQueue(alertCfg)
	if err := srv.Handle("POST "+alertsPath, srv.Authenticated(analyze.AlertHandler(alerts, alertCfg, logger))); err != nil {
		return err
	}
	if err := srv.Start(ctx); err != nil {
		return err
	}
	state := remote.State{PID: os.Getpid(), Store: *store, GRPCAddr: srv.GRPCAddr(), Token: token}
	if a := srv.HTTPAddr(); a != "" {
		state.HTTPURL = "http://" + a
		if cfg.Auth.TLS != nil {
			state.HTTPURL = "https://" + a
		}
	}
	mcpURL := ""
	if mcpOn {
		hs, herr := startMCPHTTP(fs, st, mcpCfg, logger)
		if herr != nil {
			return errors.Join(herr, srv.Shutdown(context.Background()))
		}
		if hs != nil {
			defer func() { err = errors.Join(err, shutdownMCP(hs, *shutdownTimeout)) }()
			mcpURL = hs.URL()
		}
	}
	statePath := remote.StatePath(*store)
	if err := remote.WriteState(statePath, state); err != nil {
		return errors.Join(err, srv.Shutdown(context.Background()))
	}
	defer os.Remove(statePath)
	logger.Info("serving", "store", *store, "otlp_http", state.HTTPURL, "otlp_grpc", state.GRPCAddr)
	fmt.Fprintf(env.stdout, "debugai serve: store %s; OTLP/HTTP %s; OTLP/gRPC %s\n", *store, orNone(state.HTTPURL), orNone(state.GRPCAddr))
	fmt.Fprintf(env.stdout, "debugai serve: MCP %s\n", orNone(mcpURL))

	stopRetention, err := startRetention(ctx, st, retCfg, logger)
	if err != nil {
		return errors.Join(err, srv.Shutdown(context.Background()))
	}
	defer stopRetention() // a pass in flight ends before the store closes
	analysisDone := make(chan struct{})
	tracker, err := analyze.NewTracker(st, incCfg, logger)
	if err != nil {
		return errors.Join(err, srv.Shutdown(context.Background()))
	}
	go func() {
		defer close(analysisDone)
		analyze.Loop(ctx, st, loopCfg, tracker, alerts, logger)
	}()

	<-ctx.Done()
	<-analysisDone // a pass in flight ends with ctx, before the store closes
	logger.Info("shutting down: flushing acknowledged data")
	sctx, cancel := context.WithTimeout(context.Background(), *shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	s := srv.Stats()
	logger.Info("stopped", "stats", fmt.Sprintf("%+v", s))
	return nil
}

// alertsPath is the Alertmanager webhook receiver's path on the OTLP/HTTP
// listener.
const alertsPath = "/debugai/v1/alerts"

// goHeapHeadroom is the Go heap serve needs besides ingest requests and
// the queue: the store's Go side, MCP, analysis.
const goHeapHeadroom = 256 << 20

func orNone(s string) string {
	if s == "" {
		return "off"
	}
	return s
}

func startCPUProfile(path string) (func() error, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("creating cpu profile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("starting cpu profile: %w", err)
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

// defaultDBThreads reserves one core for the Go side of ingest (decoding,
// privacy, appending): DuckDB's own default is one thread per core, and its
// idle workers then compete with the writers for the CPU.
func defaultDBThreads() int { return max(1, runtime.NumCPU()-1) }
