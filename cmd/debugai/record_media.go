package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/bench/httpload"
	"github.com/debugai/debugai/workload/media"
)

// The media scenarios (corpus 4: media-*) record workload/media's seven
// services. Each maps to what record does at inject.
var mediaScenarios = map[string]struct {
	bug     media.Bug  // sent to every service at inject ("": none)
	deploy  media.Role // restarted as v2 at inject, on the same addresses
	cgroups bool       // the cpuquota cgroups, joined by recs under recsquota
	lossy   media.Role // in the lossy namespace, its outgoing TCP dropped at inject
	// mix multiplies the incident's watches, feeds and uploads (nil: the
	// baseline's mix).
	mix []float64
}{
	"media-indexpanic":    {bug: media.BugIndexPanic},
	"media-shardskip":     {bug: media.BugShardSkip},
	"media-uploadsync":    {bug: media.BugUploadSync},
	"media-metaconvoy":    {bug: media.BugMetaConvoy},
	"media-transcodepool": {bug: media.BugTranscodePool},
	"media-cachemiss":     {bug: media.BugCacheMiss},
	"media-storeloss":     {lossy: media.RoleStore},
	"media-recsquota":     {bug: media.BugRecsQuota, cgroups: true},
	"media-mixshift":      {mix: mediaMixShift},
	"media-recsv2":        {deploy: media.RoleRecs},
}

// mediaMixShift is media-mixshift's incident mix: fewer watches, more
// feeds, the same uploads.
var mediaMixShift = []float64{0.6, 1.6, 1}

// isMedia reports whether the scenario records workload/media.
func isMedia(scenario string) bool { return strings.HasPrefix(scenario, "media-") }

// mediaDefaultRate is the watches per second of a media scenario when
// --rate is not given (feeds: half, uploads: a quarter); mediaWindow is
// each phase when --baseline or --incident is not given.
// mediaWarmup is the load offered before the baseline, unrecorded.
const (
	mediaDefaultRate = 48
	mediaWindow      = 15 * time.Second
	mediaWarmup      = 3 * time.Second
)

// mediaRecording is the state of a media recording.
type mediaRecording struct {
	svcs  map[media.Role]*child
	urls  map[media.Role]string // admin (and the edge's) HTTP base URLs
	grpcs map[media.Role]string // gRPC addresses
}

