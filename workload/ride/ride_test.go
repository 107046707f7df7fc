package ride

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/types/known/structpb"
)

// system is the seven services in-process on loopback (geo as two
// replicas), each process with its own tracer provider recording into one
// span recorder.
type system struct {
	rec  *tracetest.SpanRecorder
	svcs map[string]*Service // by instance id
	url  string              // the api
}

// startSystem starts the system with bug and edit applied to every
// process's configuration.
func startSystem(t *testing.T, bug Bug, edit func(*Config)) *system {
	t.Helper()
	sys := &system{rec: tracetest.NewSpanRecorder(), svcs: map[string]*Service{}}
	addrs, geo := map[Role]string{}, []string{}
	for _, role := range Roles {
		replicas := 1
		if role == RoleGeo {
			replicas = 2
		}
		for replica := range replicas {
			cfg := DefaultConfig()
			cfg.Role, cfg.Replica, cfg.Bug, cfg.DataDir, cfg.Addrs, cfg.GeoAddrs = role, replica, bug, t.TempDir(), addrs, geo
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
			sys.svcs[cfg.InstanceID()] = svc
			t.Cleanup(func() { srv.Close(); svc.Close() }) // after the gRPC servers: LIFO
			if !role.ServesGRPC() {
				addrs[role] = srv.URL
				sys.url = srv.URL // the api comes last
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
			if role == RoleGeo {
				geo = append(geo, l.Addr().String())
			} else {
				addrs[role] = l.Addr().String()
			}
			go gsrv.Serve(l)
			t.Cleanup(gsrv.Stop)
		}
	}
	return sys
}

// do sends n requests to the api path, one at a time, and counts the
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

// drain closes notifier (its queue and batch drained) and returns the
// ended spans.
func (sys *system) drain(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	if err := sys.svcs["notifier-0"].Close(); err != nil {
		t.Fatal(err)
	}
	return sys.rec.Ended()
}

func resourceAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Resource().Attributes() {
		if string(kv.Key) == key {
			return kv.Value.AsString()
		}
	}
	return ""
}

func attr(s sdktrace.ReadOnlySpan, key string) (string, bool) {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.Emit(), true
		}
	}
	return "", false
}

// shape counts spans by "service name" and error-status spans by "service
// name".
type shape struct{ spans, errors map[string]int }

func shapeOf(spans []sdktrace.ReadOnlySpan) shape {
	sh := shape{spans: map[string]int{}, errors: map[string]int{}}
	for _, s := range spans {
		k := resourceAttr(s, "service.name") + " " + s.Name()
		sh.spans[k]++
		if s.Status().Code == codes.Error {
			sh.errors[k]++
		}
	}
	return sh
}

