package shop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
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

// Service is one role's HTTP handler (and, for catalog and pricing, its
// gRPC service: GRPCServer). Call New, and Close when done.
type Service struct {
	cfg    Config
	log    *slog.Logger
	bug    atomic.Pointer[Bug]
	bugMu  sync.Mutex // serializes SetBug
	tp     *sdktrace.TracerProvider
	tracer trace.Tracer
	client *http.Client // traced HTTP client to the callees
	// pooled is catalog's client to inventory under catalogpool: at most
	// Config.SaturatedConns connections.
	pooled *http.Client
	conns  []*grpc.ClientConn
	h      http.Handler

	// gateway
	catalog, pricing *grpc.ClientConn
	next             atomic.Int64 // the next checkout's product
	// catalog
	cacheMu sync.Mutex
	cache   map[int]cached
	renders atomic.Int64 // catalogconvoy: every third GetProduct renders
	// inventory
	storeMu sync.Mutex
	auditMu sync.Mutex // poolsat: the stock reads' audit records
	stock   []int64
	store   *durable // reservations, and reservesync's journal
	// stockReads and reserves count calls: stockpanic and reservefail
	// fail every third.
	stockReads, reserves atomic.Int64
	// payments
	pool, saturated chan struct{}
	charges         atomic.Int64
	ledger          *durable // payfsync's charge journal
	// orders
	ordersMu, manifestMu sync.Mutex
	orderLog, manifest   *durable
	jobs                 chan job
	workers              sync.WaitGroup
	stop                 chan struct{}
	closeOnce            sync.Once
}

// cached is one product in catalog's cache.
type cached struct {
	name    string
	stock   int64
	expires time.Time
}

// job is one fulfilment job: the product and the producer span's context.
type job struct {
	product int
	link    trace.SpanContext
}

// New validates cfg and returns the service, tracing with tp (which
// should carry the hint span processor; see NewTracerProvider) and
// logging to log.
func New(cfg Config, tp *sdktrace.TracerProvider, log *slog.Logger) (s *Service, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if tp == nil || log == nil {
		return nil, fmt.Errorf("%w: no tracer provider or logger", ErrInvalidConfig)
	}
	s = &Service{cfg: cfg, log: log, tp: tp, tracer: tp.Tracer(instrumentation), stop: make(chan struct{})}
	none := BugNone
	s.bug.Store(&none)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	prop := propagation.TraceContext{}
	spanName := func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	s.client = &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(tr,
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop), otelhttp.WithSpanNameFormatter(spanName))}
	small := tr.Clone()
	small.MaxConnsPerHost, small.MaxIdleConnsPerHost = cfg.SaturatedConns, cfg.SaturatedConns
	s.pooled = &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(small,
		otelhttp.WithTracerProvider(tp), otelhttp.WithPropagators(prop), otelhttp.WithSpanNameFormatter(spanName))}
	mux := http.NewServeMux()
	switch cfg.Role {
	case RoleGateway:
		if s.catalog, err = s.dial(cfg.CatalogGRPC); err != nil {
			return s, err
		}
		if s.pricing, err = s.dial(cfg.PricingGRPC); err != nil {
			return s, err
		}
		s.conns = append(s.conns, s.catalog, s.pricing)
		mux.HandleFunc("POST /checkout", s.checkout)
		mux.HandleFunc("GET /product", s.product)
	case RoleCatalog:
		s.cache = map[int]cached{}
	case RolePricing:
	case RoleInventory:
		s.stock = make([]int64, cfg.Products)
		for i := range s.stock {
			s.stock[i] = 1 << 40
		}
		if s.store, err = openDurable(&cfg, "shop-inventory-*.journal"); err != nil {
			return s, err
		}
		mux.HandleFunc("GET /stock", s.getStock)
		mux.HandleFunc("GET /items", s.getItem)
		mux.HandleFunc("POST /reserve", s.reserve)
	case RolePayments:
		s.pool, s.saturated = make(chan struct{}, cfg.PaymentWorkers), make(chan struct{}, cfg.SaturatedWorkers)
		if s.ledger, err = openDurable(&cfg, "shop-payments-*.ledger"); err != nil {
			return s, err
		}
		s.ledger.fullSync = true // fsync: the charge journal's metadata too
		mux.HandleFunc("POST /charge", s.charge)
	case RoleOrders:
		if s.orderLog, err = openDurable(&cfg, "shop-orders-*.log"); err != nil {
			return s, err
		}
		if s.manifest, err = openDurable(&cfg, "shop-orders-*.manifest"); err != nil {
			return s, err
		}
		s.jobs = make(chan job, 4096)
		for range cfg.FulfilWorkers {
			s.workers.Go(s.fulfilLoop)
		}
		mux.HandleFunc("POST /orders", s.placeOrder)
	}
	if err := s.SetBug(cfg.Bug); err != nil {
		return s, err
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
		defer func() { // recovery outside the tracing middleware: a panic ends the span with no status
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Debug("recovered a panic", "path", r.URL.Path)
				http.Error(w, "internal error", http.StatusInternalServerError)
			}
		}()
		traced.ServeHTTP(w, r)
	})
	return s, nil
}

