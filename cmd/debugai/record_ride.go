package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/bench/httpload"
	"github.com/debugai/debugai/workload/ride"
)

// The ride scenarios (corpus 5: ride-*) record workload/ride's seven
// services in nine processes (three geo replicas). Each maps to what
// record does at inject.
var rideScenarios = map[string]struct {
	bug  ride.Bug // sent at inject to every process, or only to `only`
	only string   // the instance (e.g. "geo-1") that gets the bug ("": all)
	// quota is the instance moved into the CPU-quota cgroups at inject.
	quota string
	lossy ride.Role // in the lossy namespace, its outgoing TCP dropped at inject
	// deploy restarts the geo replicas as v2 one after the other.
	deploy bool
	// mix multiplies the incident's rides, status reads and pings (nil:
	// the baseline's mix).
	mix []float64
}{
	"ride-farestale":   {bug: ride.BugFareStale},
	"ride-matchpanic":  {bug: ride.BugMatchPanic},
	"ride-dbfsync":     {bug: ride.BugDBFsync},
	"ride-geoconvoy":   {bug: ride.BugGeoConvoy, only: "geo-1"},
	"ride-pushpool":    {bug: ride.BugPushPool},
	"ride-notifyretry": {bug: ride.BugNotifyRetry},
	"ride-dbloss":      {lossy: ride.RoleTripDB},
	"ride-geoquota":    {quota: "geo-2"},
	"ride-geov2":       {deploy: true},
	"ride-loadshift":   {mix: []float64{1.5, 1, 1}},
}

// isRide reports whether the scenario records workload/ride.
func isRide(scenario string) bool { return strings.HasPrefix(scenario, "ride-") }

// rideDefaultRate is the rides per second of a ride scenario when --rate
// is not given (status reads: half, driver pings: twice as many);
// rideBaseline and rideIncident are the phases when --baseline or
// --incident is not given; rideWarmup is the load offered before the
// baseline, unrecorded.
const (
	rideDefaultRate = 20
	rideBaseline    = 18 * time.Second
	rideIncident    = 12 * time.Second
	rideWarmup      = 2 * time.Second
	rideGeoReplicas = 3
)

// rideInstance is one process of the ride system.
type rideInstance struct {
	role    ride.Role
	replica int
}

func (i rideInstance) id() string { return string(i.role) + "-" + strconv.Itoa(i.replica) }

// rideInstances are the processes, callees first.
func rideInstances() []rideInstance {
	var out []rideInstance
	for _, role := range ride.Roles {
		n := 1
		if role == ride.RoleGeo {
			n = rideGeoReplicas
		}
		for replica := range n {
			out = append(out, rideInstance{role, replica})
		}
	}
	return out
}

// rideRecording is the state of a ride recording.
type rideRecording struct {
	procs map[string]*child
	urls  map[string]string // admin (and HTTP services') base URLs, by instance
	grpcs map[string]string // gRPC addresses, by instance
}

// startRide starts the processes, callees first, at version (only: that
// instance, restarted on its addresses).
func (r *recording) startRide(ctx context.Context, only, version string) error {
	sc := rideScenarios[r.cfg.scenario]
	var geo []string
	for _, in := range rideInstances() {
		if in.role == ride.RoleGeo {
			geo = append(geo, r.ride.grpcs[in.id()])
		}
	}
	for _, in := range rideInstances() {
		id := in.id()
		if only != "" && id != only {
			continue
		}
		host := "127.0.0.1"
		if r.netns != nil && in.role == sc.lossy {
			host = r.netns.nsAddr
		}
		listen, grpcListen := net.JoinHostPort(host, "0"), net.JoinHostPort(host, "0")
		if u, err := url.Parse(r.ride.urls[id]); err == nil && u.Host != "" { // a redeploy: the callers keep its addresses
			listen, grpcListen = u.Host, r.ride.grpcs[id]
		}
		args := []string{"workload", "ride", "--role", string(in.role), "--replica", strconv.Itoa(in.replica), "--listen", listen,
			"--otlp", r.rec.url, "--version", version, "--bug", "none", "--data-dir", r.tmp}
		if in.role.ServesGRPC() {
			args = append(args, "--grpc-listen", grpcListen)
		}
		for _, callee := range in.role.Callees() {
			switch callee {
			case ride.RoleGeo:
				args = append(args, "--geo", strings.Join(geo, ","))
			case ride.RoleDispatch, ride.RoleNotifier:
				args = append(args, "--"+string(callee), r.ride.urls[string(callee)+"-0"])
			default:
				args = append(args, "--"+string(callee), r.ride.grpcs[string(callee)+"-0"])
			}
		}
		bin := r.exe
		if r.netns != nil && in.role == sc.lossy {
			bin, args = r.netns.exec(r.exe, args...)
		}
		c, line, err := startChild(ctx, r.stderr, nil, 30*time.Second, bin, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", id, err)
		}
		u, grpcAddr, err := parseReadyLine(line)
		if err == nil && in.role.ServesGRPC() && grpcAddr == "" {
			err = fmt.Errorf("no gRPC address in the first line %q", line)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", id, err), c.stop(id))
		}
		r.ride.procs[id], r.ride.urls[id], r.ride.grpcs[id] = c, u, grpcAddr
		if in.role == ride.RoleGeo {
			geo[in.replica] = grpcAddr
		}
		r.progress("%s %s listening on %s %s(pid %d)", id, version, u, map[bool]string{true: "gRPC " + grpcAddr + " ", false: ""}[grpcAddr != ""], c.cmd.Process.Pid)
	}
	return nil
}

