// Package shop is debugai's six-service demo system with real, switchable
// bugs, the workload of corpora 2 and 3 (EVAL.md). It is a package of its own
// rather than an extension of package bank: bank's two services, their
// flags and the eleven bundles recorded from them stay byte-for-byte
// reproducible, while shop needs a different topology (a fan-out, a cache,
// an async hop) and bugs that span several services.
//
// The services, one process each (Role), all traced with the
// OpenTelemetry Go SDK (otelhttp, otelgrpc, W3C trace context: one
// checkout is one trace) with the hint span processor registered
// (hint/otelhint), so that the node collector stamps kernel events with
// the active span:
//
//   - gateway (HTTP): POST /checkout and GET /product. A checkout fans out
//     in parallel to catalog GetProduct (gRPC), pricing Quote (gRPC) and
//     inventory GET /stock (HTTP); then it charges payments POST /charge
//     (HTTP, retried up to RetryAttempts times on 503 or a failed call) and
//     places the order with orders POST /orders (HTTP). GET /product asks
//     catalog and pricing in parallel.
//   - catalog (gRPC debugai.shop.v1.Catalog/GetProduct): an in-process
//     cache (CacheTTL per product) in front of the inventory store: a miss
//     calls inventory GET /items.
//   - pricing (gRPC debugai.shop.v1.Pricing/Quote): CPU work per quote.
//   - inventory (HTTP): the store. GET /stock and GET /items read its
//     table under one mutex (an item read holds it for ItemHold, the
//     store's page read); POST /reserve writes a reservation record.
//   - payments (HTTP POST /charge): a worker pool of PaymentWorkers slots
//     (span payments.pool.acquire), then the card network's answer
//     (CardDelay, span payments.card.authorize).
//   - orders (HTTP POST /orders): appends the order to its log under a
//     mutex and enqueues a fulfilment job (producer span orders.enqueue);
//     FulfilWorkers background workers consume the queue (consumer span
//     orders.fulfil, a child of the producer span and linked to it) and
//     reserve the item with inventory POST /reserve, trying again (after
//     1 ms) on a 503, up to RetryAttempts times.
//
// With CatalogStock (corpus 3's topology, EVAL.md) the gateway does not
// call inventory: catalog's GetProduct reads the stock (inventory GET
// /stock, which waits StockDelay for the warehouse's answer) on every
// call, so the checkout's stock read is two hops deep, behind catalog's
// client pool to inventory.
//
// The bugs (Bug), switchable at start and at run time (POST
// /admin/bug?bug=NAME, sent to every service; each acts on its own part):
//
//   - dropfulfil (orders): POST /orders hits an error return on the
//     enqueue path that it logs and swallows: it still answers 201 at the
//     same speed, but no fulfilment job is queued, so the orders.fulfil
//     spans and their inventory POST /reserve calls disappear;
//   - quotepanic (pricing): Quote panics on every third product; a
//     recovery interceptor answers codes.Internal (error status on the
//     pricing and gateway spans) and the gateway fails the checkout before
//     payments and orders: traces end early;
//   - catalogpanic (catalog): GetProduct panics on every third product
//     before its cache; a recovery handler answers "not found" with an OK
//     status, and the gateway answers 404 without charging or ordering:
//     traces end early with no error status anywhere;
//   - retrystorm (payments): two of every three charges fail fast with 503
//     (a token cache that keeps expiring); the gateway retries them;
//   - slowquote (pricing): Quote does SlowQuoteFactor times its CPU work;
//     gateway checkouts and product reads look slow;
//   - poolsat (payments, inventory): the payment pool shrinks to
//     SaturatedWorkers slots (requests wait in payments.pool.acquire) and
//     inventory's GET /stock writes an audit record durably (1/32 of a
//     record, fdatasync per chunk) while holding an audit mutex (a lock
//     convoy, the smaller share);
//   - cpuquota (inventory): inventory joins the CPUCgroups, which the
//     caller gives a CPU quota;
//   - nocache (catalog): the cache is bypassed: every GetProduct reads
//     the store, whose item reads queue on its mutex;
//   - workerconvoy (orders): the fulfilment workers hold one mutex across
//     the reservation call and a durable rewrite of the shipping manifest
//     (1/16 of a record, fdatasync per chunk): consumers queue behind the
//     holder; Close drains the queue for at most 3 s;
//   - reservesync (inventory): POST /reserve journals each reservation
//     durably (half a record, fdatasync per chunk) on the request path,
//     outside the mutex;
//
// Corpus 3's bugs (partial faults: a share of the requests):
//
//   - stockpanic (inventory): every third GET /stock panics (a write to
//     a nil map); a recovery middleware outside the tracing middleware
//     answers 500, so inventory's span ends without an error status while
//     its callers fail;
//   - paymentserror (payments): charges of every fourth product fail on
//     a missing currency rule: 500 with an error status; the gateway does
//     not retry other answers than 503 and fails those checkouts;
//   - payfsync (payments): every charge journals its record durably on
//     the charge path (1/8 of a record written in chunks, each fsynced);
//   - catalogconvoy (catalog): every third GetProduct re-renders the
//     product page (RenderRounds of CPU work) while holding the cache
//     mutex that every GetProduct takes;
//   - catalogpool (catalog): catalog's client pool to inventory shrinks
//     to SaturatedConns connections;
//   - reservefail (inventory): every third POST /reserve fails fast with
//     503 (the journal is busy); orders' workers retry them;
//   - ordersquota (orders): orders joins the CPUCgroups, which the
//     caller gives a CPU quota;
//   - flagflip (gateway): turns on a gift-wrap option that only requests
//     with giftwrap=1 take (the load sends none): a flag flip with no
//     effect, for controls;
//   - none.
//
// "debugai workload shop" serves one role; "debugai record --scenario
// shop-*" runs all six with the node collector and records bundles.
package shop

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"
)

