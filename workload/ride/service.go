package ride

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
)

// Service is one process of a role: its HTTP handler (the role's
// endpoints, or only the admin endpoints) and gRPC service (GRPCServer).
// Call New, and Close when done.
type Service struct {
	cfg        Config
	log        *slog.Logger
	bug        atomic.Pointer[Bug]
	bugMu      sync.Mutex
	bugChanged atomic.Pointer[chan struct{}] // closed when the bug changes
	tp         *sdktrace.TracerProvider
	tracer     trace.Tracer
	h          http.Handler
	stop       chan struct{}
	closeOnce  sync.Once
	closers    []*grpc.ClientConn

	http  *http.Client // traced HTTP client (otelhttp transport)
	grpcs map[Role]*grpc.ClientConn
	geo   *roundRobin
	db    *grpc.ClientConn // tripdb, not traced by otelgrpc

	// api
	nextRider, nextDriver, lastTrip atomic.Int64
	// matcher
	nextTrip atomic.Int64
	// geo
	geoMu   sync.Mutex
	cells   []int
	nearbys atomic.Int64
	onHold  atomic.Pointer[func()] // tests: called while a rebuild holds the index mutex
	// notifier
	queue              chan message
	pending            atomic.Int64 // queued or being pushed
	pushing, maxPushes atomic.Int64
	publishes          atomic.Int64
	batchMu            sync.Mutex
	batch              []trace.SpanContext
	workers            sync.WaitGroup
	// tripdb
	tdb *tripDB
}

// message is a published trip: its number and headers (trace context).
type message struct {
	Trip    int               `json:"trip"`
	Headers map[string]string `json:"headers"`
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
	s = &Service{cfg: cfg, log: log, tp: tp, tracer: tp.Tracer(instrumentation), stop: make(chan struct{}),
		grpcs: map[Role]*grpc.ClientConn{}}
	none := BugNone
	s.bug.Store(&none)
	ch := make(chan struct{})
	s.bugChanged.Store(&ch)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	s.http = &http.Client{Timeout: 10 * time.Second, Transport: otelhttp.NewTransport(tr, otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.TraceContext{}))}
	for _, callee := range cfg.Role.Callees() {
		switch callee {
		case RoleGeo:
			s.geo = &roundRobin{}
			for _, a := range cfg.GeoAddrs {
				c, err := dial(tp, a)
				if err != nil {
					return s, err
				}
				s.closers = append(s.closers, c)
				s.geo.conns = append(s.geo.conns, c)
			}
		case RoleTripDB:
			if s.db, err = dial(nil, cfg.Addrs[callee]); err != nil {
				return s, err
			}
			s.closers = append(s.closers, s.db)
		case RolePricing, RoleMatcher:
			c, err := dial(tp, cfg.Addrs[callee])
			if err != nil {
				return s, err
			}
			s.closers = append(s.closers, c)
			s.grpcs[callee] = c
		}
	}
	mux := http.NewServeMux()
	switch cfg.Role {
	case RoleAPI:
		mux.Handle("POST /v1/rides/{city}", s.handTraced("POST /v1/rides/{city}", s.requestRide))
		mux.Handle("GET /v1/rides/{id}", s.handTraced("GET /v1/rides/{id}", s.rideStatus))
		mux.Handle("POST /v1/drivers/{id}/ping", s.handTraced("POST /v1/drivers/{id}/ping", s.ping))
	case RoleDispatch:
		mux.Handle("POST /dispatch", s.traced("POST /dispatch", s.dispatch))
		mux.Handle("GET /trips/{id}", s.traced("GET /trips/{id}", s.trip))
	case RoleNotifier:
		mux.Handle("POST /publish", s.traced("POST /publish", s.publish))
		s.queue = make(chan message, 8192)
		for id := range cfg.Pushers {
			s.workers.Go(func() { s.pushLoop(id) })
		}
		s.workers.Go(s.batchLoop)
	case RoleGeo:
		s.cells = make([]int, geoCells)
	case RoleTripDB:
		s.tdb = &tripDB{trips: map[int]int{}}
		if s.tdb.log, err = openWAL(cfg.DataDir, max(cfg.SyncBytes, 4*lightBytes)); err != nil {
			return s, err
		}
		s.workers.Go(s.groupCommit)
	}
	if err := s.SetBug(cfg.Bug); err != nil {
		return s, err
	}
	admin := http.NewServeMux()
	admin.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	admin.HandleFunc("POST /admin/bug", s.adminBug)
	admin.HandleFunc("POST /admin/flush", s.adminFlush)
	s.h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" || strings.HasPrefix(r.URL.Path, "/admin/") {
			admin.ServeHTTP(w, r) // untraced
			return
		}
		mux.ServeHTTP(w, r)
	})
	return s, nil
}

