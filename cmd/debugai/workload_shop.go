package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/debugai/debugai/workload/shop"
)

const workloadShopUsage = `workload shop [flags]

Serves one role of the shop system (package workload/shop, six services:
gateway, catalog, inventory, pricing, payments, orders), traced with
OpenTelemetry to --otlp with the hint span processor. catalog and pricing
serve gRPC on --grpc-listen (their ready line ends in " grpc ADDR"); the
others serve HTTP only. The gateway takes every callee's address; catalog
and orders take --inventory. --catalog-stock (corpus 3's topology, given
to the gateway and catalog) makes catalog read the stock on every lookup
and the gateway ask catalog instead of inventory. --bug turns on a defect (see the package
doc); POST /admin/bug?bug=NAME switches it at run time and POST
/admin/flush exports the spans ended so far.`

func runWorkloadShop(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg := shop.DefaultConfig()
	fs := newFlagSet("workload shop", workloadShopUsage, env)
	role := fs.String("role", string(cfg.Role), "gateway, catalog, inventory, pricing, payments or orders")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (port 0: any free port)")
	grpcListen := fs.String("grpc-listen", "", "gRPC address of catalog or pricing (port 0: any free port)")
	otlp := fs.String("otlp", "", "OTLP/HTTP traces endpoint (default: no export)")
	bug := fs.String("bug", string(cfg.Bug), "active bug (see the package doc of workload/shop)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "deployed version")
	fs.StringVar(&cfg.CatalogGRPC, "catalog-grpc", "", "catalog's gRPC host:port (gateway)")
	fs.StringVar(&cfg.PricingGRPC, "pricing-grpc", "", "pricing's gRPC host:port (gateway)")
	fs.StringVar(&cfg.InventoryURL, "inventory", "", "inventory's base URL (gateway, catalog, orders)")
	fs.StringVar(&cfg.PaymentsURL, "payments", "", "payments' base URL (gateway)")
	fs.StringVar(&cfg.OrdersURL, "orders", "", "orders' base URL (gateway)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory of inventory's and orders' files (default: the temporary directory)")
	fs.IntVar(&cfg.Products, "products", cfg.Products, "number of products")
	fs.DurationVar(&cfg.CacheTTL, "cache-ttl", cfg.CacheTTL, "how long catalog caches a product")
	fs.DurationVar(&cfg.ItemHold, "item-hold", cfg.ItemHold, "how long an inventory item read holds the store mutex")
	fs.IntVar(&cfg.QuoteRounds, "quote-rounds", cfg.QuoteRounds, "SHA-256 rounds per pricing quote")
	fs.IntVar(&cfg.SlowQuoteFactor, "slow-quote-factor", cfg.SlowQuoteFactor, "quote work multiplier under slowquote")
	fs.IntVar(&cfg.PaymentWorkers, "payment-workers", cfg.PaymentWorkers, "payment pool slots")
	fs.IntVar(&cfg.SaturatedWorkers, "saturated-workers", cfg.SaturatedWorkers, "payment pool slots under poolsat")
	fs.DurationVar(&cfg.CardDelay, "card-delay", cfg.CardDelay, "the card network's answer time")
	fs.IntVar(&cfg.FulfilWorkers, "fulfil-workers", cfg.FulfilWorkers, "orders' background workers")
	fs.BoolVar(&cfg.CatalogStock, "catalog-stock", false, "catalog reads the stock, the gateway does not call inventory (gateway, catalog)")
	fs.DurationVar(&cfg.StockDelay, "stock-delay", cfg.StockDelay, "the warehouse's answer time per inventory stock read")
	fs.IntVar(&cfg.SaturatedConns, "saturated-conns", cfg.SaturatedConns, "catalog's connections to inventory under catalogpool")
	fs.IntVar(&cfg.RenderRounds, "render-rounds", cfg.RenderRounds, "SHA-256 rounds per product page render under catalogconvoy")
	cgroups := fs.String("cpu-cgroups", "", "comma-separated cgroup directories inventory joins under cpuquota, orders under ordersquota")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("workload shop takes no arguments, got %q", fs.Args())
	}
	if *cgroups != "" {
		cfg.CPUCgroups = strings.Split(*cgroups, ",")
	}
	cfg.Role, cfg.Bug = shop.Role(*role), shop.Bug(*bug)
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if (*grpcListen != "") != cfg.Role.ServesGRPC() {
		return usagef("--grpc-listen: catalog and pricing need it, the others take none")
	}
	tp, err := shop.NewTracerProvider(ctx, &cfg, *otlp)
	if err != nil {
		return usageError{err.Error()}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(sctx))
	}()
	svc, err := shop.New(cfg, tp, slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, svc.Close()) }()
	var gsrv *grpc.Server
	if *grpcListen != "" {
		if gsrv, err = svc.GRPCServer(); err != nil {
			return err
		}
	}
	return serveWorkload(ctx, svc, *listen, gsrv, *grpcListen, env)
}

const workloadHogUsage = `workload hog [flags]

Spins --threads OS threads on CPU work until SIGINT or SIGTERM: the noisy
neighbour of debugai record --scenario shop-neighbour (which pins it with
taskset). Prints "hogging N threads" on stdout once they run.`

func runWorkloadHog(ctx context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("workload hog", workloadHogUsage, env)
	threads := fs.Int("threads", 2, "busy threads")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 || *threads < 1 || *threads > 64 {
		return usagef("workload hog: --threads 1 to 64, no arguments")
	}
	var wg sync.WaitGroup
	var sink [64]uint64
	for i := range *threads {
		wg.Go(func() {
			runtime.LockOSThread()
			x := uint64(i + 1)
			for n := 0; ; n++ {
				x = x*6364136223846793005 + 1442695040888963407
				if n%1_000_000 == 0 && ctx.Err() != nil {
					sink[i] = x
					return
				}
			}
		})
	}
	fmt.Fprintln(env.stdout, "hogging "+strconv.Itoa(*threads)+" threads")
	wg.Wait()
	return nil
}
