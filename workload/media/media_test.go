package media

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// system is the seven services in-process on loopback, each with its own
// tracer provider recording into one span recorder.
type system struct {
	rec  *tracetest.SpanRecorder
	svcs map[Role]*Service
	url  string // the edge
}

// startSystem starts the system with bug and edit applied to every
// service's configuration.
func startSystem(t *testing.T, bug Bug, edit func(*Config)) *system {
	t.Helper()
	sys := &system{rec: tracetest.NewSpanRecorder(), svcs: map[Role]*Service{}}
	addrs := map[Role]string{}
	for _, role := range Roles {
		cfg := DefaultConfig()
		cfg.Role, cfg.Bug, cfg.DataDir, cfg.Addrs = role, bug, t.TempDir(), addrs
		if edit != nil {
			edit(&cfg)
		}
		tp, err := NewTracerProvider(context.Background(), &cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		tp.RegisterSpanProcessor(sys.rec)
		svc, err := New(cfg, tp, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		srv := httptest.NewServer(svc)
		sys.svcs[role] = svc
		t.Cleanup(func() { srv.Close(); svc.Close() }) // after the gRPC servers: LIFO
		if role == RoleEdge {
			sys.url = srv.URL
			continue
		}
		gsrv, err := svc.GRPCServer()
		if err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addrs[role] = l.Addr().String()
		go gsrv.Serve(l)
		t.Cleanup(gsrv.Stop)
	}
	return sys
}

// do sends n requests to the edge path, one at a time, and counts the
// answers' statuses.
func (sys *system) do(t *testing.T, method, path string, n int) map[int]int {
	t.Helper()
	st := map[int]int{}
	for range n {
		req, _ := http.NewRequest(method, sys.url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		st[resp.StatusCode]++
	}
	return st
}

// drain closes ingest (its queue drained) and returns the ended spans.
func (sys *system) drain(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	if err := sys.svcs[RoleIngest].Close(); err != nil {
		t.Fatal(err)
	}
	return sys.rec.Ended()
}

// shape counts spans by "service name" and error-status spans by service.
type shape struct{ spans, errors map[string]int }

func serviceOf(s sdktrace.ReadOnlySpan) string {
	for _, kv := range s.Resource().Attributes() {
		if kv.Key == "service.name" {
			return kv.Value.AsString()
		}
	}
	return ""
}

func shapeOf(spans []sdktrace.ReadOnlySpan) shape {
	sh := shape{spans: map[string]int{}, errors: map[string]int{}}
	for _, s := range spans {
		svc := serviceOf(s)
		sh.spans[svc+" "+s.Name()]++
		if s.Status().Code == codes.Error {
			sh.errors[svc]++
		}
	}
	return sh
}

// TestFeedShapes: a feed fans out to every index shard; indexpanic fails
// a third of the feeds with an exception event on index spans that carry
// no status, and shardskip drops shards without an error or a failed feed.
func TestFeedShapes(t *testing.T) {
	const n = 9 // users 0..8: 3 of 9 are "every third"
	for _, tc := range []struct {
		bug   Bug
		check func(t *testing.T, st map[int]int, sh shape, spans []sdktrace.ReadOnlySpan)
	}{
		{BugNone, func(t *testing.T, st map[int]int, sh shape, _ []sdktrace.ReadOnlySpan) {
			if st[200] != n || sh.spans["index media.v1.Index/Search"] != 4*n || sh.spans["recs recs.rank"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugShardSkip, func(t *testing.T, st map[int]int, sh shape, _ []sdktrace.ReadOnlySpan) {
			if st[200] != n || sh.spans["index media.v1.Index/Search"] != 4*n-2*3 || sh.spans["recs recs.rank"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugIndexPanic, func(t *testing.T, st map[int]int, sh shape, spans []sdktrace.ReadOnlySpan) {
			if st[200] != 6 || st[502] != 3 || sh.spans["recs recs.rank"] != 6 || sh.errors["index"] != 0 || sh.errors["recs"] < 3 || sh.errors["edge"] < 3 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
			exceptions := 0
			for _, s := range spans {
				if serviceOf(s) != "index" {
					continue
				}
				if s.SpanKind() != trace.SpanKindInternal {
					t.Errorf("index span kind %v, want none (internal)", s.SpanKind())
				}
				for _, e := range s.Events() {
					if e.Name == "exception" {
						exceptions++
					}
				}
			}
			if exceptions != 3 {
				t.Errorf("%d exception events on index spans, want 3", exceptions)
			}
		}},
	} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, nil)
			st := sys.do(t, http.MethodGet, "/feed", n)
			spans := sys.drain(t)
			tc.check(t, st, shapeOf(spans), spans)
		})
	}
}

// TestTrace: a watch is one trace from the edge through meta to the cache
// (and the store on a miss); the index's spans join the feed's trace
// through the hand-written propagation; a transcode job starts a new
// trace linked to its producer span.
func TestTrace(t *testing.T) {
	sys := startSystem(t, BugNone, func(c *Config) { c.EncodeTime = time.Millisecond })
	sys.do(t, http.MethodGet, "/feed", 1)
	sys.do(t, http.MethodPost, "/upload", 1)
	spans := sys.drain(t)
	byName := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		byName[serviceOf(s)+" "+s.Name()] = s
	}
	feed, search := byName["edge GET /feed"], byName["index media.v1.Index/Search"]
	prod, cons := byName["ingest transcode publish"], byName["ingest transcode process"]
	if feed == nil || search == nil || prod == nil || cons == nil || byName["store media.v1.Store/Write"] == nil {
		t.Fatalf("spans %v", byName)
	}
	if search.SpanContext().TraceID() != feed.SpanContext().TraceID() {
		t.Errorf("index span not in the feed's trace")
	}
	if cons.SpanContext().TraceID() == prod.SpanContext().TraceID() || len(cons.Links()) != 1 ||
		cons.Links()[0].SpanContext.SpanID() != prod.SpanContext().SpanID() || cons.SpanKind() != trace.SpanKindConsumer {
		t.Errorf("consumer %v links %v, producer %v", cons.SpanContext(), cons.Links(), prod.SpanContext())
	}
}

// TestCacheMiss: with a long TTL a video is read from the store once;
// under cachemiss every third video is read from the store on every watch.
func TestCacheMiss(t *testing.T) {
	for _, tc := range []struct {
		bug   Bug
		reads int64
	}{{BugNone, 2}, {BugCacheMiss, 5}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.CacheTTL, c.ReadHold = time.Hour, 0 })
			meta := sys.svcs[RoleMeta]
			ctx := context.Background()
			for _, video := range []int{3, 3, 3, 3, 4, 4, 4, 4} { // 3: every third; 4: not
				if _, err := meta.getVideo(ctx, answer(map[string]float64{"video": float64(video)})); err != nil {
					t.Fatal(err)
				}
			}
			if got := sys.svcs[RoleStore].reads.Load(); got != tc.reads {
				t.Errorf("store reads %d, want %d", got, tc.reads)
			}
		})
	}
}

