package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/bench/httpload"
	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/workload/bank"
)

const recordUsage = `record --scenario convoy|callconvoy|regression|iostorm|faultstorm|cpuquota|lockinv|lockinv-pthread|netloss|none|bump|shop-*|shop3-*|media-*|ride-* --out DIR [flags]

Records a real incident bundle (ARCHITECTURE.md, "Incident bundle") of
the bank system (package workload/bank) on this machine. As root, it
starts an OTLP/HTTP recording receiver in-process, serves the frontend and
the ledger from a copy of this executable ("debugai workload bank"),
attaches debugai-node to that copy (with a random DEBUGAI_HMAC_KEY),
waits until the node observes both services, offers a fixed-rate load of
transfers (--rate) and balance reads (half that rate) for --baseline with
no bug, turns the scenario's bug on (convoy, iostorm, faultstorm,
cpuquota: POST /admin/bug; regression: restarts both services as v2),
offers the same load for --incident, stops everything cleanly and writes
into --out:

  baseline.otlp.jsonl.gz, incident.otlp.jsonl.gz   the spans of each phase
  kernel.otlp.jsonl.gz                             the node's kernel events
  truth.json, manifest.json                        ground truth and facts

"none" and "bump" are the controls: nothing is switched on, or both
services are redeployed as v2 without any bug (a benign version bump).
"lockinv" switches on the ledger's lock inversion (a retry path that holds
its audit lock while it polls for the ledger mutex with a timeout); lock
order needs a -gcflags=all=-l build of the services, given with
--service-bin:
  go build -gcflags=all=-l -o /tmp/debugai-nolinline ./cmd/debugai
"lockinv-pthread" is the same bug with pthread mutexes taken by C code
(workload/bank/plock.c): a normal build, the node's pthread lock-order
probes on the C library, futex waits on the same mutex addresses.
"netloss" runs the frontend in a private network namespace joined to the
host by a veth pair and, at inject, drops --loss percent of the TCP
packets it sends where they reach the host (an nftables netdev rule on the
veth; needs ip and nft). For cpuquota, record
creates a cgroup limited to --cpu-quota CPUs per --cpu-period (v1 cpu
controller, plus a v2 cgroup on a hybrid host; or v2 cpu.max), which the
ledger joins at inject, and removes it at the end. Progress goes to stderr.

The shop-* scenarios (corpus 2, EVAL.md) record the six services of
package workload/shop instead (checkouts at --rate, default 80/s, and
product reads at half of it): shop-catalogpanic, shop-quotepanic,
shop-dropfulfil, shop-retrystorm, shop-slowquote, shop-poolsat,
shop-nocache, shop-workerconvoy and shop-reservesync switch that bug on
in every service at inject; shop-deploycpu restarts the gateway as v2
(benign) and moves inventory into a CPU-quota cgroup; shop-neighbour pins
pricing to CPU 1 throughout and starts a noisy neighbour (debugai
workload hog, --hog-threads) there at inject; shop-stockloss runs
inventory in a lossy network namespace (--loss); the controls
shop-flagflip (a flag with no effect) and shop-loadup (--load-factor
times the load, no bug).

The shop3-* scenarios (corpus 3) run the shop with --catalog-stock
(catalog reads the stock, which waits 15 ms for the warehouse; the
gateway does not call inventory) at 50 checkouts/s for 12 s per phase
unless --rate, --baseline or --incident say otherwise: shop3-stockpanic,
shop3-paymentserror, shop3-payfsync, shop3-catalogconvoy,
shop3-catalogpool and shop3-ordersretry (the reservefail bug) switch that
bug on at inject; shop3-ordersquota moves orders into a CPU-quota cgroup;
shop3-pricingloss runs pricing in the lossy namespace (--loss); the
controls shop3-deployv2 (payments restarted as v2 on the same address, no
change) and shop3-loaddown (half the load: --load-factor 0.5).

The media-* scenarios (corpus 4) record the seven services of package
workload/media instead, after 3 s of unrecorded warm-up (watches at
--rate, default 48/s, feeds at half and uploads at a quarter of it, 15 s
per phase unless --baseline or --incident say otherwise): media-indexpanic, media-shardskip,
media-uploadsync, media-metaconvoy, media-transcodepool, media-cachemiss
and media-recsquota (recs joins a CPU-quota cgroup, --cpu-quota and
--cpu-period) switch that bug on at inject; media-storeloss runs the store
in the lossy namespace (--loss); the controls media-mixshift (the
incident's watches x0.6 and feeds x1.6, no bug) and media-recsv2 (recs
restarted as v2 on the same addresses, no change).

The ride-* scenarios (corpus 5) record package workload/ride instead (seven
services in nine processes, geo as three replicas), after 2 s of
unrecorded warm-up (rides at --rate, default 20/s, status reads at half
and driver pings at twice it; 18 s of baseline and 12 s of incident unless
--baseline or --incident say otherwise): ride-farestale, ride-matchpanic,
ride-dbfsync, ride-pushpool and ride-notifyretry switch that bug on at
inject, ride-geoconvoy on one geo replica only; ride-geoquota moves one
geo replica into a CPU-quota cgroup (--cpu-quota, --cpu-period);
ride-dbloss runs tripdb in the lossy namespace (--loss); the controls
ride-geov2 (the geo replicas restarted as v2 one after the other, no
change) and ride-loadshift (the incident's rides x1.5, no bug).

Needs root (the node loads eBPF programs) and a debugai-node binary:
  CGO_ENABLED=0 go build -o "$(dirname "$(command -v debugai)")/debugai-node" ./cmd/debugai-node`