// stopRide stops the processes, callers first (only: that one).
func (r *recording) stopRide(only string) error {
	var err error
	ins := rideInstances()
	for i := len(ins) - 1; i >= 0; i-- {
		id := ins[i].id()
		if c := r.ride.procs[id]; c != nil && (only == "" || only == id) {
			err = errors.Join(err, c.stop(id))
			delete(r.ride.procs, id)
		}
	}
	return err
}

// flushRide asks every process, callers first, to export the spans ended
// so far (notifier after its queue and receipts batch have drained).
func (r *recording) flushRide(ctx context.Context) error {
	ins := rideInstances()
	for i := len(ins) - 1; i >= 0; i-- {
		id := ins[i].id()
		if err := postAdminWith(ctx, drainClient, id, r.ride.urls[id]+"/admin/flush"); err != nil {
			return err
		}
	}
	return nil
}

// injectRide ends the baseline phase and turns the scenario's causes on.
func (r *recording) injectRide(ctx context.Context) error {
	sc := rideScenarios[r.cfg.scenario]
	if err := r.flushRide(ctx); err != nil {
		return err
	}
	r.rec.setPhase("incident")
	r.facts.inject = time.Now()
	all := float64(len(rideInstances()))
	if sc.deploy {
		r.facts.version = "v2 (geo)"
		for replica := range rideGeoReplicas {
			id := rideInstance{ride.RoleGeo, replica}.id()
			r.progress("deploying %s v2 (no behaviour change): restarting it", id)
			if err := r.stopRide(id); err != nil {
				return err
			}
			if err := r.waitTargets(ctx, func(n float64) bool { return n == all-1 }); err != nil {
				return err
			}
			if err := r.startRide(ctx, id, "v2"); err != nil {
				return err
			}
			if err := r.waitTargets(ctx, func(n float64) bool { return n >= all }); err != nil {
				return err
			}
		}
		// The callers' connections to the restarted replicas reconnect:
		// warm them again (unrecorded) before the incident.
		if err := r.warmRide(ctx); err != nil {
			return err
		}
		r.rec.setPhase("incident")
	}
	if sc.quota != "" {
		c := r.ride.procs[sc.quota]
		r.progress("moving %s (pid %d) into the CPU-quota cgroup", sc.quota, c.cmd.Process.Pid)
		if err := r.cgroups.join(c.cmd.Process.Pid); err != nil {
			return err
		}
	}
	if r.netns != nil {
		r.progress("dropping %d%% of %s's outgoing TCP packets (nftables, ingress of %s)", r.cfg.lossPercent, sc.lossy, r.netns.hostIf)
		if err := r.netns.dropTCP(r.cfg.lossPercent); err != nil {
			return err
		}
	}
	if sc.bug == "" {
		if sc.quota == "" && r.netns == nil {
			r.progress("no bug switched on")
		}
		return nil
	}
	for _, in := range rideInstances() {
		id := in.id()
		if sc.only != "" && id != sc.only {
			continue
		}
		r.progress("switching the %s bug on in %s", sc.bug, id)
		if err := postAdmin(ctx, id, r.ride.urls[id]+"/admin/bug?bug="+string(sc.bug)); err != nil {
			return err
		}
	}
	return nil
}