// traced wraps an endpoint in an otelhttp server span named route.
func (s *Service) traced(route string, h http.HandlerFunc) http.Handler {
	return otelhttp.NewHandler(h, route, otelhttp.WithTracerProvider(s.tp), otelhttp.WithPropagators(propagation.TraceContext{}))
}

// GRPCServer returns a gRPC server for the role's service (pricing,
// matcher, geo: otelgrpc server spans; tripdb: its statement spans) with
// a recovery interceptor. The caller serves and stops it.
func (s *Service) GRPCServer() (*grpc.Server, error) {
	var desc *grpc.ServiceDesc
	switch s.cfg.Role {
	case RolePricing:
		desc = serviceDesc(PricingService, method{"Quote", s.quote})
	case RoleMatcher:
		desc = serviceDesc(MatcherService, method{"Match", s.match})
	case RoleGeo:
		desc = serviceDesc(GeoService, method{"Nearby", s.nearby}, method{"Update", s.update})
	case RoleTripDB:
		srv := grpc.NewServer(append(dbServerOptions(s), grpc.WaitForHandlers(true))...)
		srv.RegisterService(serviceDesc(TripDBService, method{"Exec", s.dbExec}), nil)
		return srv, nil
	default:
		return nil, fmt.Errorf("%w: the %s serves no gRPC", ErrInvalidConfig, s.cfg.Role)
	}
	srv := grpc.NewServer(grpc.WaitForHandlers(true), grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.tp),
		otelgrpc.WithPropagators(propagation.TraceContext{}))), grpc.ChainUnaryInterceptor(recoverInterceptor(s.log)))
	srv.RegisterService(desc, nil)
	return srv, nil
}

// ServeHTTP serves the role's endpoints, GET /healthz, POST
// /admin/bug?bug=NAME and POST /admin/flush (export the spans ended so
// far, after notifier's queue and batch have drained).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Bug returns the active bug.
func (s *Service) Bug() Bug { return *s.bug.Load() }

// SetBug switches the active bug.
func (s *Service) SetBug(b Bug) error {
	if _, err := ParseBug(string(b)); err != nil {
		return err
	}
	s.bugMu.Lock()
	defer s.bugMu.Unlock()
	s.bug.Store(&b)
	ch := make(chan struct{})
	close(*s.bugChanged.Swap(&ch))
	return nil
}

// Close stops the background workers (notifier's after its queue drains,
// for at most drainLimit) and releases connections and files; the tracer
// provider (and a gRPC server) is the caller's to shut down.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.workers.Wait()
		for _, c := range s.closers {
			err = errors.Join(err, c.Close())
		}
		if s.tdb != nil && s.tdb.log != nil {
			err = errors.Join(err, s.tdb.log.close())
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
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.pending.Load() > 0 || s.batched() > 0 { // the messages' spans belong to the phase that published them
		select {
		case <-r.Context().Done():
			http.Error(w, "draining the queue: "+r.Context().Err().Error(), http.StatusServiceUnavailable)
			return
		case <-tick.C:
		}
	}
	if err := s.tp.ForceFlush(r.Context()); err != nil {
		http.Error(w, "flushing spans: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// burn does rounds of SHA-256 over 1 KiB: CPU work.
func burn(rounds int, seed int) [32]byte {
	var buf [1024]byte
	binary.LittleEndian.PutUint64(buf[:], uint64(seed))
	sum := sha256.Sum256(buf[:])
	for range rounds {
		copy(buf[:32], sum[:])
		sum = sha256.Sum256(buf[:])
	}
	return sum
}
