package ingest

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/debugai/debugai/evidence"
)

// Config configures a Server. Start from DefaultConfig.
type Config struct {
	// HTTPAddr is the OTLP/HTTP listen address; "" disables OTLP/HTTP.
	HTTPAddr string
	// GRPCAddr is the OTLP/gRPC listen address; "" disables OTLP/gRPC.
	GRPCAddr string

	HTTP     HTTPConfig
	GRPC     GRPCConfig
	Pipeline PipelineConfig
	// Auth says who may send; a non-loopback address requires a token or
	// client certificates. OTLP/HTTP's Host/Origin checks apply always.
	Auth AuthConfig

	// MemoryBudgetBytes bounds the memory of OTLP requests being read,
	// decompressed, decoded and converted, over both receivers: body
	// buffers as they grow, and an estimate of the decoded request and its
	// batch per body byte. Converted batches then count against
	// Pipeline.MaxQueueBytes. A request that finds the budget exhausted
	// waits up to BudgetWait, then gets 429 (RESOURCE_EXHAUSTED) with
	// Retry-After; one that could never fit gets 413.
	MemoryBudgetBytes int64
	BudgetWait        time.Duration

	// ReadHeaderTimeout, ReadTimeout and IdleTimeout configure the
	// http.Server (slow or idle clients).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	IdleTimeout       time.Duration
}

// DefaultConfig listens on loopback at the OTLP ports (4318 HTTP, 4317
// gRPC) with the default receiver and pipeline settings.
func DefaultConfig() Config {
	return Config{
		HTTPAddr:          "127.0.0.1:4318",
		GRPCAddr:          "127.0.0.1:4317",
		HTTP:              DefaultHTTPConfig(),
		GRPC:              DefaultGRPCConfig(),
		Pipeline:          DefaultPipelineConfig(),
		MemoryBudgetBytes: 384 << 20,
		BudgetWait:        2 * time.Second,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
	}
}

// Validate reports the first invalid field.
func (c Config) Validate() error {
	if c.HTTPAddr == "" && c.GRPCAddr == "" {
		return errors.New("ingest: both HTTP and gRPC addresses are empty: enable at least one")
	}
	for _, a := range []struct{ name, addr string }{{"http", c.HTTPAddr}, {"grpc", c.GRPCAddr}} {
		if a.addr == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a.addr); err != nil {
			return fmt.Errorf("ingest: %s address %q: %w", a.name, a.addr, err)
		}
	}
	if c.MemoryBudgetBytes < 6*c.HTTP.MaxRequestBytes || c.MemoryBudgetBytes < 6*int64(c.GRPC.MaxRecvMsgBytes) {
		return fmt.Errorf("ingest: memory budget %d: must be at least six times the largest request (%d HTTP, %d gRPC bytes)",
			c.MemoryBudgetBytes, c.HTTP.MaxRequestBytes, c.GRPC.MaxRecvMsgBytes)
	}
	if c.BudgetWait < 0 {
		return fmt.Errorf("ingest: budget wait %s: must not be negative", c.BudgetWait)
	}
	if c.ReadHeaderTimeout < 0 || c.ReadTimeout < 0 || c.IdleTimeout < 0 {
		return errors.New("ingest: http timeouts must not be negative")
	}
	for _, err := range []error{c.HTTP.Validate(), c.GRPC.Validate(), c.Pipeline.Validate(), c.Auth.validate(c.HTTPAddr, c.GRPCAddr)} {
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
	}
	return nil
}

// ServerStats gathers the counters of a Server's parts.
type ServerStats struct {
	Pipeline PipelineStats
	HTTP     ReceiverStats
	GRPC     ReceiverStats
	Budget   BudgetStats
}

// Server runs the OTLP/HTTP and OTLP/gRPC receivers and their pipeline.
type Server struct {
	cfg    Config
	log    *slog.Logger
	pipe   *Pipeline
	mux    *http.ServeMux
	httpH  *HTTPHandler
	grpcS  *grpc.Server
	grpcR  *GRPCReceiver
	budget *budgets

	mu       sync.Mutex
	started  bool
	stopping bool
	httpSrv  *http.Server
	httpLn   net.Listener
	grpcLn   net.Listener
	serveErr []error

	serving      sync.WaitGroup
	shutdownDone chan struct{}
	shutdownErr  error
}

