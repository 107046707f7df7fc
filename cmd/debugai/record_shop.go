package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/bench/httpload"
	"github.com/debugai/debugai/workload/shop"
)

// The shop scenarios (corpus 2: shop-*; corpus 3: shop3-*) record
// workload/shop's six services. Each maps to what record does at inject.
var shopScenarios = map[string]struct {
	bug      shop.Bug // sent to every service at inject ("": none)
	deploy   shop.Role
	cgroups  bool      // the cpuquota cgroups, joined by the bug's role (inventory or orders)
	hog      shop.Role // pinned with a noisy neighbour started at inject
	lossy    shop.Role // in the lossy namespace, its outgoing TCP dropped at inject
	loadMult bool      // the incident load is --load-factor times the baseline's
	// loadFactor is --load-factor's default (0: the flag's).
	loadFactor float64
}{
	"shop-catalogpanic": {bug: shop.BugCatalogPanic},
	"shop-quotepanic":   {bug: shop.BugQuotePanic},
	"shop-dropfulfil":   {bug: shop.BugDropFulfil},
	"shop-retrystorm":   {bug: shop.BugRetryStorm},
	"shop-slowquote":    {bug: shop.BugSlowQuote},
	"shop-poolsat":      {bug: shop.BugPoolSat},
	"shop-nocache":      {bug: shop.BugNoCache},
	"shop-workerconvoy": {bug: shop.BugWorkerConvoy},
	"shop-reservesync":  {bug: shop.BugReserveSync},
	"shop-deploycpu":    {bug: shop.BugCPUQuota, deploy: shop.RoleGateway, cgroups: true},
	"shop-neighbour":    {hog: shop.RolePricing},
	"shop-stockloss":    {lossy: shop.RoleInventory},
	"shop-flagflip":     {bug: shop.BugFlagFlip},
	"shop-loadup":       {loadMult: true},
	// Corpus 3 (EVAL.md): other places and shapes, --catalog-stock.
	"shop3-stockpanic":    {bug: shop.BugStockPanic},
	"shop3-paymentserror": {bug: shop.BugPaymentsError},
	"shop3-payfsync":      {bug: shop.BugPayFsync},
	"shop3-catalogconvoy": {bug: shop.BugCatalogConvoy},
	"shop3-catalogpool":   {bug: shop.BugCatalogPool},
	"shop3-pricingloss":   {lossy: shop.RolePricing},
	"shop3-ordersretry":   {bug: shop.BugReserveFail},
	"shop3-ordersquota":   {bug: shop.BugOrdersQuota, cgroups: true},
	"shop3-deployv2":      {deploy: shop.RolePayments},
	"shop3-loaddown":      {loadMult: true, loadFactor: 0.5},
}

// isShop reports whether the scenario records workload/shop.
func isShop(scenario string) bool {
	return strings.HasPrefix(scenario, "shop-") || isShop3(scenario)
}

// isShop3 reports whether the scenario is one of corpus 3's: the shop with
// --catalog-stock (catalog reads the stock, which waits shop3StockDelay
// for the warehouse), at shop3DefaultRate for shop3Window per phase.
func isShop3(scenario string) bool { return strings.HasPrefix(scenario, "shop3-") }

// shopDefaultRate is the checkouts per second of a shop scenario when
// --rate is not given; shop3DefaultRate of a shop3 scenario.
const shopDefaultRate, shop3DefaultRate = 80, 50

// shop3Window is each phase of a shop3 scenario when --baseline or
// --incident is not given; shop3StockDelay is its warehouse's answer time
// (at 10 ms the paced load kept catalog's calls to inventory within 2
// connections 99% of the time, so shop3-catalogpool's shrink to 2 was no
// fault; at 15 ms about a quarter of its calls need a third).
const shop3Window, shop3StockDelay = 12 * time.Second, 15 * time.Millisecond

// hogCPU is the CPU the shop-neighbour victim and its neighbour share.
const hogCPU = "1"

// shopRecording is the state of a shop recording.
type shopRecording struct {
	svcs  map[shop.Role]*child
	urls  map[shop.Role]string // HTTP base URLs
	grpcs map[shop.Role]string // gRPC addresses
	hog   *child
	hogCg *cpuCgroups // the neighbour's cgroup
}