// Role is which service a process serves.
type Role string

// Roles.
const (
	RoleGateway   Role = "gateway"
	RoleCatalog   Role = "catalog"
	RoleInventory Role = "inventory"
	RolePricing   Role = "pricing"
	RolePayments  Role = "payments"
	RoleOrders    Role = "orders"
)

// Roles lists every role, leaves first: a service's callees come before it.
var Roles = []Role{RoleInventory, RolePricing, RolePayments, RoleOrders, RoleCatalog, RoleGateway}

// ServesGRPC reports whether the role serves gRPC (its ready line names
// the gRPC address).
func (r Role) ServesGRPC() bool { return r == RoleCatalog || r == RolePricing }

// Bug is a switchable defect.
type Bug string

// Bugs.
const (
	BugNone         Bug = "none"
	BugDropFulfil   Bug = "dropfulfil"
	BugQuotePanic   Bug = "quotepanic"
	BugCatalogPanic Bug = "catalogpanic"
	BugRetryStorm   Bug = "retrystorm"
	BugSlowQuote    Bug = "slowquote"
	BugPoolSat      Bug = "poolsat"
	BugCPUQuota     Bug = "cpuquota"
	BugNoCache      Bug = "nocache"
	BugWorkerConvoy Bug = "workerconvoy"
	BugReserveSync  Bug = "reservesync"
	BugFlagFlip     Bug = "flagflip"
	// Corpus 3.
	BugStockPanic    Bug = "stockpanic"
	BugPaymentsError Bug = "paymentserror"
	BugPayFsync      Bug = "payfsync"
	BugCatalogConvoy Bug = "catalogconvoy"
	BugCatalogPool   Bug = "catalogpool"
	BugReserveFail   Bug = "reservefail"
	BugOrdersQuota   Bug = "ordersquota"
)

// Bugs lists every bug.
var Bugs = []Bug{BugNone, BugDropFulfil, BugQuotePanic, BugCatalogPanic, BugRetryStorm, BugSlowQuote,
	BugPoolSat, BugCPUQuota, BugNoCache, BugWorkerConvoy, BugReserveSync, BugFlagFlip,
	BugStockPanic, BugPaymentsError, BugPayFsync, BugCatalogConvoy, BugCatalogPool, BugReserveFail, BugOrdersQuota}

// quotaRole is the role that joins Config.CPUCgroups under each CPU-quota
// bug.
var quotaRole = map[Bug]Role{BugCPUQuota: RoleInventory, BugOrdersQuota: RoleOrders}

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid shop configuration")

