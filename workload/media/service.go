package media

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc"
)

// Service is one role's HTTP handler (the edge's endpoints, or only the
// admin endpoints) and gRPC service (GRPCServer). Call New, and Close when
// done.
type Service struct {
	cfg        Config
	log        *slog.Logger
	bug        atomic.Pointer[Bug]
	bugMu      sync.Mutex                    // serializes SetBug
	bugChanged atomic.Pointer[chan struct{}] // closed when the bug changes
	tp         *sdktrace.TracerProvider
	tracer     trace.Tracer
	conns      map[Role]*grpc.ClientConn
	h          http.Handler
	stop       chan struct{}
	closeOnce  sync.Once

	// edge
	rngMu                sync.Mutex
	rng                  *rand.Rand
	nextUser, nextUpload atomic.Int64
	// meta
	policyMu sync.Mutex
	rights   []bool
	// cache
	shards []cacheShard
	sets   atomic.Int64
	// store
	storeMu    sync.Mutex
	sizes      []int64
	renditions *journal
	reads      atomic.Int64
	onRead     atomic.Pointer[func()] // tests: called as a read starts
	// index
	shardMu []sync.RWMutex
	// ingest
	uploadLog        *journal
	uploads          atomic.Int64
	jobs             chan job
	pending          atomic.Int64 // published, not yet processed
	encoding, maxEnc atomic.Int64 // jobs at the encoder now, and at most
	workers          sync.WaitGroup
}

// cacheShard is one shard of the cache's table.
type cacheShard struct {
	mu sync.Mutex
	m  map[int]entry
}

// entry is one cached video.
type entry struct {
	size    int64
	expires time.Time
}

// job is one transcode job: the video and the producer span's context.
type job struct {
	video int
	link  trace.SpanContext
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
	s = &Service{cfg: cfg, log: log, tp: tp, tracer: tp.Tracer(instrumentation), conns: map[Role]*grpc.ClientConn{},
		stop: make(chan struct{})}
	none := BugNone
	s.bug.Store(&none)
	ch := make(chan struct{})
	s.bugChanged.Store(&ch)
	defer func() {
		if err != nil {
			err = errors.Join(err, s.Close())
		}
	}()
	for _, callee := range cfg.Role.Callees() {
		if s.conns[callee], err = dial(tp, cfg.Addrs[callee]); err != nil {
			return s, err
		}
	}
	mux := http.NewServeMux()
	switch cfg.Role {
	case RoleEdge:
		s.rng = rand.New(rand.NewPCG(4, 2)) // a fixed seed: every run draws the same videos
		mux.HandleFunc("GET /watch", s.watch)
		mux.HandleFunc("GET /feed", s.feed)
		mux.HandleFunc("POST /upload", s.upload)
	case RoleMeta:
		s.rights = make([]bool, cfg.Videos)
		for i := range s.rights {
			s.rights[i] = i%7 != 6
		}
	case RoleCache:
		s.shards = make([]cacheShard, cfg.CacheShards)
		for i := range s.shards {
			s.shards[i].m = map[int]entry{}
		}
	case RoleStore:
		s.sizes = make([]int64, cfg.Videos)
		for i := range s.sizes {
			s.sizes[i] = int64(1+i%5) << 20
		}
		if s.renditions, err = openJournal(cfg.DataDir, "media-store-*.renditions", lightBytes); err != nil {
			return s, err
		}
	case RoleIndex:
		s.shardMu = make([]sync.RWMutex, cfg.Shards)
	case RoleIngest:
		if s.uploadLog, err = openJournal(cfg.DataDir, "media-ingest-*.journal", max(cfg.ManifestBytes, lightBytes)); err != nil {
			return s, err
		}
		s.jobs = make(chan job, 4096)
		for id := range cfg.TranscodeWorkers {
			s.workers.Go(func() { s.transcodeLoop(id) })
		}
	}
	if err := s.SetBug(cfg.Bug); err != nil {
		return s, err
	}
	var traced http.Handler = mux
	if cfg.Role == RoleEdge {
		traced = otelhttp.NewHandler(mux, string(cfg.Role), otelhttp.WithTracerProvider(tp),
			otelhttp.WithPropagators(propagation.TraceContext{}),
			otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " " + r.URL.Path }))
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
		traced.ServeHTTP(w, r)
	})
	return s, nil
}

// GRPCServer returns a gRPC server for the role's service (every role but
// the edge): otelgrpc server spans and a recovery interceptor, except the
// index's hand-written instrumentation (handTraced). The caller serves
// and stops it.
func (s *Service) GRPCServer() (*grpc.Server, error) {
	var desc *grpc.ServiceDesc
	switch s.cfg.Role {
	case RoleStore:
		desc = serviceDesc(StoreService, method{"Read", s.storeRead}, method{"Write", s.storeWrite})
	case RoleCache:
		desc = serviceDesc(CacheService, method{"Get", s.cacheGet}, method{"Set", s.cacheSet})
	case RoleIndex:
		desc = serviceDesc(IndexService, method{"Search", s.search})
	case RoleMeta:
		desc = serviceDesc(MetaService, method{"GetVideo", s.getVideo})
	case RoleRecs:
		desc = serviceDesc(RecsService, method{"Feed", s.recsFeed})
	case RoleIngest:
		desc = serviceDesc(IngestService, method{"Upload", s.ingestUpload})
	default:
		return nil, fmt.Errorf("%w: the %s serves no gRPC", ErrInvalidConfig, s.cfg.Role)
	}
	opts := []grpc.ServerOption{grpc.WaitForHandlers(true)}
	if s.cfg.Role == RoleIndex {
		opts = append(opts, grpc.ChainUnaryInterceptor(handTraced(s.tracer, s.log)))
	} else {
		opts = append(opts, grpc.StatsHandler(otelgrpc.NewServerHandler(otelgrpc.WithTracerProvider(s.tp),
			otelgrpc.WithPropagators(propagation.TraceContext{}))), grpc.ChainUnaryInterceptor(recoverInterceptor(s.log)))
	}
	srv := grpc.NewServer(opts...)
	srv.RegisterService(desc, nil)
	return srv, nil
}

