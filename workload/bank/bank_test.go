package bank

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"google.golang.org/grpc"

	"github.com/debugai/debugai/hint/otelhint"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"default ledger", func(*Config) {}, ""},
		{"frontend", func(c *Config) { c.Role, c.LedgerURL = RoleFrontend, "http://127.0.0.1:1" }, ""},
		{"frontend with gRPC", func(c *Config) {
			c.Role, c.LedgerURL, c.LedgerGRPC = RoleFrontend, "http://127.0.0.1:1", "127.0.0.1:9090"
		}, ""},
		{"gRPC address on the ledger", func(c *Config) { c.LedgerGRPC = "127.0.0.1:9090" }, "only the frontend"},
		{"gRPC address without port", func(c *Config) { c.Role, c.LedgerURL, c.LedgerGRPC = RoleFrontend, "http://127.0.0.1:1", "127.0.0.1" }, `ledger gRPC address "127.0.0.1"`},
		{"gRPC address port 0", func(c *Config) { c.Role, c.LedgerURL, c.LedgerGRPC = RoleFrontend, "http://127.0.0.1:1", "127.0.0.1:0" }, `ledger gRPC address "127.0.0.1:0"`},
		{"gRPC address without host", func(c *Config) { c.Role, c.LedgerURL, c.LedgerGRPC = RoleFrontend, "http://127.0.0.1:1", ":9090" }, `ledger gRPC address ":9090"`},
		{"ledger with data dir", func(c *Config) { c.DataDir = dir }, ""},
		{"v2 regression", func(c *Config) { c.Version, c.Bug = "v2", BugRegression }, ""},
		{"role", func(c *Config) { c.Role = "cache" }, `role "cache"`},
		{"version", func(c *Config) { c.Version = "v3" }, `version "v3"`},
		{"bug", func(c *Config) { c.Bug = "deadlock" }, `bug "deadlock"`},
		{"pthread locks", func(c *Config) { c.Bug, c.Locks = BugLockInv, LocksPthread }, ""},
		{"locks", func(c *Config) { c.Locks = "spin" }, `locks "spin"`},
		{"frontend without ledger", func(c *Config) { c.Role = RoleFrontend }, `ledger URL ""`},
		{"ledger URL scheme", func(c *Config) { c.Role, c.LedgerURL = RoleFrontend, "ftp://x" }, `ledger URL "ftp://x"`},
		{"snapshot", func(c *Config) { c.SnapshotBytes = 0 }, "snapshot bytes 0"},
		{"accounts", func(c *Config) { c.Accounts = 1 }, "accounts 1"},
		{"chunk", func(c *Config) { c.SyncChunkBytes = c.SnapshotBytes + 1 }, "sync chunk bytes"},
		{"rounds", func(c *Config) { c.RegressionRounds = -1 }, "regression rounds -1"},
		{"missing data dir", func(c *Config) { c.DataDir = dir + "/nope" }, "data directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			tc.edit(&c)
			err := c.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrInvalidConfig)):
				t.Fatalf("Validate: %v, want an ErrInvalidConfig containing %q", err, tc.want)
			}
		})
	}
}

// system is a frontend and a ledger on loopback, each tracing into its
// own in-memory exporter through a real SDK with the hint processor. With
// gRPC the ledger also serves Authorize on ledgGRPC at grpcAddr and the
// frontend calls it.
type system struct {
	frontend, ledger      *Service
	frontURL              string
	frontSpans, ledgSpans *tracetest.InMemoryExporter
	frontSrv, ledgSrv     *httptest.Server
	frontTP, ledgTP       *sdktrace.TracerProvider
	ledgGRPC              *grpc.Server
	grpcAddr              string
	grpcDone              chan struct{} // closed when ledgGRPC's Serve returned grpcErr
	grpcErr               error
}

// stopGRPC stops the ledger's gRPC server and waits until its Serve has
// returned (and closed the listener).
func (s *system) stopGRPC(t *testing.T) {
	t.Helper()
	s.ledgGRPC.Stop()
	<-s.grpcDone
	if s.grpcErr != nil && !errors.Is(s.grpcErr, grpc.ErrServerStopped) { // stopped before it served
		t.Errorf("serving gRPC: %v", s.grpcErr)
	}
}