// recordConfig is what the flags of record say.
type recordConfig struct {
	scenario           string
	out, nodeBin       string
	baseline, incident time.Duration
	rate               float64
	nodeArgs           []string
	targetTimeout      time.Duration
	snapshotBytes      int
	syncChunkBytes     int
	regressionRounds   int
	faultPages         int
	cpuQuota           float64
	cpuPeriod          time.Duration
	serviceBin         string // serves "workload bank" ("": a copy of this executable)
	lossPercent        int
	loadFactor         float64 // shop-loadup: incident load / baseline load
	hogThreads         int     // shop-neighbour: the neighbour's busy threads
	hogWeight          int     // shop-neighbour: its cgroup's CPU weight, in default tasks
}

// defaultNodeArgs: lock order needs -gcflags=all=-l builds
// (docs/lock-order.md); this executable is a normal build, whose lock
// stacks would be incomplete, so only lockinv (with --service-bin) turns
// it on. A recording keeps every trace (no tail sampling), so the node's
// kernel.anomaly spans (docs/anomaly-loop.md) would add nothing but
// entries in the phase files: they are off.
const defaultNodeArgs = "--go-locks=false --fsync-threshold=100us --runqueue-threshold=1ms --anomaly-per-second=0"

// recordScenarios are the scenarios record knows.
var recordScenarios = slices.Concat([]string{"convoy", "callconvoy", "regression", "iostorm", "faultstorm", "cpuquota", "lockinv", "lockinv-pthread", "netloss", "none", "bump"},
	slices.Sorted(maps.Keys(shopScenarios)), slices.Sorted(maps.Keys(mediaScenarios)), slices.Sorted(maps.Keys(rideScenarios)))