// ParseBug returns the bug named s.
func ParseBug(s string) (Bug, error) {
	for _, b := range Bugs {
		if string(b) == s {
			return b, nil
		}
	}
	return "", fmt.Errorf("%w: bug %q: want one of %v", ErrInvalidConfig, s, Bugs)
}

// Config configures one service. Start from DefaultConfig.
type Config struct {
	// Role is the service.
	Role Role
	// Version is the deployed version (resource attribute service.version).
	Version string
	// Bug is the defect active at start.
	Bug Bug
	// Callees: gRPC addresses (host:port) and HTTP base URLs. The gateway
	// needs all of them (but InventoryURL with CatalogStock); catalog
	// needs InventoryURL; orders needs InventoryURL.
	CatalogGRPC, PricingGRPC             string
	InventoryURL, PaymentsURL, OrdersURL string
	// DataDir holds the files of inventory and orders ("" : the system's
	// temporary directory); it should be on a real disk.
	DataDir string
	// Products is the number of products; the gateway cycles through them.
	Products int
	// CacheTTL is how long catalog keeps a product.
	CacheTTL time.Duration
	// ItemHold is how long an inventory item read holds the store mutex.
	ItemHold time.Duration
	// QuoteRounds is the SHA-256 rounds over 1 KiB per pricing quote;
	// SlowQuoteFactor multiplies them under the slowquote bug.
	QuoteRounds, SlowQuoteFactor int
	// StockRounds is the SHA-256 rounds over 1 KiB per inventory request.
	StockRounds int
	// PaymentWorkers is the payment pool's size; SaturatedWorkers its size
	// under the poolsat bug.
	PaymentWorkers, SaturatedWorkers int
	// CardDelay is how long the card network takes to answer a charge.
	CardDelay time.Duration
	// RetryAttempts is how many times the gateway tries a charge.
	RetryAttempts int
	// FulfilWorkers is the number of orders' background workers.
	FulfilWorkers int
	// RecordBytes and SyncChunkBytes size the durable writes of the
	// poolsat, workerconvoy and reservesync bugs (fdatasync per chunk).
	RecordBytes, SyncChunkBytes int
	// CPUCgroups are cgroup directories inventory joins under the cpuquota
	// bug, and orders under ordersquota; the caller creates them and sets
	// the quota.
	CPUCgroups []string
	// CatalogStock is corpus 3's topology: catalog reads the stock on
	// every GetProduct and the gateway asks catalog, not inventory.
	CatalogStock bool
	// StockDelay is how long inventory's GET /stock waits for the
	// warehouse's answer (outside any lock).
	StockDelay time.Duration
	// SaturatedConns is the size of catalog's client pool to inventory
	// under catalogpool (otherwise unbounded).
	SaturatedConns int
	// RenderRounds is the SHA-256 rounds of a product page render under
	// catalogconvoy.
	RenderRounds int
}