// ServeHTTP serves the edge's endpoints, GET /healthz, POST
// /admin/bug?bug=NAME and POST /admin/flush (export the spans ended so
// far, after ingest's queue has drained).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.h.ServeHTTP(w, r) }

// Bug returns the active bug.
func (s *Service) Bug() Bug { return *s.bug.Load() }

// SetBug switches the active bug. Recs joins Config.CPUCgroups when
// recsquota comes on and leaves them when it goes off.
func (s *Service) SetBug(b Bug) error {
	s.bugMu.Lock()
	defer s.bugMu.Unlock()
	was := s.Bug()
	if s.cfg.Role == RoleRecs && (b == BugRecsQuota) != (was == BugRecsQuota) {
		if len(s.cfg.CPUCgroups) == 0 {
			return fmt.Errorf("%w: cpu cgroups: the %s bug needs cgroups to join", ErrInvalidConfig, BugRecsQuota)
		}
		if err := joinCgroups(s.cfg.CPUCgroups, b != BugRecsQuota); err != nil {
			return err
		}
	}
	s.bug.Store(&b)
	ch := make(chan struct{})
	close(*s.bugChanged.Swap(&ch))
	return nil
}

// Close stops ingest's workers (after the queue drains, for at most
// drainLimit) and releases connections and files; the tracer provider
// (and a gRPC server) is the caller's to shut down.
func (s *Service) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.stop)
		s.workers.Wait()
		for _, c := range s.conns {
			err = errors.Join(err, c.Close())
		}
		for _, j := range []*journal{s.renditions, s.uploadLog} {
			if j != nil {
				err = errors.Join(err, j.close())
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
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.pending.Load() > 0 { // the jobs' spans belong to the phase that published them
		select {
		case <-r.Context().Done():
			http.Error(w, "draining the transcode queue: "+r.Context().Err().Error(), http.StatusServiceUnavailable)
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

// joinCgroups moves this process into each directory's cgroup, or with
// leave back into each one's parent.
func joinCgroups(dirs []string, leave bool) error {
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, d := range dirs {
		if leave {
			d = filepath.Dir(filepath.Clean(d))
		}
		if err := os.WriteFile(filepath.Join(d, "cgroup.procs"), pid, 0); err != nil {
			return fmt.Errorf("moving the process into a cgroup: %w", err)
		}
	}
	return nil
}

// journalSlots is how many records a journal holds before it wraps around
// (records are overwritten in place, so a sync writes data, not the
// file's size).
const journalSlots = 16

// lightBytes is the size of an upload record and of a rendition record.
const lightBytes = 4096

// journal is a preallocated record file on the real disk: ingest's upload
// journal, the store's renditions.
type journal struct {
	f     *os.File
	size  int // bytes per slot
	next  atomic.Int64
	syncs atomic.Int64 // fsync and fdatasync calls
	bufs  sync.Pool
}

func openJournal(dir, pattern string, size int) (*journal, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return nil, fmt.Errorf("creating a journal: %w", err)
	}
	j := &journal{f: f, size: size}
	j.bufs.New = func() any { return make([]byte, size) }
	block := make([]byte, size)
	for i := range block {
		block[i] = byte(i*13 + 5) // no holes
	}
	for i := range journalSlots {
		if _, err := f.WriteAt(block, int64(i*size)); err != nil {
			return nil, errors.Join(fmt.Errorf("preallocating a journal: %w", err), j.close())
		}
	}
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return nil, errors.Join(fmt.Errorf("syncing a journal: %w", err), j.close())
	}
	return j, nil
}

func (j *journal) close() error { return errors.Join(j.f.Close(), os.Remove(j.f.Name())) }

// syncMode is how a journal write reaches the disk.
type syncMode int

const (
	noSync    syncMode = iota // the page cache only
	dataSync                  // fdatasync once at the end
	fullSyncs                 // fsync after each chunk
)

// write writes n bytes (at most a slot) of a record for key into the next
// slot, chunk bytes at a time, synced as mode says.
func (j *journal) write(key int64, n, chunk int, mode syncMode) error {
	buf := j.bufs.Get().([]byte)
	defer j.bufs.Put(buf)
	slot := j.next.Add(1) - 1
	binary.LittleEndian.PutUint64(buf[0:], uint64(slot))
	binary.LittleEndian.PutUint64(buf[8:], uint64(key))
	base := (slot % journalSlots) * int64(j.size)
	n = min(n, j.size)
	fd := int(j.f.Fd())
	for off := 0; off < n; off += chunk {
		if _, err := j.f.WriteAt(buf[off:min(off+chunk, n)], base+int64(off)); err != nil {
			return fmt.Errorf("writing: %w", err)
		}
		if mode == fullSyncs {
			j.syncs.Add(1)
			if err := unix.Fsync(fd); err != nil {
				return fmt.Errorf("syncing: %w", err)
			}
		}
	}
	if mode == dataSync {
		j.syncs.Add(1)
		if err := unix.Fdatasync(fd); err != nil {
			return fmt.Errorf("syncing: %w", err)
		}
	}
	return nil
}