func parseRecordFlags(args []string, env *cmdEnv) (recordConfig, error) {
	c := recordConfig{}
	def := bank.DefaultConfig()
	fs := newFlagSet("record", recordUsage, env)
	fs.StringVar(&c.scenario, "scenario", "", "convoy, callconvoy, regression, iostorm, faultstorm, cpuquota, lockinv, lockinv-pthread, netloss, none or bump (the controls)")
	fs.StringVar(&c.out, "out", "", "bundle folder to write (created if missing; its bundle files are replaced)")
	fs.StringVar(&c.nodeBin, "node-bin", "", "debugai-node binary (default: debugai-node next to this executable, else in PATH)")
	fs.DurationVar(&c.baseline, "baseline", 10*time.Second, "load without the bug")
	fs.DurationVar(&c.incident, "incident", 10*time.Second, "load with the bug")
	fs.Float64Var(&c.rate, "rate", 250, "transfers per second (balance reads: half as many); shop: checkouts, media: watches, ride: rides")
	nodeArgs := fs.String("node-args", defaultNodeArgs, "extra debugai-node flags, space-separated (lockinv: --go-locks=true instead of false)")
	fs.StringVar(&c.serviceBin, "service-bin", "", "executable that serves \"workload bank\" (default: a copy of this one); lockinv needs a -gcflags=all=-l build")
	fs.IntVar(&c.lossPercent, "loss", 5, "percent of the frontend's outgoing TCP packets dropped (netloss; the lossy service's in shop-stockloss, shop3-pricingloss, media-storeloss, ride-dbloss)")
	fs.DurationVar(&c.targetTimeout, "target-timeout", 30*time.Second, "how long to wait for the node to observe the services")
	fs.IntVar(&c.snapshotBytes, "snapshot-bytes", def.SnapshotBytes, "bytes of the ledger snapshot rewritten per transfer")
	fs.IntVar(&c.regressionRounds, "regression-rounds", def.RegressionRounds, "extra SHA-256 rounds per balance read in v2 (regression)")
	fs.IntVar(&c.faultPages, "fault-pages", def.FaultPages, "evicted archive pages read per balance (faultstorm)")
	fs.Float64Var(&c.cpuQuota, "cpu-quota", 0.1, "CPUs per period the ledger's cgroup may use (cpuquota; the quota role's in shop, media and ride scenarios)")
	fs.DurationVar(&c.cpuPeriod, "cpu-period", 100*time.Millisecond, "the cgroup's CPU quota period (cpuquota)")
	fs.Float64Var(&c.loadFactor, "load-factor", 1.5, "incident load as a multiple of the baseline's (shop-loadup; shop3-loaddown: 0.5 unless given)")
	fs.IntVar(&c.hogThreads, "hog-threads", 3, "busy threads of the noisy neighbour (shop-neighbour)")
	fs.IntVar(&c.hogWeight, "hog-weight", 10, "CPU weight of the noisy neighbour's cgroup, in default tasks (shop-neighbour)")
	if err := parseFlags(fs, args); err != nil {
		return c, err
	}
	c.nodeArgs = strings.Fields(*nodeArgs)
	if isShop(c.scenario) && !flagSet(fs, "rate") {
		c.rate = shopDefaultRate
	}
	if isShop3(c.scenario) {
		if !flagSet(fs, "rate") {
			c.rate = shop3DefaultRate
		}
		if !flagSet(fs, "baseline") {
			c.baseline = shop3Window
		}
		if !flagSet(fs, "incident") {
			c.incident = shop3Window
		}
	}
	if isMedia(c.scenario) {
		if !flagSet(fs, "rate") {
			c.rate = mediaDefaultRate
		}
		if !flagSet(fs, "baseline") {
			c.baseline = mediaWindow
		}
		if !flagSet(fs, "incident") {
			c.incident = mediaWindow
		}
	}
	if isRide(c.scenario) {
		if !flagSet(fs, "rate") {
			c.rate = rideDefaultRate
		}
		if !flagSet(fs, "baseline") {
			c.baseline = rideBaseline
		}
		if !flagSet(fs, "incident") {
			c.incident = rideIncident
		}
	}
	if f := shopScenarios[c.scenario].loadFactor; f != 0 && !flagSet(fs, "load-factor") {
		c.loadFactor = f
	}
	if !flagSet(fs, "node-args") {
		switch c.scenario {
		case "lockinv":
			c.nodeArgs = strings.Fields(strings.Replace(defaultNodeArgs, "--go-locks=false", "--go-locks=true", 1))
		case "lockinv-pthread":
			c.nodeArgs = append(c.nodeArgs, "--pthread-locks=true")
		}
	}
	bc := def
	c.syncChunkBytes = min(def.SyncChunkBytes, c.snapshotBytes)
	bc.SnapshotBytes, bc.SyncChunkBytes, bc.RegressionRounds = c.snapshotBytes, c.syncChunkBytes, c.regressionRounds
	bc.FaultPages = c.faultPages
	lc := httpload.Config{URL: "http://127.0.0.1/", Rate: c.rate, Duration: min(c.baseline, c.incident), MaxInFlight: 512, Timeout: time.Second}
	switch {
	case fs.NArg() > 0:
		return c, usagef("record takes no arguments, got %q", fs.Args())
	case !slices.Contains(recordScenarios, c.scenario):
		return c, usagef("record: --scenario %q: want %s", c.scenario, strings.Join(recordScenarios, ", "))
	case c.out == "":
		return c, usagef("record: --out DIR is required")
	case c.targetTimeout <= 0:
		return c, usagef("record: --target-timeout must be positive")
	case c.cpuQuota <= 0 || c.cpuQuota > 64:
		return c, usagef("record: --cpu-quota %g: want a positive number of CPUs", c.cpuQuota)
	case c.cpuPeriod < time.Millisecond || c.cpuPeriod > time.Second:
		return c, usagef("record: --cpu-period %v: want 1ms to 1s", c.cpuPeriod)
	case c.loadFactor < 0.1 || c.loadFactor > 10:
		return c, usagef("record: --load-factor %g: want 0.1 to 10", c.loadFactor)
	case c.hogWeight < 1 || c.hogWeight > 100:
		return c, usagef("record: --hog-weight %d: want 1 to 100", c.hogWeight)
	case c.hogThreads < 1 || c.hogThreads > 64:
		return c, usagef("record: --hog-threads %d: want 1 to 64", c.hogThreads)
	case c.lossPercent < 1 || c.lossPercent > 50:
		return c, usagef("record: --loss %d: want 1 to 50 percent", c.lossPercent)
	case c.scenario == "lockinv" && c.serviceBin == "":
		return c, usagef("record --scenario lockinv: --service-bin is required: lock order needs a -gcflags=all=-l build of debugai (go build -gcflags=all=-l -o /tmp/debugai-nolinline ./cmd/debugai)")
	}
	if err := lc.Validate(); err != nil {
		return c, usagef("record: --rate, --baseline, --incident: %v", err)
	}
	if err := bc.Validate(); err != nil {
		return c, usagef("record: %v", err)
	}
	return c, nil
}