// DefaultConfig is a v1 inventory without bugs: 16 products cached for
// 1 s, item reads holding the store mutex for 6 ms, 40 SHA-256 rounds per
// quote (x40 under slowquote), 10 per inventory request, 16 payment slots
// (1 under poolsat), a 10 ms card network, 4 charge attempts, 4
// fulfilment workers, 512 KiB durable records synced per 8 KiB; no stock
// delay, 2 catalog connections under catalogpool, 12000 rounds (about 7 ms) per render.
func DefaultConfig() Config {
	return Config{Role: RoleInventory, Version: "v1", Bug: BugNone, Products: 16, CacheTTL: time.Second,
		ItemHold: 6 * time.Millisecond, QuoteRounds: 40, SlowQuoteFactor: 40, StockRounds: 10,
		PaymentWorkers: 16, SaturatedWorkers: 1, CardDelay: 10 * time.Millisecond, RetryAttempts: 4,
		FulfilWorkers: 4, RecordBytes: 512 << 10, SyncChunkBytes: 8 << 10, SaturatedConns: 2, RenderRounds: 12000}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidConfig}, args...)...)
	}
	known := false
	for _, r := range Roles {
		known = known || r == c.Role
	}
	switch {
	case !known:
		return bad("role %q: want one of %v", c.Role, Roles)
	case c.Version == "":
		return bad("version: required")
	case c.Products < 3 || c.Products > 1_000_000:
		return bad("products %d: want 3 to 1000000", c.Products)
	case c.CacheTTL < 0 || c.CacheTTL > time.Hour:
		return bad("cache TTL %v: want 0 to 1h", c.CacheTTL)
	case c.ItemHold < 0 || c.ItemHold > time.Second:
		return bad("item hold %v: want 0 to 1s", c.ItemHold)
	case c.QuoteRounds < 0 || c.QuoteRounds > 1_000_000 || c.StockRounds < 0 || c.StockRounds > 1_000_000:
		return bad("quote rounds %d, stock rounds %d: want 0 to 1000000", c.QuoteRounds, c.StockRounds)
	case c.SlowQuoteFactor < 1 || c.SlowQuoteFactor > 10_000:
		return bad("slow quote factor %d: want 1 to 10000", c.SlowQuoteFactor)
	case c.PaymentWorkers < 1 || c.PaymentWorkers > 4096 || c.SaturatedWorkers < 1 || c.SaturatedWorkers > c.PaymentWorkers:
		return bad("payment workers %d, saturated %d: want 1 to 4096, and 1 to the pool size", c.PaymentWorkers, c.SaturatedWorkers)
	case c.CardDelay < 0 || c.CardDelay > 10*time.Second:
		return bad("card delay %v: want 0 to 10s", c.CardDelay)
	case c.RetryAttempts < 1 || c.RetryAttempts > 20:
		return bad("retry attempts %d: want 1 to 20", c.RetryAttempts)
	case c.FulfilWorkers < 1 || c.FulfilWorkers > 1024:
		return bad("fulfil workers %d: want 1 to 1024", c.FulfilWorkers)
	case c.RecordBytes < 1 || c.RecordBytes > 64<<20 || c.SyncChunkBytes < 1 || c.SyncChunkBytes > c.RecordBytes:
		return bad("record bytes %d, sync chunk bytes %d: want 1 to 64 MiB, and 1 to the record size", c.RecordBytes, c.SyncChunkBytes)
	case c.StockDelay < 0 || c.StockDelay > 10*time.Second:
		return bad("stock delay %v: want 0 to 10s", c.StockDelay)
	case c.SaturatedConns < 1 || c.SaturatedConns > 4096:
		return bad("saturated connections %d: want 1 to 4096", c.SaturatedConns)
	case c.RenderRounds < 0 || c.RenderRounds > 1_000_000:
		return bad("render rounds %d: want 0 to 1000000", c.RenderRounds)
	case quotaRole[c.Bug] == c.Role && len(c.CPUCgroups) == 0:
		return bad("the %s bug needs CPU cgroups to join", c.Bug)
	}
	if _, err := ParseBug(string(c.Bug)); err != nil {
		return err
	}
	need := map[Role][]struct{ name, v string }{
		RoleGateway: {{"catalog gRPC", c.CatalogGRPC}, {"pricing gRPC", c.PricingGRPC}, {"inventory URL", c.InventoryURL},
			{"payments URL", c.PaymentsURL}, {"orders URL", c.OrdersURL}},
		RoleCatalog: {{"inventory URL", c.InventoryURL}},
		RoleOrders:  {{"inventory URL", c.InventoryURL}},
	}[c.Role]
	for _, n := range need {
		if c.CatalogStock && c.Role == RoleGateway && n.name == "inventory URL" {
			continue // catalog reads the stock
		}
		if n.name == "catalog gRPC" || n.name == "pricing gRPC" {
			host, port, err := net.SplitHostPort(n.v)
			if p, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || p == 0 || host == "" {
				return bad("%s address %q: want host:port", n.name, n.v)
			}
			continue
		}
		u, err := url.Parse(n.v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return bad("%s %q: want http://host:port", n.name, n.v)
		}
	}
	if c.DataDir != "" {
		fi, err := os.Stat(c.DataDir)
		if err != nil {
			return bad("data directory: %v", err)
		}
		if !fi.IsDir() {
			return bad("data directory %s: not a directory", c.DataDir)
		}
	}
	return nil
}