// TestMetaConvoy: a hit waits for a concurrent miss's store read only
// under metaconvoy (the policy mutex held across the lookup).
func TestMetaConvoy(t *testing.T) {
	const hold = 300 * time.Millisecond
	for _, tc := range []struct {
		bug  Bug
		wait bool
	}{{BugNone, false}, {BugMetaConvoy, true}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.CacheTTL, c.ReadHold = time.Hour, hold })
			meta, store := sys.svcs[RoleMeta], sys.svcs[RoleStore]
			ctx := context.Background()
			get := func(video int) error {
				_, err := meta.getVideo(ctx, answer(map[string]float64{"video": float64(video)}))
				return err
			}
			if err := get(1); err != nil { // cached from now on
				t.Fatal(err)
			}
			inStore := make(chan struct{}, 1)
			hook := func() { inStore <- struct{}{} }
			store.onRead.Store(&hook)
			var wg sync.WaitGroup
			wg.Go(func() {
				if err := get(2); err != nil { // a miss: holds the store for hold
					t.Error(err)
				}
			})
			<-inStore // the miss is in the store
			start := time.Now()
			if err := get(1); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			wg.Wait()
			if waited := took > hold/2; waited != tc.wait {
				t.Errorf("the hit took %v while a miss held the store %v: waited %v, want %v", took, hold, waited, tc.wait)
			}
		})
	}
}