// recording is one run of record.
type recording struct {
	cfg      recordConfig
	tmp, exe string
	rec      *otlpRecorder
	stderr   io.Writer
	secret   string

	svcs       map[bank.Role]*child
	cgroups    *cpuCgroups // cpuquota: the ledger's CPU-limited cgroups
	netns      *lossyNetns // netloss: the frontend's network; shop-stockloss: inventory's
	shop       *shopRecording
	media      *mediaRecording
	ride       *rideRecording
	urls       map[bank.Role]string
	node       *child
	metricsURL string
	facts      recordFacts
}

// recordFacts are what manifest.json and truth.json report.
type recordFacts struct {
	baselineStart, baselineEnd, incidentStart, incidentEnd, inject time.Time
	loadavg                                                        map[string]string // /proc/loadavg at the phases' ends: the machine's background load
	version                                                        string
	loads                                                          map[string]httpload.Result
}

func runRecord(ctx context.Context, args []string, env *cmdEnv) (err error) {
	cfg, err := parseRecordFlags(args, env)
	if err != nil {
		return err
	}
	if cfg.nodeBin, err = findNodeBinary(cfg.nodeBin); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return errors.New("record needs root: the node collector loads eBPF programs (CAP_BPF, CAP_PERFMON); run it with sudo")
	}
	if err := os.MkdirAll(cfg.out, 0o755); err != nil {
		return fmt.Errorf("creating the bundle folder: %w", err)
	}
	for _, name := range []string{"baseline.otlp.jsonl.gz", "incident.otlp.jsonl.gz", "kernel.otlp.jsonl.gz", "truth.json", "manifest.json"} {
		if err := os.Remove(filepath.Join(cfg.out, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("replacing the bundle: %w", err)
		}
	}
	tmp, err := os.MkdirTemp("", "debugai-record-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	r := &recording{cfg: cfg, tmp: tmp, stderr: &syncWriter{w: env.stderr}, secret: randomSecret(),
		svcs: map[bank.Role]*child{}, urls: map[bank.Role]string{}, facts: recordFacts{version: "v1", loads: map[string]httpload.Result{}}}
	if cfg.serviceBin == "" {
		r.exe, err = copyExecutable(filepath.Join(tmp, "debugai-bank"))
	} else {
		r.exe, err = copyExecutableFrom(cfg.serviceBin, filepath.Join(tmp, "debugai-bank"))
	}
	if err != nil {
		return err
	}
	if cfg.scenario == "lockinv" {
		if err := bpf.CheckGoLockOrder(r.exe); err != nil {
			return fmt.Errorf("--service-bin %s cannot show lock order: %w", cfg.serviceBin, err)
		}
	}
	sc, mc, rc := shopScenarios[cfg.scenario], mediaScenarios[cfg.scenario], rideScenarios[cfg.scenario]
	switch {
	case cfg.scenario == "cpuquota" || sc.cgroups || mc.cgroups || rc.quota != "":
		if r.cgroups, err = newCPUCgroups(filepath.Base(tmp), cfg.cpuQuota, cfg.cpuPeriod); err != nil {
			return err
		}
	case cfg.scenario == "netloss" || sc.lossy != "" || mc.lossy != "" || rc.lossy != "":
		if r.netns, err = newLossyNetns(filepath.Base(tmp), byte(os.Getpid()%200+20)); err != nil {
			return err
		}
	}
	listen := "127.0.0.1"
	if r.netns != nil {
		listen = r.netns.hostAddr // the frontend exports from inside the namespace
	}
	if r.rec, err = startRecorder(cfg.out, "baseline", listen); err != nil {
		return errors.Join(err, r.cgroups.remove(), r.netns.remove())
	}
	switch {
	case isShop(cfg.scenario):
		err = r.runShop(ctx)
	case isMedia(cfg.scenario):
		err = r.runMedia(ctx)
	case isRide(cfg.scenario):
		err = r.runRide(ctx)
	default:
		err = r.run(ctx)
	}
	err = errors.Join(err, r.stopServices(), r.cgroups.remove(), r.stopNode(), r.rec.close(), r.netns.remove())
	if err != nil {
		return fmt.Errorf("recording %s: %w", cfg.scenario, err)
	}
	return r.writeBundleFiles()
}

