package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"log"
	"log/slog"
	"strings"
	"syscall"
	"time"

	"github.com/mark3labs/mcp-go/server"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/tools"
)

const mcpUsage = `mcp [flags]

Serves debugai's read-only tools over MCP on stdin and stdout, for IDEs and
MCP clients that start a server process (e.g. {"command": "debugai",
"args": ["mcp", "--store", "/path/evidence.duckdb"]}). Tools: list_findings,
query_spans, get_trace, critical_path, kernel_overlays, lock_graph,
changepoints, compare_versions, slice_dimensions, get_evidence and
submit_hypothesis; resources: the stored reports (debugai://reports/<id>);
prompt: investigate.

It opens the store read-only; while a running "debugai serve" owns the
file, it reads through that serve's API instead. Logs go to stderr; stdout
carries only the protocol. A running serve also offers the same tools over
streamable HTTP (serve --mcp-listen).`

// mcpVersion is the version the MCP server reports.
const mcpVersion = "0.1.0"

func runMCP(ctx context.Context, args []string, env *cmdEnv) (err error) {
	fs := newFlagSet("mcp", mcpUsage, env)
	store := storeFlag(fs, env)
	logLevel := fs.String("log-level", "warn", "log level: debug, info, warn, error (to stderr)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("mcp takes no arguments, got %q", fs.Args())
	}
	logger, err := newLogger(env.stderr, *logLevel)
	if err != nil {
		return err
	}
	r, closeR, err := openReader(ctx, *store, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, closeR()) }()
	ts, err := tools.New(r, tools.DefaultConfig(), logger)
	if err != nil {
		return err
	}
	srv := server.NewStdioServer(tools.NewMCPServer(ts, mcpVersion))
	srv.SetErrorLogger(log.New(env.stderr, "debugai mcp: ", 0))
	stdin := env.stdin
	if stdin == nil {
		stdin = eofReader{}
	}
	if err := srv.Listen(ctx, stdin, env.stdout); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// mcpHTTPFlags configure serve's MCP streamable HTTP endpoint.
type mcpHTTPFlags struct {
	listen, token, hosts *string
}

func addMCPHTTPFlags(fs *flag.FlagSet, env *cmdEnv) mcpHTTPFlags {
	return mcpHTTPFlags{
		listen: fs.String("mcp-listen", tools.DefaultHTTPAddr, "MCP streamable HTTP listen address, served at "+tools.MCPPath+" (loopback by default; \"\" disables; any other address requires --mcp-token)"),
		token:  fs.String("mcp-token", env.getenv("DEBUGAI_MCP_TOKEN"), "bearer token MCP HTTP clients must send (required when --mcp-listen is not loopback); env DEBUGAI_MCP_TOKEN"),
		hosts:  fs.String("mcp-allowed-hosts", "", "comma-separated host names accepted in Host/Origin headers besides localhost (DNS-rebinding protection), e.g. the name clients use for a non-loopback --mcp-listen"),
	}
}

// config returns the HTTP config, or ok=false when the endpoint is off. A
// non-loopback address without a token is a usage error.
func (f mcpHTTPFlags) config(logger *slog.Logger) (tools.HTTPConfig, bool, error) {
	cfg := tools.HTTPConfig{Addr: *f.listen, Token: *f.token, Logger: logger}
	if cfg.Addr == "" {
		return cfg, false, nil
	}
	for _, h := range strings.Split(*f.hosts, ",") {
		if h = strings.TrimSpace(h); h != "" {
			cfg.AllowedHosts = append(cfg.AllowedHosts, h)
		}
	}
	if err := cfg.Validate(); err != nil {
		return cfg, false, usagef("%v (set --mcp-token or DEBUGAI_MCP_TOKEN)", err)
	}
	return cfg, true, nil
}

// startMCPHTTP serves the tools over r at cfg.Addr. When the address is
// the default (not set with --mcp-listen) and already in use (another
// serve on this machine), it warns and returns nil: OTLP ingest must not
// fail for an endpoint nobody asked for.
func startMCPHTTP(fs *flag.FlagSet, r evidence.Reader, cfg tools.HTTPConfig, logger *slog.Logger) (*tools.HTTPServer, error) {
	ts, err := tools.New(r, tools.DefaultConfig(), logger)
	if err != nil {
		return nil, err
	}
	hs, err := tools.StartHTTP(tools.NewMCPServer(ts, mcpVersion), cfg)
	if errors.Is(err, syscall.EADDRINUSE) && !flagSet(fs, "mcp-listen") {
		logger.Warn("MCP endpoint not started: its default address is in use; set --mcp-listen", "addr", cfg.Addr, "err", err)
		return nil, nil
	}
	return hs, err
}

// flagSet reports whether the flag was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func shutdownMCP(hs *tools.HTTPServer, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return hs.Shutdown(ctx)
}
