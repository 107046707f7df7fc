package shop

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

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// system is the six services in-process on loopback, each with its own
// tracer provider recording into one span recorder.
type system struct {
	rec  *tracetest.SpanRecorder
	svcs map[Role]*Service
	tps  []*sdktrace.TracerProvider
	url  string // the gateway
}

func startSystem(t *testing.T, bug Bug) *system {
	t.Helper()
	sys := &system{rec: tracetest.NewSpanRecorder(), svcs: map[Role]*Service{}}
	urls, grpcs := map[Role]string{}, map[Role]string{}
	for _, role := range Roles {
		cfg := DefaultConfig()
		cfg.Role, cfg.Bug, cfg.DataDir = role, bug, t.TempDir()
		cfg.CatalogGRPC, cfg.PricingGRPC = grpcs[RoleCatalog], grpcs[RolePricing]
		cfg.InventoryURL, cfg.PaymentsURL, cfg.OrdersURL = urls[RoleInventory], urls[RolePayments], urls[RoleOrders]
		tp, err := NewTracerProvider(context.Background(), &cfg, "")
		if err != nil {
			t.Fatal(err)
		}
		tp.RegisterSpanProcessor(sys.rec)
		sys.tps = append(sys.tps, tp)
		svc, err := New(cfg, tp, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatalf("%s: %v", role, err)
		}
		srv := httptest.NewServer(svc)
		urls[role] = srv.URL
		sys.svcs[role] = svc
		t.Cleanup(func() { srv.Close(); svc.Close() }) // after the gRPC servers: LIFO
		if role.ServesGRPC() {
			gsrv, err := svc.GRPCServer()
			if err != nil {
				t.Fatal(err)
			}
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			grpcs[role] = l.Addr().String()
			go gsrv.Serve(l)
			t.Cleanup(gsrv.Stop)
		}
	}
	sys.url = urls[RoleGateway]
	return sys
}

// drain closes orders (its queue drained) and returns the ended spans.
func (sys *system) drain(t *testing.T) []sdktrace.ReadOnlySpan {
	t.Helper()
	if err := sys.svcs[RoleOrders].Close(); err != nil {
		t.Fatal(err)
	}
	return sys.rec.Ended()
}

func (sys *system) checkouts(t *testing.T, n int) map[int]int {
	t.Helper()
	status := map[int]int{}
	for range n {
		resp, err := http.Post(sys.url+"/checkout", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status[resp.StatusCode]++
	}
	return status
}

// shape counts spans by service/name and error spans by service.
type shape struct {
	spans, errors map[string]int
}

func shapeOf(spans []sdktrace.ReadOnlySpan) shape {
	sh := shape{spans: map[string]int{}, errors: map[string]int{}}
	for _, s := range spans {
		svc := ""
		for _, kv := range s.Resource().Attributes() {
			if kv.Key == "service.name" {
				svc = kv.Value.AsString()
			}
		}
		sh.spans[svc+" "+s.Name()]++
		if s.Status().Code == codes.Error {
			sh.errors[svc]++
		}
	}
	return sh
}

// TestShopShapes: a checkout is one trace across the six services (the
// fan-out, the charge, the order and its async fulfilment); each bug
// changes the shape the way the package doc says.
func TestShopShapes(t *testing.T) {
	const n = 12 // products cycle through 16: 4 of 12 are "every third"
	for _, tc := range []struct {
		bug   Bug
		check func(t *testing.T, st map[int]int, sh shape)
	}{
		{BugNone, func(t *testing.T, st map[int]int, sh shape) {
			if st[200] != n || sh.spans["orders orders.fulfil"] != n || sh.spans["inventory POST /reserve"] != n ||
				sh.spans["payments POST /charge"] != n || sh.spans["gateway debugai.shop.v1.Pricing/Quote"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugDropFulfil, func(t *testing.T, st map[int]int, sh shape) {
			if st[200] != n || sh.spans["orders POST /orders"] != n || sh.spans["orders orders.fulfil"] != 0 || sh.spans["inventory POST /reserve"] != 0 || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugQuotePanic, func(t *testing.T, st map[int]int, sh shape) {
			if st[502] != 4 || st[200] != 8 || sh.spans["payments POST /charge"] != 8 || sh.errors["pricing"] != 4 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugCatalogPanic, func(t *testing.T, st map[int]int, sh shape) {
			if st[404] != 4 || st[200] != 8 || sh.spans["payments POST /charge"] != 8 || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugRetryStorm, func(t *testing.T, st map[int]int, sh shape) {
			if st[200] != n || sh.spans["payments POST /charge"] != 3*n || sh.spans["payments payments.card.authorize"] != n {
				t.Errorf("statuses %v, shape %v", st, sh.spans)
			}
		}},
		{BugFlagFlip, func(t *testing.T, st map[int]int, sh shape) {
			if st[200] != n || sh.spans["orders orders.fulfil"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
	} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystem(t, tc.bug)
			st := sys.checkouts(t, n)
			tc.check(t, st, shapeOf(sys.drain(t)))
		})
	}
}

// TestShopAsyncHop: the fulfilment consumer span is in the checkout's
// trace, a child of the producer span and linked to it.
func TestShopAsyncHop(t *testing.T) {
	sys := startSystem(t, BugNone)
	sys.checkouts(t, 1)
	spans := sys.drain(t)
	var prod, cons sdktrace.ReadOnlySpan
	for _, s := range spans {
		switch s.Name() {
		case "orders.enqueue":
			prod = s
		case "orders.fulfil":
			cons = s
		}
	}
	if prod == nil || cons == nil {
		t.Fatalf("producer %v, consumer %v", prod, cons)
	}
	if cons.Parent().SpanID() != prod.SpanContext().SpanID() || cons.SpanContext().TraceID() != prod.SpanContext().TraceID() ||
		len(cons.Links()) != 1 || cons.Links()[0].SpanContext.SpanID() != prod.SpanContext().SpanID() {
		t.Errorf("consumer parent %v links %v, producer %v", cons.Parent(), cons.Links(), prod.SpanContext())
	}
}

// TestShopCache: catalog reads the store once per product while its
// cache holds; with nocache, on every lookup.
func TestShopCache(t *testing.T) {
	for _, tc := range []struct {
		bug  Bug
		want int
	}{{BugNone, 16}, {BugNoCache, 32}} {
		sys := startSystem(t, tc.bug)
		sys.checkouts(t, 32)
		if got := shapeOf(sys.drain(t)).spans["inventory GET /items"]; got != tc.want {
			t.Errorf("%s: %d store reads, want %d", tc.bug, got, tc.want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		edit func(*Config)
		want string
	}{
		{func(c *Config) { c.Role = "db" }, "role"},
		{func(c *Config) { c.Bug = "deadlock" }, "bug"},
		{func(c *Config) { c.Products = 1 }, "products"},
		{func(c *Config) { c.SaturatedWorkers = 99 }, "payment workers"},
		{func(c *Config) { c.Role = RoleGateway }, "catalog gRPC"},
		{func(c *Config) { c.Role = RoleOrders; c.InventoryURL = "ftp://x" }, "inventory URL"},
		{func(c *Config) { c.Bug = BugCPUQuota }, "cgroups"},
	} {
		c := DefaultConfig()
		tc.edit(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", c, err, tc.want)
		}
	}
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Errorf("default: %v", err)
	}
}