func newTracer(t *testing.T, cfg *Config) (*sdktrace.TracerProvider, *tracetest.InMemoryExporter) {
	t.Helper()
	res, err := Resource(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(otelhint.New()), sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return tp, exp
}

func newSystem(t *testing.T, version string, bug Bug) *system {
	t.Helper()
	return newSystemWith(t, version, bug, false)
}

// newSystemWith is newSystem, with the gRPC Authorize hop when withGRPC.
func newSystemWith(t *testing.T, version string, bug Bug, withGRPC bool) *system {
	t.Helper()
	s := &system{}
	lc := DefaultConfig()
	lc.Version, lc.Bug, lc.DataDir, lc.SnapshotBytes, lc.SyncChunkBytes, lc.RegressionRounds = version, bug, t.TempDir(), 4096, 1024, 50
	lc.FaultFileBytes, lc.FaultPages = 1<<20, 4
	s.ledgTP, s.ledgSpans = newTracer(t, &lc)
	var err error
	if s.ledger, err = New(lc, s.ledgTP); err != nil {
		t.Fatal(err)
	}
	s.ledgSrv = httptest.NewServer(s.ledger)
	fc := lc
	fc.Role, fc.LedgerURL = RoleFrontend, s.ledgSrv.URL
	if withGRPC {
		if s.ledgGRPC, err = s.ledger.GRPCServer(); err != nil {
			t.Fatal(err)
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		s.grpcDone = make(chan struct{})
		go func() { s.grpcErr = s.ledgGRPC.Serve(l); close(s.grpcDone) }()
		s.grpcAddr = l.Addr().String()
		fc.LedgerGRPC = s.grpcAddr
	}
	s.frontTP, s.frontSpans = newTracer(t, &fc)
	if s.frontend, err = New(fc, s.frontTP); err != nil {
		t.Fatal(err)
	}
	s.frontSrv = httptest.NewServer(s.frontend)
	s.frontURL = s.frontSrv.URL
	t.Cleanup(func() {
		s.frontSrv.Close()
		s.ledgSrv.Close()
		if s.ledgGRPC != nil {
			s.stopGRPC(t)
		}
		for _, svc := range []*Service{s.frontend, s.ledger} {
			if err := svc.Close(); err != nil {
				t.Error(err)
			}
		}
	})
	return s
}

func do(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestBankTransferTraced: a transfer and a balance read through the
// frontend work under every bug, and each request is one trace across
// both services (W3C propagation) with the expected span names and
// resources.
func TestBankTransferTraced(t *testing.T) {
	for _, tc := range []struct {
		version string
		bug     Bug
	}{{"v1", BugNone}, {"v1", BugConvoy}, {"v2", BugRegression}, {"v1", BugRegression}} {
		t.Run(tc.version+"/"+string(tc.bug), func(t *testing.T) {
			s := newSystem(t, tc.version, tc.bug)
			if code, body := do(t, http.MethodPost, s.frontURL+"/transfer?from=3&to=4&amount=7"); code != http.StatusOK {
				t.Fatalf("transfer: %d %s", code, body)
			}
			if code, body := do(t, http.MethodGet, s.frontURL+"/balance?account=4"); code != http.StatusOK || body != "balance 1099511627783" {
				t.Fatalf("balance: %d %q", code, body)
			}
			checkSpans(t, s, tc.version)
			recomputed := s.ledger.ledger.sink != [32]byte{}
			if want := tc.version == "v2" && tc.bug == BugRegression; recomputed != want {
				t.Errorf("balance recomputed %v, want %v", recomputed, want)
			}
		})
	}
}

func checkSpans(t *testing.T, s *system, version string) {
	t.Helper()
	names := map[string]map[string]bool{}
	traces := map[string]bool{}
	for svc, exp := range map[string]*tracetest.InMemoryExporter{"frontend": s.frontSpans, "ledger": s.ledgSpans} {
		names[svc] = map[string]bool{}
		for _, sp := range exp.GetSpans() {
			names[svc][sp.Name] = true
			traces[sp.SpanContext.TraceID().String()] = true
			attrs := map[attribute.Key]string{}
			for _, kv := range sp.Resource.Attributes() {
				attrs[kv.Key] = kv.Value.Emit()
			}
			if attrs["service.name"] != svc || attrs["service.version"] != version || attrs["process.pid"] == "" {
				t.Errorf("%s span %q: resource %v", svc, sp.Name, attrs)
			}
		}
	}
	for svc, want := range map[string][]string{
		"frontend": {"POST /transfer", "GET /balance", "POST /entries", "GET /balance"},
		"ledger":   {"POST /entries", "ledger.commit", "GET /balance"},
	} {
		for _, n := range want {
			if !names[svc][n] {
				t.Errorf("%s has no span %q: %v", svc, n, names[svc])
			}
		}
	}
	if len(traces) != 2 {
		t.Errorf("%d traces, want 2 (one per request, across both services)", len(traces))
	}
}

// TestBankAdmin switches the bug at run time, rejects unknown bugs and
// leaves the admin endpoints untraced.
func TestBankAdmin(t *testing.T) {
	s := newSystem(t, "v1", BugNone)
	for _, tc := range []struct {
		method, path string
		code         int
		bug          Bug
	}{
		{http.MethodPost, "/admin/bug?bug=convoy", http.StatusNoContent, BugConvoy},
		{http.MethodPost, "/admin/bug?bug=deadlock", http.StatusBadRequest, BugConvoy},
		{http.MethodGet, "/admin/bug?bug=none", http.StatusMethodNotAllowed, BugConvoy},
		{http.MethodPost, "/admin/flush", http.StatusNoContent, BugConvoy},
		{http.MethodPost, "/admin/bug?bug=none", http.StatusNoContent, BugNone},
		{http.MethodGet, "/healthz", http.StatusOK, BugNone},
	} {
		if code, body := do(t, tc.method, s.ledgSrv.URL+tc.path); code != tc.code || s.ledger.Bug() != tc.bug {
			t.Errorf("%s %s: %d %q, bug %s; want %d, bug %s", tc.method, tc.path, code, body, s.ledger.Bug(), tc.code, tc.bug)
		}
	}
	if n := len(s.ledgSpans.GetSpans()); n != 0 {
		t.Errorf("admin requests made %d spans", n)
	}
	for _, path := range []string{"/transfer?from=1&to=1", "/transfer?from=x", "/balance?account=100"} {
		method := http.MethodPost
		if strings.HasPrefix(path, "/balance") {
			method = http.MethodGet
		}
		if code, _ := do(t, method, s.frontURL+path); code != http.StatusBadRequest {
			t.Errorf("%s: %d, want 400 from the ledger", path, code)
		}
	}
}