// ServeHTTP serves the role's endpoints, GET /healthz, POST
// /admin/bug?bug=NAME and POST /admin/flush (export the spans ended so
// far, after orders' queue has drained).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Config returns the configuration the service started with.
func (s *Service) Config() Config { return s.cfg }

// Bug returns the active bug.
func (s *Service) Bug() Bug { return *s.bug.Load() }

// SetBug switches the active bug. Inventory joins Config.CPUCgroups when
// cpuquota comes on and leaves them when it goes off; orders likewise with
// ordersquota.
func (s *Service) SetBug(b Bug) error {
	s.bugMu.Lock()
	defer s.bugMu.Unlock()
	was := s.Bug()
	if in, wasIn := quotaRole[b] == s.cfg.Role, quotaRole[was] == s.cfg.Role; in != wasIn {
		if len(s.cfg.CPUCgroups) == 0 {
			return fmt.Errorf("%w: the %s bug needs CPU cgroups to join", ErrInvalidConfig, b)
		}
		if err := joinCgroups(s.cfg.CPUCgroups, !in); err != nil {
			return err
		}
	}
	s.bug.Store(&b)
	return nil
}

// Close stops orders' workers (after the queue drains) and releases
// connections and files; the tracer provider (and a gRPC server) is the
// caller's to shut down.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.workers.Wait()
		for _, c := range []*http.Client{s.client, s.pooled} {
			if c != nil {
				c.CloseIdleConnections()
			}
		}
		for _, c := range s.conns {
			err = errors.Join(err, c.Close())
		}
		for _, d := range []*durable{s.store, s.orderLog, s.manifest, s.ledger} {
			if d != nil {
				err = errors.Join(err, d.close())
			}
		}
	})
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
	if s.jobs != nil { // the queued jobs' spans belong to the phase that queued them
		for len(s.jobs) > 0 {
			select {
			case <-r.Context().Done():
				http.Error(w, "draining the fulfilment queue: "+r.Context().Err().Error(), http.StatusServiceUnavailable)
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	if err := s.tp.ForceFlush(r.Context()); err != nil {
		http.Error(w, "flushing spans: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// call sends an HTTP request to a callee and returns its status and body.
func (s *Service) call(ctx context.Context, method, u string) (int, []byte, error) {
	return s.callWith(ctx, s.client, method, u)
}

// callWith is call through client.
func (s *Service) callWith(ctx context.Context, client *http.Client, method, u string) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := client.Do(req)
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

// burn does rounds of SHA-256 over 1 KiB: CPU work.
func burn(rounds int, seed int) [32]byte {
	var buf [1024]byte
	buf[0] = byte(seed)
	sum := sha256.Sum256(buf[:])
	for range rounds {
		copy(buf[:32], sum[:])
		sum = sha256.Sum256(buf[:])
	}
	return sum
}

// intParam reads a query parameter in [0, n).
func intParam(r *http.Request, key string, n int) (int, error) {
	v, err := strconv.Atoi(r.URL.Query().Get(key))
	if err != nil || v < 0 || v >= n {
		return 0, fmt.Errorf("query parameter %s: want a whole number below %d", key, n)
	}
	return v, nil
}

// joinCgroups moves this process into each directory's cgroup, or with
// leave back into each one's parent.
func joinCgroups(dirs []string, leave bool) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, d := range dirs {
		if leave {
			d = filepath.Dir(filepath.Clean(d))
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0); err != nil {
			return fmt.Errorf("moving the process into cgroup %s: %w", d, err)
		}
	}
	return nil
}