// TestRideShapes: a ride crosses api, dispatch, pricing, matcher, the geo
// replicas, tripdb and notifier; farestale drops a third of the pricing
// calls without an error; matchpanic fails every fourth rider's match
// before it is stored or published, an error the api reports only as an
// attribute; notifyretry makes matcher publish again after each 503.
func TestRideShapes(t *testing.T) {
	const n = 12 // riders 0..11
	for _, tc := range []struct {
		bug   Bug
		check func(t *testing.T, st map[int]int, sh shape, spans []sdktrace.ReadOnlySpan)
	}{
		{BugNone, func(t *testing.T, st map[int]int, sh shape, _ []sdktrace.ReadOnlySpan) {
			if st[201] != n || sh.spans["pricing ride.v1.Pricing/Quote"] != n || sh.spans["geo ride.v1.Geo/Nearby"] != 4*n ||
				sh.spans["tripdb INSERT trips"] != n || sh.spans["matcher INSERT trips"] != n || sh.spans["notifier trips process"] != n ||
				sh.spans["notifier POST /publish"] != n || sh.spans["notifier receipts flush"] < 1 || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugFareStale, func(t *testing.T, st map[int]int, sh shape, _ []sdktrace.ReadOnlySpan) {
			if st[201] != n || sh.spans["pricing ride.v1.Pricing/Quote"] != n-n/3 || sh.spans["matcher ride.v1.Matcher/Match"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugMatchPanic, func(t *testing.T, st map[int]int, sh shape, spans []sdktrace.ReadOnlySpan) {
			if st[201] != n-n/4 || st[502] != n/4 || sh.spans["tripdb INSERT trips"] != n-n/4 || sh.spans["matcher trips publish"] != n-n/4 ||
				sh.spans["geo ride.v1.Geo/Nearby"] != 4*n || sh.errors["matcher ride.v1.Matcher/Match"] != n/4 || sh.errors["dispatch POST /dispatch"] != n/4 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
			codes502 := 0
			for _, s := range spans {
				if resourceAttr(s, "service.name") != "api" || s.SpanKind() != trace.SpanKindServer {
					continue
				}
				if s.Status().Code != codes.Unset {
					t.Errorf("api span status %v, want unset", s.Status())
				}
				if v, _ := attr(s, "http.response.status_code"); v == "502" {
					codes502++
				}
			}
			if codes502 != n/4 {
				t.Errorf("%d api spans with status code 502, want %d", codes502, n/4)
			}
		}},
		{BugNotifyRetry, func(t *testing.T, st map[int]int, sh shape, _ []sdktrace.ReadOnlySpan) {
			// calls 1, 3, 6, 8, 11, 13, ... answer 503: 12 messages take 20 calls
			if st[201] != n || sh.spans["notifier POST /publish"] != 20 || sh.errors["notifier POST /publish"] != 8 ||
				sh.spans["notifier trips process"] != n || sh.spans["matcher trips publish"] != n {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
	} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.PushTime = time.Millisecond })
			st := sys.do(t, http.MethodPost, "/v1/rides/north", n)
			spans := sys.drain(t)
			tc.check(t, st, shapeOf(spans), spans)
		})
	}
}

// TestTrace: a ride is one trace from the api to the geo replicas (both
// of them, round-robin), tripdb (whose span's parent is the caller's
// client span, through the statement's comment) and the push (a consumer
// span whose parent is the producer span); the receipts batch is a span
// of its own linked to the producer spans; the api names spans by route.
func TestTrace(t *testing.T) {
	sys := startSystem(t, BugNone, func(c *Config) { c.PushTime = time.Millisecond })
	if st := sys.do(t, http.MethodPost, "/v1/rides/east", 2); st[201] != 2 {
		t.Fatalf("statuses %v", st)
	}
	if st := sys.do(t, http.MethodGet, "/v1/rides/recent", 1); st[200] != 1 {
		t.Fatalf("statuses %v", st)
	}
	if st := sys.do(t, http.MethodPost, "/v1/drivers/any/ping", 2); st[202] != 2 {
		t.Fatalf("statuses %v", st)
	}
	spans := sys.drain(t)
	by := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		by[resourceAttr(s, "service.name")+" "+s.Name()] = append(by[resourceAttr(s, "service.name")+" "+s.Name()], s)
	}
	root := by["api POST /v1/rides/{city}"]
	dbServer, dbClient := by["tripdb INSERT trips"], by["matcher INSERT trips"]
	prod, cons, flush := by["matcher trips publish"], by["notifier trips process"], by["notifier receipts flush"]
	if len(root) != 2 || len(dbServer) != 2 || len(dbClient) != 2 || len(prod) != 2 || len(cons) != 2 || len(flush) < 1 ||
		len(by["api GET /v1/rides/{id}"]) != 1 || len(by["dispatch GET /trips/{id}"]) != 1 || len(by["tripdb SELECT trips"]) != 1 ||
		len(by["api POST /v1/drivers/{id}/ping"]) != 2 {
		t.Fatalf("spans %v", shapeOf(spans).spans)
	}
	parent := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		parent[s.SpanContext().SpanID()] = s
	}
	for i := range 2 {
		if p := parent[dbServer[i].Parent().SpanID()]; p == nil || p.Name() != "INSERT trips" || p.SpanKind() != trace.SpanKindClient {
			t.Errorf("tripdb span's parent %v, want the matcher's client span", p)
		}
		if v, ok := attr(dbClient[i], "db.operation.name"); !ok || v != "INSERT" {
			t.Errorf("db client span attribute db.operation.name %q, %v", v, ok)
		}
		if p := parent[cons[i].Parent().SpanID()]; p == nil || p.Name() != "trips publish" || p.SpanKind() != trace.SpanKindProducer ||
			cons[i].SpanContext().TraceID() != p.SpanContext().TraceID() || cons[i].SpanKind() != trace.SpanKindConsumer {
			t.Errorf("consumer span's parent %v, want the producer span in its trace", p)
		}
	}
	links := 0
	for _, f := range flush {
		links += len(f.Links())
	}
	if links != 2 {
		t.Errorf("receipts flush spans link %d producer spans, want 2", links)
	}
	replicas := map[string]int{}
	for _, s := range by["geo ride.v1.Geo/Nearby"] {
		replicas[resourceAttr(s, "service.instance.id")]++
		if s.SpanContext().TraceID() != root[0].SpanContext().TraceID() && s.SpanContext().TraceID() != root[1].SpanContext().TraceID() {
			t.Errorf("geo span not in a ride's trace")
		}
	}
	if len(replicas) != 2 {
		t.Errorf("Nearby served by %v, want both replicas", replicas)
	}
}