func (r *recording) progress(format string, args ...any) {
	fmt.Fprintf(r.stderr, "record: "+format+"\n", args...)
}

// run starts the services and the node, offers the baseline load,
// switches the bug on and offers the incident load.
func (r *recording) run(ctx context.Context) error {
	r.progress("scenario %s: starting the frontend and the ledger (v1) from %s", r.cfg.scenario, r.exe)
	if err := r.startServices(ctx, "v1"); err != nil {
		return err
	}
	r.progress("starting the node collector %s", r.cfg.nodeBin)
	if err := r.startNode(ctx); err != nil {
		return err
	}
	if err := r.waitTargets(ctx, func(n float64) bool { return n >= 2 }); err != nil {
		return err
	}
	r.facts.baselineStart = time.Now()
	if err := r.offer(ctx, "baseline", r.cfg.baseline); err != nil {
		return err
	}
	r.facts.baselineEnd = time.Now()
	if err := r.inject(ctx); err != nil {
		return err
	}
	r.facts.incidentStart = time.Now()
	if err := r.offer(ctx, "incident", r.cfg.incident); err != nil {
		return err
	}
	r.facts.incidentEnd = time.Now()
	return nil
}

// inject ends the baseline phase (its spans exported) and turns the
// scenario's bug on.
func (r *recording) inject(ctx context.Context) error {
	if r.cfg.scenario == "regression" || r.cfg.scenario == "bump" {
		r.progress("deploying v2: restarting the services (%s)", map[bool]string{true: "with the regression", false: "a benign version bump"}[r.cfg.scenario == "regression"])
		if err := r.stopServices(); err != nil {
			return err
		}
		if err := r.waitTargets(ctx, func(n float64) bool { return n == 0 }); err != nil {
			return err
		}
		r.rec.setPhase("incident")
		r.facts.version, r.facts.inject = "v2", time.Now()
		if err := r.startServices(ctx, "v2"); err != nil {
			return err
		}
		return r.waitTargets(ctx, func(n float64) bool { return n >= 2 })
	}
	for _, role := range []bank.Role{bank.RoleFrontend, bank.RoleLedger} {
		if err := r.admin(ctx, role, "/admin/flush"); err != nil {
			return err
		}
	}
	r.rec.setPhase("incident")
	r.facts.inject = time.Now()
	if r.cfg.scenario == "none" {
		r.progress("control: no bug switched on")
		return nil
	}
	if r.netns != nil {
		r.progress("dropping %d%% of the frontend's outgoing TCP packets (nftables, ingress of %s)", r.cfg.lossPercent, r.netns.hostIf)
		return r.netns.dropTCP(r.cfg.lossPercent)
	}
	bug, _, _ := strings.Cut(r.cfg.scenario, "-") // lockinv-pthread: the lockinv bug
	r.progress("switching the %s bug on", bug)
	for _, role := range []bank.Role{bank.RoleFrontend, bank.RoleLedger} {
		if err := r.admin(ctx, role, "/admin/bug?bug="+bug); err != nil {
			return err
		}
	}
	return nil
}