// TestUploadSync: every upload is journaled with one fdatasync; under
// uploadsync every third also writes its manifest with an fsync per chunk.
func TestUploadSync(t *testing.T) {
	for _, tc := range []struct {
		bug   Bug
		syncs int64
	}{{BugNone, 6}, {BugUploadSync, 6 + 2*16}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.EncodeTime = time.Millisecond })
			if st := sys.do(t, http.MethodPost, "/upload", 6); st[201] != 6 {
				t.Fatalf("statuses %v", st)
			}
			if got := sys.svcs[RoleIngest].uploadLog.syncs.Load(); got != tc.syncs {
				t.Errorf("syncs %d, want %d", got, tc.syncs)
			}
		})
	}
}

// TestTranscodePool: queued jobs run on every worker; under transcodepool
// on at most SaturatedWorkers.
func TestTranscodePool(t *testing.T) {
	for _, tc := range []struct {
		bug     Bug
		atMost  int64
		atLeast int64
	}{{BugNone, 8, 3}, {BugTranscodePool, 2, 1}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.EncodeTime = 100 * time.Millisecond })
			if st := sys.do(t, http.MethodPost, "/upload", 16); st[201] != 16 {
				t.Fatalf("statuses %v", st)
			}
			spans := sys.drain(t)
			ingest := sys.svcs[RoleIngest]
			if got := ingest.maxEnc.Load(); got > tc.atMost || got < tc.atLeast {
				t.Errorf("at most %d jobs at the encoder at once, want %d to %d", got, tc.atLeast, tc.atMost)
			}
			if sh := shapeOf(spans); sh.spans["ingest transcode process"] != 16 || sh.spans["store media.v1.Store/Write"] != 16 {
				t.Errorf("shape %v", sh.spans)
			}
		})
	}
}

// TestRecsQuota: recs joins the cgroups under recsquota and leaves them
// (for their parents) when it goes off; without cgroups the bug is refused.
func TestRecsQuota(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "limited")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Role, cfg.Addrs = RoleRecs, map[Role]string{RoleIndex: "127.0.0.1:1"}
	tp := sdktrace.NewTracerProvider()
	svc, err := New(cfg, tp, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if err := svc.SetBug(BugRecsQuota); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "cgroups") {
		t.Errorf("recsquota without cgroups: %v", err)
	}
	svc.cfg.CPUCgroups = []string{dir}
	if err := svc.SetBug(BugRecsQuota); err != nil {
		t.Fatal(err)
	}
	pid := strconv.Itoa(os.Getpid())
	if b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs")); err != nil || string(b) != pid {
		t.Errorf("cgroup.procs %q, %v; want %s", b, err, pid)
	}
	if err := svc.SetBug(BugNone); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(parent, "cgroup.procs")); err != nil || string(b) != pid {
		t.Errorf("parent cgroup.procs %q, %v; want %s", b, err, pid)
	}
}

// TestConfigValidate: bad configurations name the field, never the value.
func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Role = "frontend" }, "role"},
		{func(c *Config) { c.Version = "" }, "version"},
		{func(c *Config) { c.Videos = 2 }, "videos"},
		{func(c *Config) { c.Shards = 2 }, "index shards"},
		{func(c *Config) { c.SaturatedWorkers = 9 }, "transcode workers"},
		{func(c *Config) { c.SyncChunkBytes = c.ManifestBytes + 1 }, "manifest bytes"},
		{func(c *Config) { c.Role, c.Addrs = RoleMeta, map[Role]string{RoleCache: "secret-host"} }, "cache address"},
		{func(c *Config) {
			c.Role, c.Bug, c.Addrs = RoleRecs, BugRecsQuota, map[Role]string{RoleIndex: "127.0.0.1:1"}
		}, "cgroups"},
		{func(c *Config) { c.DataDir = "/nonexistent/secret" }, "data directory"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: %v", tc.want, err)
		}
	}
	if c := DefaultConfig(); c.Validate() != nil {
		t.Errorf("default: %v", c.Validate())
	}
}