// startMedia starts the seven services, callees first, at version (only
// the scenario's deploy role runs v2 after inject).
func (r *recording) startMedia(ctx context.Context, only media.Role, version string) error {
	sc := mediaScenarios[r.cfg.scenario]
	for _, role := range media.Roles {
		if only != "" && role != only {
			continue
		}
		host := "127.0.0.1"
		if r.netns != nil && role == sc.lossy {
			host = r.netns.nsAddr
		}
		listen, grpcListen := net.JoinHostPort(host, "0"), net.JoinHostPort(host, "0")
		if u, err := url.Parse(r.media.urls[role]); err == nil && u.Host != "" { // a redeploy: the callers keep its addresses
			listen, grpcListen = u.Host, cmp.Or(r.media.grpcs[role], grpcListen)
		}
		args := []string{"workload", "media", "--role", string(role), "--listen", listen, "--otlp", r.rec.url,
			"--version", version, "--bug", "none", "--data-dir", r.tmp}
		if role.ServesGRPC() {
			args = append(args, "--grpc-listen", grpcListen)
		}
		for _, callee := range role.Callees() {
			args = append(args, "--"+string(callee), r.media.grpcs[callee])
		}
		if r.cgroups != nil && role == media.RoleRecs {
			args = append(args, "--cpu-cgroups", strings.Join(r.cgroups.dirs, ","))
		}
		bin := r.exe
		if r.netns != nil && role == sc.lossy {
			bin, args = r.netns.exec(r.exe, args...)
		}
		c, line, err := startChild(ctx, r.stderr, nil, 30*time.Second, bin, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		url, grpcAddr, err := parseReadyLine(line)
		if err == nil && role.ServesGRPC() && grpcAddr == "" {
			err = fmt.Errorf("no gRPC address in the first line %q", line)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", role, err), c.stop(string(role)))
		}
		r.media.svcs[role], r.media.urls[role], r.media.grpcs[role] = c, url, grpcAddr
		r.progress("%s %s listening on %s %s(pid %d)", role, version, url, map[bool]string{true: "gRPC " + grpcAddr + " ", false: ""}[grpcAddr != ""], c.cmd.Process.Pid)
	}
	return nil
}

// stopMedia stops the services, callers first (only: that one).
func (r *recording) stopMedia(only media.Role) error {
	var err error
	for i := len(media.Roles) - 1; i >= 0; i-- {
		role := media.Roles[i]
		if c := r.media.svcs[role]; c != nil && (only == "" || only == role) {
			err = errors.Join(err, c.stop(string(role)))
			delete(r.media.svcs, role)
		}
	}
	return err
}

// flushMedia asks every service, callers first, to export the spans
// ended so far (ingest after its queue has drained).
func (r *recording) flushMedia(ctx context.Context) error {
	for i := len(media.Roles) - 1; i >= 0; i-- {
		role := media.Roles[i]
		if err := postAdminWith(ctx, drainClient, string(role), r.media.urls[role]+"/admin/flush"); err != nil {
			return err
		}
	}
	return nil
}

// drainClient posts the flushes, which wait for ingest's queue to drain.
var drainClient = &http.Client{Timeout: 60 * time.Second}

// injectMedia ends the baseline phase and turns the scenario's causes on.
func (r *recording) injectMedia(ctx context.Context) error {
	sc := mediaScenarios[r.cfg.scenario]
	if err := r.flushMedia(ctx); err != nil {
		return err
	}
	all := float64(len(media.Roles))
	if sc.deploy != "" {
		r.progress("deploying %s v2 (no behaviour change): restarting it", sc.deploy)
		if err := r.stopMedia(sc.deploy); err != nil {
			return err
		}
		if err := r.waitTargets(ctx, func(n float64) bool { return n == all-1 }); err != nil {
			return err
		}
	}
	r.rec.setPhase("incident")
	r.facts.inject = time.Now()
	if sc.deploy != "" {
		r.facts.version = "v2 (" + string(sc.deploy) + ")"
		if err := r.startMedia(ctx, sc.deploy, "v2"); err != nil {
			return err
		}
		if err := r.waitTargets(ctx, func(n float64) bool { return n >= all }); err != nil {
			return err
		}
		// The restart paused the load for a second or two, long enough for
		// part of the cache to expire: warm it again (unrecorded) before
		// the incident, as the other scenarios' short pause needs not.
		if err := r.warmMedia(ctx); err != nil {
			return err
		}
		r.rec.setPhase("incident")
	}
	if r.netns != nil {
		r.progress("dropping %d%% of %s's outgoing TCP packets (nftables, ingress of %s)", r.cfg.lossPercent, sc.lossy, r.netns.hostIf)
		if err := r.netns.dropTCP(r.cfg.lossPercent); err != nil {
			return err
		}
	}
	if sc.bug == "" {
		r.progress("no bug switched on")
		return nil
	}
	r.progress("switching the %s bug on", sc.bug)
	for _, role := range media.Roles {
		if err := postAdmin(ctx, string(role), r.media.urls[role]+"/admin/bug?bug="+string(sc.bug)); err != nil {
			return err
		}
	}
	return nil
}

// offerMedia runs the phase's load: watches at --rate, feeds at half of
// it and uploads (POST) at a quarter, concurrently (in media-mixshift's
// incident times mediaMixShift).
func (r *recording) offerMedia(ctx context.Context, phase string, d time.Duration) error {
	mix := []float64{1, 1, 1}
	if m := mediaScenarios[r.cfg.scenario].mix; phase == "incident" && m != nil {
		mix = m
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	defer tr.CloseIdleConnections()
	loads := []struct {
		name, path string
		rate       float64
		rt         http.RoundTripper
	}{
		{"watches", "/watch", r.cfg.rate * mix[0], tr},
		{"feeds", "/feed", r.cfg.rate / 2 * mix[1], tr},
		{"uploads", "/upload", r.cfg.rate / 4 * mix[2], postTransport{tr}},
	}
	r.progress("%s: %.0f watches/s, %.0f feeds/s and %.0f uploads/s for %v", phase, loads[0].rate, loads[1].rate, loads[2].rate, d)
	var wg sync.WaitGroup
	errs := make([]error, len(loads))
	res := make([]httpload.Result, len(loads))
	for i, l := range loads {
		wg.Go(func() {
			lc := httpload.DefaultConfig()
			lc.URL, lc.Rate, lc.Duration = r.media.urls[media.RoleEdge]+l.path, l.rate, d
			lc.Client = &http.Client{Transport: l.rt, Timeout: lc.Timeout}
			res[i], errs[i] = httpload.Run(ctx, lc)
		})
	}
	wg.Wait()
	for i, l := range loads {
		if errs[i] != nil {
			return fmt.Errorf("%s load (%s): %w", phase, l.name, errs[i])
		}
		x := res[i]
		if phase == warmupPhase {
			continue
		}
		r.facts.loads[phase+"_"+l.name] = x
		r.progress("%s %s: %d ok, %d errors, %d shed; p50 %v, p99 %v", phase, l.name, x.OK, x.Errors, x.Shed,
			x.P50.Round(time.Microsecond), x.P99.Round(time.Microsecond))
		if x.OK == 0 && x.Errors == 0 {
			return fmt.Errorf("%s load (%s): no request answered (first error: %v)", phase, l.name, x.FirstError)
		}
	}
	return nil
}

// warmMedia offers mediaWarmup of load whose spans are dropped and waits
// for its jobs: it fills the cache, whose entries then expire at jittered
// times, so that the phase that follows starts in the steady state, not
// with every video missing at once. (The node's kernel records of the
// warm-up fall outside both phases' traces.)
func (r *recording) warmMedia(ctx context.Context) error {
	r.rec.setPhase(warmupPhase)
	if err := r.offerMedia(ctx, warmupPhase, mediaWarmup); err != nil {
		return err
	}
	return r.flushMedia(ctx)
}

// runMedia is run for a media scenario.
func (r *recording) runMedia(ctx context.Context) error {
	r.media = &mediaRecording{svcs: map[media.Role]*child{}, urls: map[media.Role]string{}, grpcs: map[media.Role]string{}}
	r.progress("scenario %s: starting the seven media services (v1) from %s", r.cfg.scenario, r.exe)
	if err := r.startMedia(ctx, "", "v1"); err != nil {
		return err
	}
	r.progress("starting the node collector %s", r.cfg.nodeBin)
	if err := r.startNode(ctx); err != nil { // before any connection: the node learns the sockets' owners
		return err
	}
	all := float64(len(media.Roles))
	if err := r.waitTargets(ctx, func(n float64) bool { return n >= all }); err != nil {
		return err
	}
	if err := r.warmMedia(ctx); err != nil {
		return err
	}
	r.rec.setPhase("baseline")
	r.facts.baselineStart = time.Now()
	if err := r.offerMedia(ctx, "baseline", r.cfg.baseline); err != nil {
		return err
	}
	r.facts.baselineEnd = time.Now()
	r.facts.loadavg = map[string]string{"baseline_end": readLoadavg()}
	if err := r.injectMedia(ctx); err != nil {
		return err
	}
	r.facts.incidentStart = time.Now()
	if err := r.offerMedia(ctx, "incident", r.cfg.incident); err != nil {
		return err
	}
	r.facts.incidentEnd = time.Now()
	r.facts.loadavg["incident_end"] = readLoadavg()
	return r.flushMedia(ctx) // the incident's queued jobs run before the services stop
}

// mediaTopology opens each media scenario's manifest description.
const mediaTopology = "media (edge HTTP -> meta, recs, ingest over gRPC; meta reads the cache service and, on a miss, the store (40 ms under its mutex) and fills the cache; recs fans out to 4 index shards in parallel and ranks; ingest fdatasyncs each upload and queues a transcode job whose worker (new trace, linked) writes the store; the index is instrumented by hand: no span kind, errors as exception events without status)"

// mediaTruth is each media scenario's ground truth, but the times.
var mediaTruth = map[string]bundleTruth{
	"media-indexpanic": {RootCauseService: "index", RootCauseOperation: "media.v1.Index/Search", Pattern: "code_fault", Version: "v1",
		Notes: "at inject the index's searches of shard 2 for every third user throw (a write to a nil map); the index's hand-written instrumentation recovers, records an exception event and an rpc.grpc.status_code attribute on its span (no span kind, no span status) and answers codes.Internal; recs cancels the feed's other shard searches and fails the feed before ranking (no recs.rank span), with error status on recs' and the edge's spans: a third of the feed traces end early"},
	"media-shardskip": {RootCauseService: "recs", RootCauseOperation: "media.v1.Recs/Feed", Pattern: "code_fault", Version: "v1",
		Notes: "at inject recs' fan-out, for every third user, breaks out of its shard loop after two of the four index shards (a cursor check that reads as exhausted): those feeds answer 200 as fast as before with fewer items; the index searches of shards 2 and 3 for them are never made; no error status anywhere"},
	"media-uploadsync": {RootCauseService: "ingest", RootCauseOperation: "media.v1.Ingest/Upload", Pattern: "io_latency", Version: "v1",
		Notes: "at inject every third ingest Upload also writes the upload's manifest durably on the request path: 256 KiB in 16 KiB chunks, each followed by fsync, to a file on the real disk (every upload already fdatasyncs a 4 KiB journal record): those uploads and the edge's POST /upload wait for the disk"},
	"media-metaconvoy": {RootCauseService: "meta", RootCauseOperation: "media.v1.Meta/GetVideo", Pattern: "lock_convoy", Version: "v1",
		Notes: "at inject meta holds its policy mutex, which every GetVideo takes for its rights check, across the whole lookup: the cache read and, on a miss, the store read (40 ms) and the cache fill; the lookups that hit the cache queue behind the misses' store calls (the store itself is not slower)"},
	"media-transcodepool": {RootCauseService: "ingest", RootCauseOperation: "transcode process", Pattern: "pool_saturation", Version: "v1",
		Notes: "at inject ingest's transcode worker pool shrinks from 8 workers to 2 (its encoder answers in 24 to 216 ms per job, 120 ms on average; uploads arrive at 12 a second): published jobs wait in the queue before their consumer span (transcode process, a new trace linked to the producer span) starts; uploads themselves answer as fast as before"},
	"media-cachemiss": {RootCauseService: "cache", RootCauseOperation: "media.v1.Cache/Get", Pattern: "regression_other", Version: "v1",
		SecondaryCauses: []truthCause{{Service: "store", Operation: "media.v1.Store/Read", Pattern: "lock_convoy"}},
		Notes:           "at inject the cache service's Get looks the keys of every third video up one shard off (a shard count that changed for Get, not for Set): those keys always miss although Set stores them, the cache answers as fast as before, and meta reads the store for them on every watch; the store's reads, each holding its mutex for 40 ms, queue on it (secondary), so the store, meta and the edge's watches look slow"},
	"media-storeloss": {RootCauseService: "store", Pattern: "retransmit_tail", Version: "v1",
		Notes: "the store runs in a private network namespace behind a veth pair; at inject an nftables rule drops a share of the TCP packets the store sends, so its answers to meta (reads of cache misses) and to ingest's transcode workers (writes) wait for retransmission (the network, not an operation: no root_cause_operation)"},
	"media-recsquota": {RootCauseService: "recs", Pattern: "starvation", Version: "v1",
		Notes: "at inject recs joins a cgroup with a CPU quota (v1 cpu.cfs_quota_us, plus a v2 cgroup under /sys/fs/cgroup/unified) below what its load needs (its fan-out and ranking): its threads are throttled and wait runnable for a CPU (every recs operation, hence no root_cause_operation)"},
	"media-mixshift": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: at inject the request mix changes (watches x0.6, feeds x1.6, uploads unchanged) with no bug; the services have the capacity; a correct investigation accepts no root cause"},
	"media-recsv2": {RootCauseService: "none", Pattern: "none", Version: "v2",
		Notes: "control: at inject recs is redeployed as v2 with no behaviour change (restarted on the same addresses, between the phases; the edge's gRPC connection reconnects; the load resumes with 3 s of unrecorded warm-up, as before the baseline, so that the cache entries that expired during the restart's pause are filled again); a correct investigation accepts no root cause"},
}

// mediaDescription is each media scenario's manifest description.
var mediaDescription = map[string]string{
	"media-indexpanic":    mediaTopology + "; at inject the index's shard 2 throws for every third user's search; recs fails those feeds early",
	"media-shardskip":     mediaTopology + "; at inject recs skips shards 2 and 3 for every third user (no error, no latency change)",
	"media-uploadsync":    mediaTopology + "; at inject every third upload also writes a 256 KiB manifest with an fsync per 16 KiB chunk",
	"media-metaconvoy":    mediaTopology + "; at inject meta holds its policy mutex across the cache read and a miss's store read and cache fill",
	"media-transcodepool": mediaTopology + "; at inject ingest's transcode pool shrinks from 8 workers to 2",
	"media-cachemiss":     mediaTopology + "; at inject the cache's Get misses every third video's key (wrong shard) and the store's reads queue",
	"media-storeloss":     mediaTopology + "; the store in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"media-recsquota":     mediaTopology + "; at inject recs joins a CPU-quota cgroup",
	"media-mixshift":      mediaTopology + "; control: at inject the request mix changes (watches x0.6, feeds x1.6), no bug",
	"media-recsv2":        mediaTopology + "; control: at inject recs is redeployed as v2 on the same addresses, no change",
}

func init() {
	maps.Copy(scenarioTruth, mediaTruth)
	maps.Copy(recordDescription, mediaDescription)
}