// NewServer builds a server that converts with conv and writes to w. A nil
// logger discards.
func NewServer(cfg Config, conv Converter, w evidence.Writer, logger *slog.Logger) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := discardLogger(logger)
	pipe, err := NewPipeline(cfg.Pipeline, w, log.With("component", "pipeline"))
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s := &Server{cfg: cfg, log: log, pipe: pipe, mux: http.NewServeMux(), shutdownDone: make(chan struct{})}
	if s.httpH, err = NewHTTPHandler(cfg.HTTP, conv, pipe, log); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s.budget = newBudgets(cfg.MemoryBudgetBytes, cfg.BudgetWait)
	s.httpH.r.budget = s.budget
	auth := newAuthenticator(cfg.Auth)
	s.httpH.auth = auth
	s.httpH.Register(s.mux)
	opts := append(cfg.GRPC.ServerOptions(), grpc.InTapHandle(auth.grpcTap(func() {
		if s.grpcR != nil {
			s.grpcR.r.c.requests.Add(1)
			s.grpcR.r.c.unauthorized.Add(1)
		}
	})))
	if cfg.Auth.TLS != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(cfg.Auth.TLS)))
	}
	s.grpcS = grpc.NewServer(opts...)
	if s.grpcR, err = RegisterGRPC(s.grpcS, cfg.GRPC, conv, pipe, log); err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	s.grpcR.r.budget = s.budget
	return s, nil
}

// Handle adds an HTTP route (http.ServeMux pattern syntax) next to the OTLP
// paths. It must be called before Start.
func (s *Server) Handle(pattern string, h http.Handler) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started || s.stopping {
		return fmt.Errorf("adding route %q: server already started", pattern)
	}
	if h == nil {
		return fmt.Errorf("adding route %q: nil handler", pattern)
	}
	defer func() { // ServeMux panics on invalid or conflicting patterns
		if v := recover(); v != nil {
			err = fmt.Errorf("adding route %q: %v", pattern, v)
		}
	}()
	s.mux.Handle(pattern, h)
	return nil
}