// startShop starts the six services, callees first, at version (only the
// scenario's deploy role runs v2 after inject; the others stay v1).
func (r *recording) startShop(ctx context.Context, only shop.Role, version string) error {
	sc := shopScenarios[r.cfg.scenario]
	for _, role := range shop.Roles {
		if only != "" && role != only {
			continue
		}
		host := "127.0.0.1"
		if r.netns != nil && role == sc.lossy {
			host = r.netns.nsAddr
		}
		listen, grpcListen := net.JoinHostPort(host, "0"), net.JoinHostPort(host, "0")
		if u, err := url.Parse(r.shop.urls[role]); err == nil && u.Host != "" { // a redeploy: the callers keep its addresses
			listen, grpcListen = u.Host, cmp.Or(r.shop.grpcs[role], grpcListen)
		}
		args := []string{"workload", "shop", "--role", string(role), "--listen", listen, "--otlp", r.rec.url,
			"--version", version, "--bug", "none", "--data-dir", r.tmp}
		if role.ServesGRPC() {
			args = append(args, "--grpc-listen", grpcListen)
		}
		if isShop3(r.cfg.scenario) {
			switch role {
			case shop.RoleGateway, shop.RoleCatalog:
				args = append(args, "--catalog-stock")
			case shop.RoleInventory:
				args = append(args, "--stock-delay", shop3StockDelay.String())
			}
		}
		switch role {
		case shop.RoleGateway:
			args = append(args, "--catalog-grpc", r.shop.grpcs[shop.RoleCatalog], "--pricing-grpc", r.shop.grpcs[shop.RolePricing],
				"--inventory", r.shop.urls[shop.RoleInventory], "--payments", r.shop.urls[shop.RolePayments], "--orders", r.shop.urls[shop.RoleOrders])
		case shop.RoleCatalog, shop.RoleOrders:
			args = append(args, "--inventory", r.shop.urls[shop.RoleInventory])
		}
		if r.cgroups != nil && (role == shop.RoleInventory || role == shop.RoleOrders) {
			args = append(args, "--cpu-cgroups", strings.Join(r.cgroups.dirs, ","))
		}
		bin := r.exe
		switch {
		case r.netns != nil && role == sc.lossy:
			bin, args = r.netns.exec(r.exe, args...)
		case sc.hog != "" && role == sc.hog:
			bin, args = "taskset", append([]string{"-c", hogCPU, r.exe}, args...) // taskset execs it: the pid is the service's
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
		r.shop.svcs[role], r.shop.urls[role], r.shop.grpcs[role] = c, url, grpcAddr
		r.progress("%s %s listening on %s %s(pid %d)", role, version, url, map[bool]string{true: "gRPC " + grpcAddr + " ", false: ""}[grpcAddr != ""], c.cmd.Process.Pid)
	}
	return nil
}

// stopShop stops the services, callers first (only: that one), and the
// neighbour.
func (r *recording) stopShop(only shop.Role) error {
	var err error
	for i := len(shop.Roles) - 1; i >= 0; i-- {
		role := shop.Roles[i]
		if c := r.shop.svcs[role]; c != nil && (only == "" || only == role) {
			err = errors.Join(err, c.stop(string(role)))
			delete(r.shop.svcs, role)
		}
	}
	if r.shop.hog != nil && only == "" {
		err = errors.Join(err, r.shop.hog.stop("noisy neighbour"))
		r.shop.hog = nil
	}
	if only == "" {
		err = errors.Join(err, r.shop.hogCg.remove())
		r.shop.hogCg = nil
	}
	return err
}

// injectShop ends the baseline phase and turns the scenario's causes on.
func (r *recording) injectShop(ctx context.Context) error {
	sc := shopScenarios[r.cfg.scenario]
	for i := len(shop.Roles) - 1; i >= 0; i-- { // callers first: their callees' spans follow
		if err := r.shopAdmin(ctx, shop.Roles[i], "/admin/flush"); err != nil {
			return err
		}
	}
	if sc.deploy != "" {
		r.progress("deploying %s v2 (a benign version bump): restarting it", sc.deploy)
		if err := r.stopShop(sc.deploy); err != nil {
			return err
		}
		if err := r.waitTargets(ctx, func(n float64) bool { return n == float64(len(shop.Roles)-1) }); err != nil {
			return err
		}
	}
	r.rec.setPhase("incident")
	r.facts.inject = time.Now()
	if sc.deploy != "" {
		r.facts.version = "v2 (" + string(sc.deploy) + ")"
		if err := r.startShop(ctx, sc.deploy, "v2"); err != nil {
			return err
		}
		if err := r.waitTargets(ctx, func(n float64) bool { return n >= float64(len(shop.Roles)) }); err != nil {
			return err
		}
	}
	if r.netns != nil {
		r.progress("dropping %d%% of %s's outgoing TCP packets (nftables, ingress of %s)", r.cfg.lossPercent, sc.lossy, r.netns.hostIf)
		if err := r.netns.dropTCP(r.cfg.lossPercent); err != nil {
			return err
		}
	}
	if sc.hog != "" {
		r.progress("starting a noisy neighbour: %d busy threads on CPU %s, %s's CPU, in a cgroup of CPU weight %dx", r.cfg.hogThreads, hogCPU, sc.hog, r.cfg.hogWeight)
		cg, err := newWeightCgroup(filepath.Base(r.tmp)+"-neighbour", r.cfg.hogWeight)
		if err != nil {
			return err
		}
		r.shop.hogCg = cg
		hogExe, err := copyExecutableFrom(r.exe, filepath.Join(r.tmp, "debugai-neighbour")) // another executable: not a node target
		if err != nil {
			return err
		}
		c, _, err := startChild(ctx, r.stderr, nil, 10*time.Second, "taskset", "-c", hogCPU, hogExe, "workload", "hog", "--threads", fmt.Sprint(r.cfg.hogThreads))
		if err != nil {
			return fmt.Errorf("noisy neighbour: %w", err)
		}
		r.shop.hog = c
		if err := cg.join(c.cmd.Process.Pid); err != nil {
			return err
		}
	}
	if sc.bug == "" {
		r.progress("no bug switched on")
		return nil
	}
	r.progress("switching the %s bug on", sc.bug)
	for _, role := range shop.Roles {
		if err := r.shopAdmin(ctx, role, "/admin/bug?bug="+string(sc.bug)); err != nil {
			return err
		}
	}
	return nil
}

// shopAdmin POSTs to a shop service's admin path.
func (r *recording) shopAdmin(ctx context.Context, role shop.Role, path string) error {
	return postAdmin(ctx, string(role), r.shop.urls[role]+path)
}

// offerShop runs the phase's load: checkouts (POST) at --rate and product
// reads at half of it (times --load-factor in shop-loadup's incident).
func (r *recording) offerShop(ctx context.Context, phase string, d time.Duration) error {
	rate := r.cfg.rate
	if phase == "incident" && shopScenarios[r.cfg.scenario].loadMult {
		rate *= r.cfg.loadFactor
	}
	r.progress("%s: %.0f checkouts/s and %.0f product reads/s for %v", phase, rate, rate/2, d)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 512
	defer tr.CloseIdleConnections()
	loads := []struct {
		name, path string
		rate       float64
		rt         http.RoundTripper
	}{
		{"checkouts", "/checkout", rate, postTransport{tr}},
		{"products", "/product", rate / 2, tr},
	}
	var wg sync.WaitGroup
	errs := make([]error, len(loads))
	res := make([]httpload.Result, len(loads))
	for i, l := range loads {
		wg.Go(func() {
			lc := httpload.DefaultConfig()
			lc.URL, lc.Rate, lc.Duration = r.shop.urls[shop.RoleGateway]+l.path, l.rate, d
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
		if x.OK == 0 && x.Errors == 0 {
			return fmt.Errorf("%s load (%s): no request answered (first error: %v)", phase, l.name, x.FirstError)
		}
	}
	return nil
}

// runShop is run for a shop scenario.
func (r *recording) runShop(ctx context.Context) error {
	r.shop = &shopRecording{svcs: map[shop.Role]*child{}, urls: map[shop.Role]string{}, grpcs: map[shop.Role]string{}}
	r.progress("scenario %s: starting the six shop services (v1%s) from %s", r.cfg.scenario,
		map[bool]string{true: ", catalog reading the stock", false: ""}[isShop3(r.cfg.scenario)], r.exe)
	if err := r.startShop(ctx, "", "v1"); err != nil {
		return err
	}
	r.progress("starting the node collector %s", r.cfg.nodeBin)
	if err := r.startNode(ctx); err != nil {
		return err
	}
	all := float64(len(shop.Roles))
	if err := r.waitTargets(ctx, func(n float64) bool { return n >= all }); err != nil {
		return err
	}
	r.facts.baselineStart = time.Now()
	if err := r.offerShop(ctx, "baseline", r.cfg.baseline); err != nil {
		return err
	}
	r.facts.baselineEnd = time.Now()
	r.facts.loadavg = map[string]string{"baseline_end": readLoadavg()}
	if err := r.injectShop(ctx); err != nil {
		return err
	}
	r.facts.incidentStart = time.Now()
	if err := r.offerShop(ctx, "incident", r.cfg.incident); err != nil {
		return err
	}
	r.facts.incidentEnd = time.Now()
	r.facts.loadavg["incident_end"] = readLoadavg()
	return nil
}

// readLoadavg returns the 1, 5 and 15 minute load averages ("" when
// unreadable).
func readLoadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:min(3, len(f))], " ")
}