// TestDBFsync: trip inserts go to the log without a sync on the
// statement path; under dbfsync every third is committed with an fsync
// per chunk.
func TestDBFsync(t *testing.T) {
	for _, tc := range []struct {
		bug    Bug
		fsyncs int64
	}{{BugNone, 0}, {BugDBFsync, 2 * 32}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.PushTime = time.Millisecond })
			if st := sys.do(t, http.MethodPost, "/v1/rides/west", 6); st[201] != 6 {
				t.Fatalf("statuses %v", st)
			}
			if got := sys.svcs["tripdb-0"].tdb.log.fsyncs.Load(); got != tc.fsyncs {
				t.Errorf("fsyncs %d, want %d", got, tc.fsyncs)
			}
		})
	}
}

// TestGeoConvoy: under geoconvoy every fourth lookup rebuilds its cell
// while holding the index mutex (the hook runs with the mutex held);
// without it no lookup does.
func TestGeoConvoy(t *testing.T) {
	for _, tc := range []struct {
		bug     Bug
		rebuilt int
	}{{BugNone, 0}, {BugGeoConvoy, 2}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.Role, cfg.Bug = RoleGeo, tc.bug
			svc, err := New(cfg, sdktrace.NewTracerProvider(), slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			rebuilt, held := 0, 0
			hook := func() {
				rebuilt++
				if !svc.geoMu.TryLock() {
					held++
				} else {
					svc.geoMu.Unlock()
				}
			}
			svc.onHold.Store(&hook)
			for cell := range 8 {
				if _, err := svc.nearby(context.Background(), answer(map[string]any{"cell": float64(cell)})); err != nil {
					t.Fatal(err)
				}
			}
			if rebuilt != tc.rebuilt || held != tc.rebuilt {
				t.Errorf("%d rebuilds, %d with the index mutex held; want %d", rebuilt, held, tc.rebuilt)
			}
		})
	}
}

// TestPushPool: queued messages are pushed by several workers at once;
// under pushpool by one.
func TestPushPool(t *testing.T) {
	for _, tc := range []struct {
		bug             Bug
		atLeast, atMost int64
	}{{BugNone, 3, 8}, {BugPushPool, 1, 1}} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug, func(c *Config) { c.PushTime = 80 * time.Millisecond })
			if st := sys.do(t, http.MethodPost, "/v1/rides/south", 12); st[201] != 12 {
				t.Fatalf("statuses %v", st)
			}
			spans := sys.drain(t)
			if got := sys.svcs["notifier-0"].maxPushes.Load(); got < tc.atLeast || got > tc.atMost {
				t.Errorf("at most %d pushes at once, want %d to %d", got, tc.atLeast, tc.atMost)
			}
			if sh := shapeOf(spans); sh.spans["notifier trips process"] != 12 {
				t.Errorf("shape %v", sh.spans)
			}
		})
	}
}

// TestDBExecRefuses: tripdb runs only the statements it knows; the error
// names the field, never the statement.
func TestDBExecRefuses(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	svc, err := New(cfg, sdktrace.NewTracerProvider(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	req, _ := structpb.NewStruct(map[string]any{"sql": "DROP TABLE secret", "key": 1.0, "rows": 1.0})
	if _, err := svc.dbExec(context.Background(), req); err == nil || !strings.Contains(err.Error(), "sql") || strings.Contains(err.Error(), "secret") {
		t.Errorf("unknown statement: %v", err)
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
		{func(c *Config) { c.Replica = -1 }, "replica"},
		{func(c *Config) { c.Cells = 0 }, "cells"},
		{func(c *Config) { c.SaturatedPushers = 9 }, "pushers"},
		{func(c *Config) { c.SyncChunkBytes = c.SyncBytes + 1 }, "sync bytes"},
		{func(c *Config) { c.Bug = "secret" }, "bug"},
		{func(c *Config) { c.Role, c.Addrs = RoleNotifier, map[Role]string{RoleTripDB: "secret-host"} }, "tripdb address"},
		{func(c *Config) {
			c.Role, c.GeoAddrs = RoleAPI, []string{"secret"}
			c.Addrs = map[Role]string{RoleDispatch: "http://127.0.0.1:1"}
		}, "geo addresses"},
		{func(c *Config) {
			c.Role, c.GeoAddrs = RoleAPI, []string{"127.0.0.1:1"}
			c.Addrs = map[Role]string{RoleDispatch: "secret:1"}
		}, "dispatch address"},
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
