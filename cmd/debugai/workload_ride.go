package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/debugai/debugai/workload/ride"
)

const workloadRideUsage = `workload ride [flags]

Serves one process of the ride-hailing system (package workload/ride,
seven services: api, dispatch, pricing, matcher, geo, notifier, tripdb;
geo runs as several replicas, --replica N), traced with OpenTelemetry to
--otlp with the hint span processor. The api, dispatch and notifier serve
HTTP on --listen (api: POST /v1/rides/{city}, GET /v1/rides/{id}, POST
/v1/drivers/{id}/ping); pricing, matcher, geo and tripdb serve gRPC on
--grpc-listen (the ready line ends in " grpc ADDR") and only the admin
endpoints on --listen. Callers take their callees' addresses: the api
--dispatch URL and --geo; dispatch --pricing, --matcher and --tripdb;
matcher --geo, --tripdb and --notifier URL; notifier --tripdb (--geo is a
comma-separated list of the replicas' gRPC addresses). --bug turns on a
defect (see the package doc); POST /admin/bug?bug=NAME switches it at run
time and POST /admin/flush exports the spans ended so far (notifier: after
its queue and receipts batch have drained).`

func runWorkloadRide(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg := ride.DefaultConfig()
	fs := newFlagSet("workload ride", workloadRideUsage, env)
	role := fs.String("role", string(cfg.Role), "api, dispatch, pricing, matcher, geo, notifier or tripdb")
	fs.IntVar(&cfg.Replica, "replica", 0, "this process's number among its role's replicas (service.instance.id)")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (port 0: any free port)")
	grpcListen := fs.String("grpc-listen", "", "gRPC address of pricing, matcher, geo and tripdb (port 0: any free port)")
	otlp := fs.String("otlp", "", "OTLP/HTTP traces endpoint (default: no export)")
	bug := fs.String("bug", string(cfg.Bug), "active bug (see the package doc of workload/ride)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "deployed version")
	addrs := map[ride.Role]*string{}
	for _, callee := range []ride.Role{ride.RoleDispatch, ride.RolePricing, ride.RoleMatcher, ride.RoleNotifier, ride.RoleTripDB} {
		what := "gRPC host:port"
		if callee == ride.RoleDispatch || callee == ride.RoleNotifier {
			what = "base URL http://host:port"
		}
		addrs[callee] = fs.String(string(callee), "", string(callee)+"'s "+what+" (its callers)")
	}
	geo := fs.String("geo", "", "the geo replicas' gRPC host:port, comma-separated (api, matcher)")
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory of tripdb's log (default: the temporary directory)")
	fs.IntVar(&cfg.Cells, "cells", cfg.Cells, "geo cells a match asks")
	fs.IntVar(&cfg.Pushers, "pushers", cfg.Pushers, "notifier's push workers")
	fs.IntVar(&cfg.SaturatedPushers, "saturated-pushers", cfg.SaturatedPushers, "push workers under pushpool")
	fs.DurationVar(&cfg.PushTime, "push-time", cfg.PushTime, "the push gateway's mean answer time")
	fs.DurationVar(&cfg.GroupCommit, "group-commit", cfg.GroupCommit, "how often tripdb syncs its log")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("workload ride takes no arguments, got %d", fs.NArg())
	}
	cfg.Role, cfg.Bug = ride.Role(*role), ride.Bug(*bug)
	cfg.Addrs = map[ride.Role]string{}
	for callee, a := range addrs {
		if *a != "" {
			cfg.Addrs[callee] = *a
		}
	}
	if *geo != "" {
		cfg.GeoAddrs = strings.Split(*geo, ",")
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if (*grpcListen != "") != cfg.Role.ServesGRPC() {
		return usagef("--grpc-listen: pricing, matcher, geo and tripdb need it, the others take none")
	}
	tp, err := ride.NewTracerProvider(ctx, &cfg, *otlp)
	if err != nil {
		return usageError{err.Error()}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(sctx))
	}()
	svc, err := ride.New(cfg, tp, slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
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