// admin POSTs to a service's admin path.
func (r *recording) admin(ctx context.Context, role bank.Role, path string) error {
	return postAdmin(ctx, string(role), r.urls[role]+path)
}

// postAdmin POSTs to a service's admin URL; errors name the service and
// the path.
func postAdmin(ctx context.Context, service, u string) error {
	return postAdminWith(ctx, metricsClient, service, u)
}

// postAdminWith is postAdmin through client.
func postAdminWith(ctx context.Context, client *http.Client, service, u string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return err
	}
	path := req.URL.Path
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", service, path, err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %s %s", service, path, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// offer runs the phase's load: transfers (POST) at --rate and balance
// reads at half of it, concurrently.
func (r *recording) offer(ctx context.Context, phase string, d time.Duration) error {
	r.progress("%s: %.0f transfers/s and %.0f balance reads/s for %v", phase, r.cfg.rate, r.cfg.rate/2, d)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	defer tr.CloseIdleConnections()
	loads := []struct {
		name, path string
		rate       float64
		rt         http.RoundTripper
	}{
		{"transfers", "/transfer?from=1&to=2&amount=1", r.cfg.rate, postTransport{tr}},
		{"balances", "/balance?account=2", r.cfg.rate / 2, tr},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(loads))
	res := make([]httpload.Result, len(loads))
	for i, l := range loads {
		wg.Go(func() {
			lc := httpload.DefaultConfig()
			lc.URL, lc.Rate, lc.Duration = r.urls[bank.RoleFrontend]+l.path, l.rate, d
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
		r.facts.loads[phase+"_"+l.name] = x
		r.progress("%s %s: %d ok, %d errors, %d shed; p50 %v, p99 %v", phase, l.name, x.OK, x.Errors, x.Shed,
			x.P50.Round(time.Microsecond), x.P99.Round(time.Microsecond))
		if x.OK == 0 {
			return fmt.Errorf("%s load (%s): no request succeeded (first error: %v)", phase, l.name, x.FirstError)
		}
	}
	return nil
}

// postTransport sends every request as a POST (httpload sends GETs).
type postTransport struct{ base http.RoundTripper }

func (p postTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Method = http.MethodPost
	return p.base.RoundTrip(req)
}