// offerRide runs the phase's load: rides at --rate (half to each of two
// cities), status reads at half of it and driver pings at twice it,
// concurrently (in ride-loadshift's incident times its mix).
func (r *recording) offerRide(ctx context.Context, phase string, d time.Duration) error {
	mix := []float64{1, 1, 1}
	if m := rideScenarios[r.cfg.scenario].mix; phase == "incident" && m != nil {
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
		{"rides_north", "/v1/rides/north", r.cfg.rate / 2 * mix[0], postTransport{tr}},
		{"rides_east", "/v1/rides/east", r.cfg.rate / 2 * mix[0], postTransport{tr}},
		{"statuses", "/v1/rides/recent", r.cfg.rate / 2 * mix[1], tr},
		{"pings", "/v1/drivers/any/ping", r.cfg.rate * 2 * mix[2], postTransport{tr}},
	}
	r.progress("%s: %.0f rides/s, %.0f status reads/s and %.0f pings/s for %v", phase, loads[0].rate+loads[1].rate, loads[2].rate, loads[3].rate, d)
	var wg sync.WaitGroup
	errs := make([]error, len(loads))
	res := make([]httpload.Result, len(loads))
	for i, l := range loads {
		wg.Go(func() {
			lc := httpload.DefaultConfig()
			lc.URL, lc.Rate, lc.Duration = r.ride.urls["api-0"]+l.path, l.rate, d
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

// warmRide offers rideWarmup of load whose spans are dropped and waits
// for notifier's queue: every connection is open and warm when the phase
// that follows starts.
func (r *recording) warmRide(ctx context.Context) error {
	r.rec.setPhase(warmupPhase)
	if err := r.offerRide(ctx, warmupPhase, rideWarmup); err != nil {
		return err
	}
	return r.flushRide(ctx)
}

// runRide is run for a ride scenario.
func (r *recording) runRide(ctx context.Context) error {
	r.ride = &rideRecording{procs: map[string]*child{}, urls: map[string]string{}, grpcs: map[string]string{}}
	r.progress("scenario %s: starting the ride system (v1, %d processes) from %s", r.cfg.scenario, len(rideInstances()), r.exe)
	if err := r.startRide(ctx, "", "v1"); err != nil {
		return err
	}
	r.progress("starting the node collector %s", r.cfg.nodeBin)
	if err := r.startNode(ctx); err != nil { // before any connection: the node learns the sockets' owners
		return err
	}
	all := float64(len(rideInstances()))
	if err := r.waitTargets(ctx, func(n float64) bool { return n >= all }); err != nil {
		return err
	}
	if err := r.warmRide(ctx); err != nil {
		return err
	}
	r.rec.setPhase("baseline")
	r.facts.baselineStart = time.Now()
	if err := r.offerRide(ctx, "baseline", r.cfg.baseline); err != nil {
		return err
	}
	r.facts.baselineEnd = time.Now()
	r.facts.loadavg = map[string]string{"baseline_end": readLoadavg()}
	if err := r.injectRide(ctx); err != nil {
		return err
	}
	r.facts.incidentStart = time.Now()
	if err := r.offerRide(ctx, "incident", r.cfg.incident); err != nil {
		return err
	}
	r.facts.incidentEnd = time.Now()
	r.facts.loadavg["incident_end"] = readLoadavg()
	return r.flushRide(ctx) // the incident's queued pushes run before the processes stop
}

// rideTopology opens each ride scenario's manifest description.
const rideTopology = "ride (api, hand-instrumented HTTP: rides, status reads, driver pings -> dispatch over HTTP/JSON -> pricing Quote and matcher Match over gRPC; matcher fans out Nearby to 4 cells over three geo replicas (client-side round-robin), scores, stores the trip in tripdb (a database-like service: db client spans, trace context in a statement comment, a write-ahead log with a group commit) and publishes it to notifier (producer span, HTTP/JSON, retried on 503); notifier's push workers consume it (consumer span, child of the producer span) and a batch worker writes receipts to tripdb (one span per batch, linked); pings update a geo replica)"

// rideTruth is each ride scenario's ground truth, but the times.
var rideTruth = map[string]bundleTruth{
	"ride-farestale": {RootCauseService: "dispatch", RootCauseOperation: "POST /dispatch", Pattern: "code_fault", Version: "v1",
		Notes: "at inject dispatch's POST /dispatch takes the fare of every third rider from a cached entry that never expires and does not ask pricing: those rides answer 201 as fast as before; the pricing Quote calls for them disappear; no error status anywhere"},
	"ride-matchpanic": {RootCauseService: "matcher", RootCauseOperation: "ride.v1.Matcher/Match", Pattern: "code_fault", Version: "v1",
		Notes: "at inject matcher's scoring throws for every fourth rider (a write to a nil map) after the geo fan-out; the recovery interceptor answers codes.Internal (error status on matcher's server span and dispatch's spans); the trip is neither stored in tripdb nor published, so those traces end early; the hand-instrumented api records the 502 only as the attribute http.response.status_code, with no span status"},
	"ride-dbfsync": {RootCauseService: "tripdb", RootCauseOperation: "INSERT trips", Pattern: "io_latency", Version: "v1",
		Notes: "at inject tripdb commits every third trip INSERT on the statement path, outside its table lock: a 128 KiB record written to its log on the real disk in 4 KiB chunks, each followed by fsync (the other statements wait only for the page cache; a group commit fdatasyncs the log every 20 ms throughout): those inserts, matcher's Match, dispatch and the api's ride requests wait for the disk"},
	"ride-geoconvoy": {RootCauseService: "geo", RootCauseOperation: "ride.v1.Geo/Nearby", Pattern: "lock_convoy", Version: "v1",
		Notes: "at inject one of the three geo replicas (its flag only) starts rebuilding the cell of every fourth Nearby (CPU work) while holding the index mutex that every Nearby and Update of that replica takes: its other lookups and the pings it serves queue behind the rebuild; the other two replicas are unchanged, so about a third of the lookups are exposed"},
	"ride-pushpool": {RootCauseService: "notifier", RootCauseOperation: "trips process", Pattern: "pool_saturation", Version: "v1",
		Notes: "at inject notifier's push worker pool shrinks from 8 workers to 1 (the push gateway answers in 10 to 70 ms, 40 ms on average, and trips arrive at about 20 a second): published trips wait in the queue before their consumer span (trips process, a child of matcher's producer span in the same trace) starts; the rides themselves answer as fast as before"},
	"ride-dbloss": {RootCauseService: "tripdb", Pattern: "retransmit_tail", Version: "v1",
		Notes: "tripdb runs in a private network namespace behind a veth pair; at inject an nftables rule drops a share of the TCP packets tripdb sends, so its answers to matcher (trip inserts), dispatch (status reads) and notifier (receipts) wait for retransmission (the network, not an operation: no root_cause_operation)"},
	"ride-notifyretry": {RootCauseService: "notifier", RootCauseOperation: "POST /publish", Pattern: "retry_storm", Version: "v1",
		Notes: "at inject notifier's POST /publish answers 503 to two of every five calls (a partition that keeps moving); matcher retries a 503 at once, up to 4 attempts, inside the ride's request path, so publishes make about 1.7 calls instead of one"},
	"ride-geoquota": {RootCauseService: "geo", Pattern: "starvation", Version: "v1",
		Notes: "at inject one of the three geo replicas is moved into a cgroup with a CPU quota (v1 cpu.cfs_quota_us, plus a v2 cgroup under /sys/fs/cgroup/unified) below what its share of the load needs: its threads are throttled and wait runnable for a CPU; the round-robin sends it a third of the Nearby and Update calls (every operation of that replica, hence no root_cause_operation)"},
	"ride-geov2": {RootCauseService: "none", Pattern: "none", Version: "v2",
		Notes: "control: at inject the three geo replicas are redeployed as v2 with no behaviour change, one after the other (a rolling deploy on the same addresses, between the phases; the callers' connections reconnect; the load resumes with 2 s of unrecorded warm-up); a correct investigation accepts no root cause"},
	"ride-loadshift": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: at inject the ride requests rise to 1.5 times the baseline's (status reads and pings unchanged) with no bug; the services have the capacity; a correct investigation accepts no root cause"},
}

// rideDescription is each ride scenario's manifest description.
var rideDescription = map[string]string{
	"ride-farestale":   rideTopology + "; at inject dispatch skips pricing for every third rider (a cached fare)",
	"ride-matchpanic":  rideTopology + "; at inject matcher's scoring throws for every fourth rider; the trip is neither stored nor published",
	"ride-dbfsync":     rideTopology + "; at inject tripdb commits every third trip insert with a 128 KiB write fsynced per 4 KiB",
	"ride-geoconvoy":   rideTopology + "; at inject one geo replica rebuilds every fourth lookup's cell under its index mutex",
	"ride-pushpool":    rideTopology + "; at inject notifier's push workers shrink from 8 to 1",
	"ride-dbloss":      rideTopology + "; tripdb in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"ride-notifyretry": rideTopology + "; at inject notifier answers 503 to two of five publishes and matcher retries them",
	"ride-geoquota":    rideTopology + "; at inject one geo replica joins a CPU-quota cgroup",
	"ride-geov2":       rideTopology + "; control: at inject the geo replicas are redeployed as v2 one after the other, no change",
	"ride-loadshift":   rideTopology + "; control: at inject the ride requests rise 1.5x, no bug",
}

func init() {
	maps.Copy(scenarioTruth, rideTruth)
	maps.Copy(recordDescription, rideDescription)
}