// Authenticated wraps h in the OTLP listener's checks: the Host and
// Origin rules and, when tokens are configured, the bearer token (401 or
// 403 as OTLP answers them). Use it for routes added with Handle that
// senders of OTLP (a Collector, Alertmanager) reach with the same
// credentials.
func (s *Server) Authenticated(h http.Handler) http.Handler {
	au := s.httpH.auth
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, _, msg := au.checkHTTP(r); code != 0 {
			if code == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="debugai-otlp"`)
			}
			http.Error(w, msg, code)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// Pipeline returns the server's write pipeline.
func (s *Server) Pipeline() *Pipeline { return s.pipe }

// Stats returns the counters of the pipeline and both receivers.
func (s *Server) Stats() ServerStats {
	return ServerStats{Pipeline: s.pipe.Stats(), HTTP: s.httpH.Stats(), GRPC: s.grpcR.Stats(), Budget: s.budget.stats()}
}

// HTTPAddr returns the bound OTLP/HTTP address, "" before Start or when
// disabled.
func (s *Server) HTTPAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.httpLn == nil {
		return ""
	}
	return s.httpLn.Addr().String()
}

// GRPCAddr returns the bound OTLP/gRPC address, "" before Start or when
// disabled.
func (s *Server) GRPCAddr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.grpcLn == nil {
		return ""
	}
	return s.grpcLn.Addr().String()
}

// Start binds the listeners, starts the pipeline and serves. It returns once
// both listeners are bound.
func (s *Server) Start(ctx context.Context) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return errors.New("starting ingest server: already shut down")
	case s.started:
		return errors.New("starting ingest server: already started")
	}
	var lc net.ListenConfig
	var httpLn, grpcLn net.Listener
	defer func() {
		if err != nil {
			for _, ln := range []net.Listener{httpLn, grpcLn} {
				if ln != nil {
					_ = ln.Close()
				}
			}
		}
	}()
	if s.cfg.HTTPAddr != "" {
		if httpLn, err = lc.Listen(ctx, "tcp", s.cfg.HTTPAddr); err != nil {
			return fmt.Errorf("starting ingest server: listening for OTLP/HTTP: %w", err)
		}
		if t := s.cfg.Auth.TLS; t != nil {
			t = t.Clone()
			t.NextProtos = []string{"http/1.1"}
			httpLn = tls.NewListener(httpLn, t)
		}
	}
	if s.cfg.GRPCAddr != "" {
		if grpcLn, err = lc.Listen(ctx, "tcp", s.cfg.GRPCAddr); err != nil {
			return fmt.Errorf("starting ingest server: listening for OTLP/gRPC: %w", err)
		}
	}
	if err = s.pipe.Start(ctx); err != nil {
		return fmt.Errorf("starting ingest server: %w", err)
	}
	s.started = true
	if httpLn != nil {
		s.httpLn = httpLn
		s.httpSrv = &http.Server{
			Handler:           s.mux,
			ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			ReadTimeout:       s.cfg.ReadTimeout,
			IdleTimeout:       s.cfg.IdleTimeout,
			ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		}
		s.serve("http", func() error {
			if err := s.httpSrv.Serve(httpLn); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
	}
	if grpcLn != nil {
		s.grpcLn = grpcLn
		s.serve("grpc", func() error {
			// ErrServerStopped: Shutdown came before Serve began; not a failure.
			if err := s.grpcS.Serve(grpcLn); !errors.Is(err, grpc.ErrServerStopped) {
				return err
			}
			return nil
		})
	}
	s.log.Info("ingest server started", "http", s.cfg.HTTPAddr, "grpc", s.cfg.GRPCAddr)
	return nil
}

func (s *Server) serve(name string, fn func() error) {
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		if err := fn(); err != nil {
			s.log.Error("serving OTLP", "protocol", name, "err", err)
			s.mu.Lock()
			s.serveErr = append(s.serveErr, fmt.Errorf("serving %s: %w", name, err))
			s.mu.Unlock()
		}
	}()
}

// Shutdown stops accepting connections, lets in-flight requests finish
// (their batches are committed and acknowledged), then flushes the pipeline.
// When ctx ends first it closes the remaining connections and abandons what
// is not yet committed (those clients were not acknowledged) and returns
// ctx's error. Shutdown is idempotent: later calls wait for the first one
// (bounded by their own ctx) and return its result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		select {
		case <-s.shutdownDone:
			return s.shutdownErr
		case <-ctx.Done():
			return fmt.Errorf("shutting down ingest server: %w", ctx.Err())
		}
	}
	s.stopping = true
	started := s.started
	s.mu.Unlock()

	var errs []error
	if started {
		var wg sync.WaitGroup
		var httpErr, grpcErr error
		if s.httpSrv != nil {
			wg.Go(func() {
				if err := s.httpSrv.Shutdown(ctx); err != nil {
					_ = s.httpSrv.Close() // ends the requests still waiting
					httpErr = fmt.Errorf("stopping OTLP/HTTP: %w", err)
				}
			})
		}
		if s.grpcLn != nil {
			wg.Go(func() { grpcErr = s.stopGRPC(ctx) })
		} else {
			s.grpcS.Stop()
		}
		wg.Wait()
		errs = append(errs, httpErr, grpcErr)
	}
	if !started {
		s.grpcS.Stop()
	}
	if err := s.pipe.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if started {
		s.serving.Wait()
	}
	s.mu.Lock()
	errs = append(errs, s.serveErr...)
	s.mu.Unlock()
	if err := errors.Join(errs...); err != nil {
		s.shutdownErr = fmt.Errorf("shutting down ingest server: %w", err)
	}
	close(s.shutdownDone)
	return s.shutdownErr
}

// stopGRPC stops gracefully, or forcibly once ctx ends.
func (s *Server) stopGRPC(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		s.grpcS.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		s.grpcS.Stop()
		<-done
		return fmt.Errorf("stopping OTLP/gRPC: %w", ctx.Err())
	}
}
