// Package mutexsvc is the first demo service of debugai's workloads: an
// HTTP handler whose every request marks a span with package hint (so the
// node collector's span hooks fire and stamp kernel events), does a little
// CPU work, then does more while holding one process-wide sync.Mutex. Under
// load the mutex is contended, so requests wait on futexes and for CPUs:
// the kernel events debugai observes. Optionally each request also writes
// and fsyncs a small file. The node-collector overhead benchmark (debugai
// bench node) serves it with "debugai workload mutex".
package mutexsvc

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/debugai/debugai/hint"
)

// Config configures the service. Start from DefaultConfig.
type Config struct {
	// Work is the CPU work done per request before taking the mutex.
	Work time.Duration
	// Critical is the CPU work done per request while holding the mutex.
	Critical time.Duration
	// ItersPerMicrosecond converts Work and Critical into iterations of a
	// fixed loop, so that a request costs the same CPU in every process
	// (0: measure it at New with Calibrate). Pass one calibration to every
	// process of a benchmark to keep their work identical.
	ItersPerMicrosecond float64
	// Hints marks each request as a span with hint.Enter and hint.Exit.
	Hints bool
	// SyncDir, when set, makes each request write 512 bytes to a file of
	// its own in this directory and fsync it (outside the mutex).
	SyncDir string
}

// DefaultConfig is CPU and lock work only: 50 µs of work, then 100 µs
// under the mutex, with span hints.
func DefaultConfig() Config {
	return Config{Work: 50 * time.Microsecond, Critical: 100 * time.Microsecond, Hints: true}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	switch {
	case c.Work < 0 || c.Critical < 0:
		return fmt.Errorf("work %v and critical section %v: must not be negative", c.Work, c.Critical)
	case c.Work > time.Second || c.Critical > time.Second:
		return fmt.Errorf("work %v and critical section %v: at most 1s each", c.Work, c.Critical)
	case c.ItersPerMicrosecond < 0:
		return fmt.Errorf("iterations per microsecond %v: must not be negative", c.ItersPerMicrosecond)
	}
	if c.SyncDir != "" {
		fi, err := os.Stat(c.SyncDir)
		if err != nil {
			return fmt.Errorf("sync directory: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("sync directory %s: not a directory", c.SyncDir)
		}
	}
	return nil
}

// Service is the HTTP handler. Its zero value is not usable; call New.
type Service struct {
	cfg                    Config
	workIters, critIters   int
	mu                     sync.Mutex // the process-wide lock every request takes
	requests, syncFailures atomic.Uint64
	nextFile               atomic.Uint64
	sink                   atomic.Uint64 // keeps the work loops from being optimized away
	mux                    *http.ServeMux
}

// New validates cfg (calibrating the work loop when it has no
// ItersPerMicrosecond) and returns the service.
func New(cfg Config) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ItersPerMicrosecond == 0 {
		cfg.ItersPerMicrosecond = Calibrate()
	}
	s := &Service{
		cfg:       cfg,
		workIters: iters(cfg.Work, cfg.ItersPerMicrosecond),
		critIters: iters(cfg.Critical, cfg.ItersPerMicrosecond),
		mux:       http.NewServeMux(),
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})
	s.mux.HandleFunc("/", s.serveWork)
	return s, nil
}

func iters(d time.Duration, perMicro float64) int {
	return int(float64(d) / float64(time.Microsecond) * perMicro)
}

// Config returns the configuration in use (with the calibration New made).
func (s *Service) Config() Config { return s.cfg }

// Stats are the service's counters.
type Stats struct {
	Requests     uint64 // work requests served
	SyncFailures uint64 // requests whose write or fsync failed (answered 500)
}

// Stats returns the counters so far.
func (s *Service) Stats() Stats {
	return Stats{Requests: s.requests.Load(), SyncFailures: s.syncFailures.Load()}
}

// ServeHTTP serves GET /healthz (no work) and every other path (one
// request's work).
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

func (s *Service) serveWork(w http.ResponseWriter, _ *http.Request) {
	if s.cfg.Hints {
		trace, span := newIDs()
		hint.Enter(trace, span)
		defer hint.Exit(trace, span)
	}
	x := spin(s.workIters)
	s.mu.Lock()
	x ^= spin(s.critIters)
	s.mu.Unlock()
	s.sink.Add(x & 1)
	if s.cfg.SyncDir != "" {
		if err := s.writeSync(); err != nil {
			s.syncFailures.Add(1)
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	n := s.requests.Add(1)
	w.Header().Set("Content-Type", "text/plain")
	w.Write(strconv.AppendUint([]byte("ok "), n, 10))
}

// writeSync writes 512 bytes to one of 64 files in SyncDir and fsyncs it.
func (s *Service) writeSync() (err error) {
	name := filepath.Join(s.cfg.SyncDir, "mutexsvc-"+strconv.FormatUint(s.nextFile.Add(1)%64, 10))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("opening sync file: %w", err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	var buf [512]byte
	if _, err := f.Write(buf[:]); err != nil {
		return fmt.Errorf("writing sync file: %w", err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("syncing sync file: %w", err)
	}
	return nil
}

// newIDs returns random W3C trace and span ids (never all zero).
func newIDs() (trace [16]byte, span [8]byte) {
	a, b, c := rand.Uint64()|1, rand.Uint64(), rand.Uint64()|1
	for i := range 8 {
		trace[i], trace[8+i], span[i] = byte(a>>(56-8*i)), byte(b>>(56-8*i)), byte(c>>(56-8*i))
	}
	return trace, span
}

// spin runs n iterations of a xorshift step: a fixed amount of CPU work
// per iteration, with a data dependency the compiler cannot remove.
func spin(n int) uint64 {
	x := uint64(0x9e3779b97f4a7c15)
	for range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

// Calibrate measures how many work-loop iterations run per microsecond of
// CPU on this machine: the fastest of a few 2 ms trials, so that time lost
// to other processes does not count.
func Calibrate() float64 {
	const n = 200_000
	best := time.Duration(1<<63 - 1)
	var x uint64
	for range 9 {
		t0 := time.Now()
		x ^= spin(n)
		best = min(best, time.Since(t0))
	}
	if x == 42 { // keep x live
		best++
	}
	return n / max(float64(best)/float64(time.Microsecond), 1)
}
