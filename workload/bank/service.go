package bank

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// instrumentation is the tracer's instrumentation scope.
const instrumentation = "github.com/debugai/debugai/workload/bank"

// Service is one role's HTTP handler. Its zero value is not usable; call
// New, and Close when done.
type Service struct {
	cfg    Config
	bug    atomic.Pointer[Bug]
	bugMu  sync.Mutex // serializes SetBug
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	client *http.Client     // frontend: calls the ledger
	conn   *grpc.ClientConn // frontend with Config.LedgerGRPC: calls Authorize
	authMu sync.Mutex       // frontend, callconvoy bug: held across Authorize
	ledger *ledger          // ledger: the books
	h      http.Handler
}

// New validates cfg and returns the service, tracing with tp (which
// should carry the hint span processor; see NewTracerProvider).
func New(cfg Config, tp *sdktrace.TracerProvider) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tp == nil {
		return nil, fmt.Errorf("%w: no tracer provider", ErrInvalidConfig)
	}
	s := &Service{cfg: cfg, tp: tp, tracer: tp.Tracer(instrumentation)}
	none := BugNone
	s.bug.Store(&none)
	prop := propagation.TraceContext{}
	spanName := func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }
	mux := http.NewServeMux()
	if cfg.Role == RoleFrontend {
		s.bug.Store(&cfg.Bug)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 256
		s.client = &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(tr,
			otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop), otelhttp.WithSpanNameFormatter(spanName))}
		if cfg.LedgerGRPC != "" {
			conn, err := s.dialLedger()
			if err != nil {
				return nil, err
			}
			s.conn = conn
		}
		mux.HandleFunc("POST /transfer", s.transfer)
		mux.HandleFunc("GET /balance", s.frontendBalance)
	} else {
		l, err := openLedger(&cfg)
		if err != nil {
			return nil, err
		}
		s.ledger = l
		if err := s.SetBug(cfg.Bug); err != nil {
			return nil, errors.Join(err, l.close())
		}
		mux.HandleFunc("POST /entries", s.entries)
		mux.HandleFunc("GET /balance", s.ledgerBalance)
	}
	traced := otelhttp.NewHandler(mux, string(cfg.Role), otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop),
		otelhttp.WithSpanNameFormatter(spanName))
	admin := http.NewServeMux()
	admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	admin.HandleFunc("POST /admin/bug", s.adminBug)
	admin.HandleFunc("POST /admin/flush", s.adminFlush)
	s.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/admin/") {
			admin.ServeHTTP(w, r) // untraced
			return
		}
		traced.ServeHTTP(w, r)
	})
	return s, nil
}

// ServeHTTP serves the role's endpoints, GET /healthz, POST
// /admin/bug?bug=NAME (switch the bug) and POST /admin/flush (export the
// spans ended so far).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Config returns the configuration the service started with.
func (s *Service) Config() Config { return s.cfg }

// Bug returns the active bug.
func (s *Service) Bug() Bug { return *s.bug.Load() }

// SetBug switches the active bug. The ledger joins Config.CPUCgroups
// when cpuquota comes on and leaves them when it goes off.
func (s *Service) SetBug(b Bug) error {
	s.bugMu.Lock()
	defer s.bugMu.Unlock()
	was := s.Bug()
	if s.cfg.Role == RoleLedger && (b == BugCPUQuota) != (was == BugCPUQuota) {
		if len(s.cfg.CPUCgroups) == 0 {
			return fmt.Errorf("%w: the cpuquota bug needs CPU cgroups to join", ErrInvalidConfig)
		}
		if err := joinCgroups(s.cfg.CPUCgroups, b != BugCPUQuota); err != nil {
			return err
		}
	}
	s.bug.Store(&b)
	return nil
}

// Close releases the frontend's connections and the ledger's snapshot
// file; the tracer provider (and a server from GRPCServer) is the caller's
// to shut down.
func (s *Service) Close() error {
	var err error
	if s.client != nil {
		s.client.CloseIdleConnections()
	}
	if s.conn != nil {
		if cerr := s.conn.Close(); cerr != nil {
			err = fmt.Errorf("closing the ledger's gRPC connection: %w", cerr)
		}
	}
	if s.ledger != nil {
		err = errors.Join(err, s.ledger.close())
	}
	return err
}

func (s *Service) adminBug(w http.ResponseWriter, r *http.Request) {
	b, err := ParseBug(r.FormValue("bug"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if err := s.SetBug(b); err != nil {
		http.Error(w, err.Error(), http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Service) adminFlush(w http.ResponseWriter, r *http.Request) {
	if err := s.tp.ForceFlush(r.Context()); err != nil {
		http.Error(w, "flushing spans: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// frontendBalance asks the ledger for a balance.
func (s *Service) frontendBalance(w http.ResponseWriter, r *http.Request) {
	s.forward(w, r, http.MethodGet, "/balance")
}

// forward calls the ledger's path with r's query and copies the answer.
func (s *Service) forward(w http.ResponseWriter, r *http.Request, method, path string) {
	u := strings.TrimRight(s.cfg.LedgerURL, "/") + path
	if r.URL.RawQuery != "" {
		u += "?" + r.URL.RawQuery
	}
	status, body, err := s.call(r.Context(), method, u)
	if err != nil {
		http.Error(w, "calling the ledger: "+err.Error(), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Service) call(ctx context.Context, method, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return 0, nil, fmt.Errorf("reading the answer: %w", err)
	}
	return resp.StatusCode, body, nil
}
