package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/debugai/debugai/workload/media"
)

const workloadMediaUsage = `workload media [flags]

Serves one role of the media system (package workload/media, seven
services: edge, meta, cache, store, recs, index, ingest), traced with
OpenTelemetry to --otlp with the hint span processor. The edge serves HTTP
(GET /watch, GET /feed, POST /upload); every other role serves gRPC on
--grpc-listen (its ready line ends in " grpc ADDR") and only the admin
endpoints on --listen. Callers take their callees' gRPC addresses: the
edge --meta, --recs and --ingest; meta --cache and --store; recs --index;
ingest --store. --bug turns on a defect (see the package doc); POST
/admin/bug?bug=NAME switches it at run time and POST /admin/flush exports
the spans ended so far (ingest: after its transcode queue has drained).`

func runWorkloadMedia(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg := media.DefaultConfig()
	fs := newFlagSet("workload media", workloadMediaUsage, env)
	role := fs.String("role", string(cfg.Role), "edge, meta, cache, store, recs, index or ingest")
	listen := fs.String("listen", "127.0.0.1:8080", "HTTP address (port 0: any free port)")
	grpcListen := fs.String("grpc-listen", "", "gRPC address of every role but the edge (port 0: any free port)")
	otlp := fs.String("otlp", "", "OTLP/HTTP traces endpoint (default: no export)")
	bug := fs.String("bug", string(cfg.Bug), "active bug (see the package doc of workload/media)")
	fs.StringVar(&cfg.Version, "version", cfg.Version, "deployed version")
	addrs := map[media.Role]*string{}
	for _, callee := range []media.Role{media.RoleMeta, media.RoleRecs, media.RoleIngest, media.RoleCache, media.RoleStore, media.RoleIndex} {
		addrs[callee] = fs.String(string(callee), "", string(callee)+"'s gRPC host:port (its callers)")
	}
	fs.StringVar(&cfg.DataDir, "data-dir", "", "directory of ingest's and the store's files (default: the temporary directory)")
	fs.IntVar(&cfg.Videos, "videos", cfg.Videos, "number of videos")
	fs.DurationVar(&cfg.CacheTTL, "cache-ttl", cfg.CacheTTL, "how long the cache keeps an entry")
	fs.DurationVar(&cfg.ReadHold, "read-hold", cfg.ReadHold, "how long a store read holds the store mutex")
	fs.IntVar(&cfg.Shards, "shards", cfg.Shards, "index shards a feed fans out to")
	fs.IntVar(&cfg.TranscodeWorkers, "transcode-workers", cfg.TranscodeWorkers, "ingest's transcode workers")
	fs.IntVar(&cfg.SaturatedWorkers, "saturated-workers", cfg.SaturatedWorkers, "transcode workers under transcodepool")
	fs.DurationVar(&cfg.EncodeTime, "encode-time", cfg.EncodeTime, "the encoder's mean answer time per job")
	cgroups := fs.String("cpu-cgroups", "", "comma-separated cgroup directories recs joins under recsquota")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usagef("workload media takes no arguments, got %d", fs.NArg())
	}
	if *cgroups != "" {
		cfg.CPUCgroups = strings.Split(*cgroups, ",")
	}
	cfg.Role, cfg.Bug = media.Role(*role), media.Bug(*bug)
	cfg.Addrs = map[media.Role]string{}
	for callee, a := range addrs {
		if *a != "" {
			cfg.Addrs[callee] = *a
		}
	}
	if err := cfg.Validate(); err != nil {
		return usageError{err.Error()}
	}
	if (*grpcListen != "") != cfg.Role.ServesGRPC() {
		return usagef("--grpc-listen: every role but the edge needs it, the edge takes none")
	}
	tp, err := media.NewTracerProvider(ctx, &cfg, *otlp)
	if err != nil {
		return usageError{err.Error()}
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, tp.Shutdown(sctx))
	}()
	svc, err := media.New(cfg, tp, slog.New(slog.NewTextHandler(env.stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
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
