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
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
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
	return startSystemWith(t, bug, nil)
}

// startSystemWith starts the system with edit applied to every service's
// configuration.
func startSystemWith(t *testing.T, bug Bug, edit func(*Config)) *system {
	t.Helper()
	sys := &system{rec: tracetest.NewSpanRecorder(), svcs: map[Role]*Service{}}
	urls, grpcs := map[Role]string{}, map[Role]string{}
	for _, role := range Roles {
		cfg := DefaultConfig()
		cfg.Role, cfg.Bug, cfg.DataDir = role, bug, t.TempDir()
		cfg.CatalogGRPC, cfg.PricingGRPC = grpcs[RoleCatalog], grpcs[RolePricing]
		cfg.InventoryURL, cfg.PaymentsURL, cfg.OrdersURL = urls[RoleInventory], urls[RolePayments], urls[RoleOrders]
		if edit != nil {
			edit(&cfg)
		}
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
		{func(c *Config) { c.Role, c.InventoryURL, c.Bug = RoleOrders, "http://127.0.0.1:1", BugOrdersQuota }, "cgroups"},
		{func(c *Config) { c.StockDelay = -time.Second }, "stock delay"},
		{func(c *Config) { c.SaturatedConns = 0 }, "saturated connections"},
		{func(c *Config) { c.RenderRounds = -1 }, "render rounds"},
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
	c.Role, c.CatalogStock, c.CatalogGRPC, c.PricingGRPC = RoleGateway, true, "127.0.0.1:1", "127.0.0.1:2"
	c.PaymentsURL, c.OrdersURL = "http://127.0.0.1:3", "http://127.0.0.1:4"
	if err := c.Validate(); err != nil {
		t.Errorf("a gateway with --catalog-stock needs no inventory URL: %v", err)
	}
}

// catalogStock is corpus 3's topology.
func catalogStock(c *Config) { c.CatalogStock = true }

// TestShopCorpus3Shapes: with CatalogStock the gateway does not call
// inventory and catalog reads the stock on every lookup; each corpus 3
// bug changes the shape the way the package doc says.
func TestShopCorpus3Shapes(t *testing.T) {
	const n = 12 // products 0 to 11: 3, 7 and 11 are "every fourth"
	for _, tc := range []struct {
		bug   Bug
		check func(t *testing.T, st map[int]int, sh shape)
	}{
		{BugNone, func(t *testing.T, st map[int]int, sh shape) {
			if st[200] != n || sh.spans["gateway GET /stock"] != 0 || sh.spans["catalog GET /stock"] != n ||
				sh.spans["inventory GET /stock"] != n || sh.spans["inventory POST /reserve"] != n || len(sh.errors) != 0 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugStockPanic, func(t *testing.T, st map[int]int, sh shape) { // a third fail; inventory's spans carry no error
			if st[502] != 4 || st[200] != 8 || sh.spans["inventory GET /stock"] != n || sh.spans["payments POST /charge"] != 8 ||
				sh.errors["inventory"] != 0 || sh.errors["catalog"] != 8 || sh.errors["gateway"] != 8 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugPaymentsError, func(t *testing.T, st map[int]int, sh shape) { // not retried
			if st[502] != 3 || st[200] != 9 || sh.spans["payments POST /charge"] != n || sh.errors["payments"] != 3 ||
				sh.spans["payments payments.card.authorize"] != 9 || sh.spans["orders POST /orders"] != 9 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
		{BugReserveFail, func(t *testing.T, st map[int]int, sh shape) { // every third call fails: 17 calls for 12
			if st[200] != n || sh.spans["orders orders.fulfil"] != n || sh.spans["inventory POST /reserve"] != 17 ||
				sh.spans["orders POST /reserve"] != 17 || sh.errors["inventory"] != 5 {
				t.Errorf("statuses %v, shape %v, errors %v", st, sh.spans, sh.errors)
			}
		}},
	} {
		t.Run(string(tc.bug), func(t *testing.T) {
			sys := startSystemWith(t, tc.bug, catalogStock)
			st := sys.checkouts(t, n)
			tc.check(t, st, shapeOf(sys.drain(t)))
		})
	}
}

// TestShopPayFsync: under payfsync every charge writes a journal record
// (none without the bug).
func TestShopPayFsync(t *testing.T) {
	for _, tc := range []struct {
		bug  Bug
		want int64
	}{{BugNone, 0}, {BugPayFsync, 5}} {
		sys := startSystemWith(t, tc.bug, catalogStock)
		sys.checkouts(t, 5)
		if got := sys.svcs[RolePayments].ledger.next.Load(); got != tc.want {
			t.Errorf("%s: %d journaled charges, want %d", tc.bug, got, tc.want)
		}
	}
}

// TestShopCatalogConvoy: under catalogconvoy every third lookup renders
// while it holds the cache mutex: a lookup that finds the mutex taken
// waits for the render.
func TestShopCatalogConvoy(t *testing.T) {
	sys := startSystemWith(t, BugCatalogConvoy, catalogStock)
	if st := sys.checkouts(t, 6); st[200] != 6 {
		t.Fatalf("statuses %v", st)
	}
	cat := sys.svcs[RoleCatalog]
	if got := cat.renders.Load(); got != 6 {
		t.Errorf("%d lookups counted, want 6", got)
	}
	cat.cacheMu.Lock() // a render in progress
	done := make(chan time.Time, 1)
	go func() {
		sys.checkouts(t, 1)
		done <- time.Now()
	}()
	time.Sleep(50 * time.Millisecond) // the hold: what the waiter must outlast
	released := time.Now()
	cat.cacheMu.Unlock()
	if end := <-done; end.Before(released) {
		t.Errorf("the checkout ended %v before the cache mutex was released", released.Sub(end))
	}
}

// TestShopCatalogPool: under catalogpool at most SaturatedConns stock
// reads reach inventory at once; without it, more.
func TestShopCatalogPool(t *testing.T) {
	for _, tc := range []struct {
		bug      Bug
		min, max int
	}{{BugNone, 3, 8}, {BugCatalogPool, 1, 2}} {
		sys := startSystemWith(t, tc.bug, func(c *Config) { c.CatalogStock, c.StockDelay = true, 100*time.Millisecond })
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() { sys.checkouts(t, 1) })
		}
		wg.Wait()
		var reads []sdktrace.ReadOnlySpan
		for _, s := range sys.drain(t) {
			if s.Name() == "GET /stock" && s.SpanKind() == trace.SpanKindServer {
				reads = append(reads, s)
			}
		}
		most := 0
		for _, a := range reads {
			n := 0
			for _, b := range reads {
				if !b.StartTime().After(a.StartTime()) && b.EndTime().After(a.StartTime()) {
					n++
				}
			}
			most = max(most, n)
		}
		if len(reads) != 8 || most < tc.min || most > tc.max {
			t.Errorf("%s: %d stock reads, at most %d at once; want %d to %d", tc.bug, len(reads), most, tc.min, tc.max)
		}
	}
}
