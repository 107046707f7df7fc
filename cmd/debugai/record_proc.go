package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/debugai/debugai/workload/bank"
)

// startServices serves the ledger (HTTP and gRPC), then the frontend
// calling it (Authorize over gRPC, then POST /entries over HTTP), at
// version (v2 carries the regression bug when that is the scenario).
func (r *recording) startServices(ctx context.Context, version string) error {
	bug := "none"
	if version == "v2" && r.cfg.scenario == "regression" {
		bug = "regression" // "bump" deploys v2 without it: a benign release
	}
	ledgerGRPC := "" // learned from the ledger's ready line
	for _, role := range []bank.Role{bank.RoleLedger, bank.RoleFrontend} {
		host := "127.0.0.1"
		if r.netns != nil { // the frontend inside the lossy namespace, the ledger on the host end of its veth
			host = map[bank.Role]string{bank.RoleFrontend: r.netns.nsAddr, bank.RoleLedger: r.netns.hostAddr}[role]
		}
		args := []string{"workload", "bank", "--role", string(role), "--listen", net.JoinHostPort(host, "0"), "--otlp", r.rec.url,
			"--version", version, "--bug", bug, "--data-dir", r.tmp,
			"--snapshot-bytes", strconv.Itoa(r.cfg.snapshotBytes), "--sync-chunk-bytes", strconv.Itoa(r.cfg.syncChunkBytes),
			"--regression-rounds", strconv.Itoa(r.cfg.regressionRounds), "--fault-pages", strconv.Itoa(r.cfg.faultPages)}
		if role == bank.RoleFrontend {
			args = append(args, "--ledger", r.urls[bank.RoleLedger], "--ledger-grpc", ledgerGRPC)
		}
		if r.cfg.scenario == "lockinv-pthread" {
			args = append(args, "--locks", bank.LocksPthread)
		}
		if r.cfg.scenario == "callconvoy" && role == bank.RoleLedger {
			args = append(args, "--authorize-delay", "2ms") // a slow dependency, before and after inject
		}
		if role == bank.RoleLedger {
			args = append(args, "--grpc-listen", net.JoinHostPort(host, "0"))
			if r.cgroups != nil {
				args = append(args, "--cpu-cgroups", strings.Join(r.cgroups.dirs, ","))
			}
		}
		bin := r.exe
		if r.netns != nil && role == bank.RoleFrontend {
			bin, args = r.netns.exec(r.exe, args...) // ip netns exec execs it: the pid is the service's
		}
		c, line, err := startChild(ctx, r.stderr, nil, 30*time.Second, bin, args...)
		if err != nil {
			return fmt.Errorf("%s: %w", role, err)
		}
		url, grpcAddr, err := parseReadyLine(line)
		if err == nil && role == bank.RoleLedger && grpcAddr == "" {
			err = fmt.Errorf("no gRPC address in the first line %q", line)
		}
		if err != nil {
			return errors.Join(fmt.Errorf("%s: %w", role, err), c.stop(string(role)))
		}
		r.svcs[role], r.urls[role] = c, url
		if role == bank.RoleLedger {
			ledgerGRPC = grpcAddr
			r.progress("%s %s listening on %s, gRPC %s (pid %d)", role, version, url, grpcAddr, c.cmd.Process.Pid)
			continue
		}
		r.progress("%s %s listening on %s (pid %d)", role, version, url, c.cmd.Process.Pid)
	}
	return nil
}

// stopServices stops the frontend, then the ledger; each exports its
// remaining spans before it exits.
func (r *recording) stopServices() error {
	var err error
	if r.shop != nil {
		err = r.stopShop("")
	}
	if r.media != nil {
		err = errors.Join(err, r.stopMedia(""))
	}
	if r.ride != nil {
		err = errors.Join(err, r.stopRide(""))
	}
	for _, role := range []bank.Role{bank.RoleFrontend, bank.RoleLedger} {
		if c := r.svcs[role]; c != nil {
			err = errors.Join(err, c.stop(string(role)))
			delete(r.svcs, role)
		}
	}
	return err
}

// startNode starts the node collector on the services' executable.
func (r *recording) startNode(ctx context.Context) error {
	args := append([]string{"--exe", r.exe, "--metrics-listen", "127.0.0.1:0", "--endpoint", r.rec.url + "/v1/logs",
		"--key-file", filepath.Join(r.tmp, "hmac.key"), "--log-level", "warn"}, r.cfg.nodeArgs...)
	c, line, err := startChild(ctx, r.stderr, []string{"DEBUGAI_HMAC_KEY=" + r.secret}, time.Minute, r.cfg.nodeBin, args...)
	if err != nil {
		return fmt.Errorf("node collector: %w", err)
	}
	_, url, ok := strings.Cut(line, "metrics ")
	if !ok || !strings.HasPrefix(url, "http://") {
		return errors.Join(fmt.Errorf("node collector: no metrics URL in %q", line), c.stop("node collector"))
	}
	r.node, r.metricsURL = c, strings.TrimSpace(url)
	return nil
}

// stopNode stops the node collector, which exports what it read.
func (r *recording) stopNode() error {
	if r.node == nil {
		return nil
	}
	err := r.node.stop("node collector")
	r.node = nil
	return err
}

// waitTargets polls the node's /metrics until its target count satisfies ok.
func (r *recording) waitTargets(ctx context.Context, ok func(float64) bool) error {
	deadline := time.Now().Add(r.cfg.targetTimeout)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		m, err := scrapeMetrics(r.metricsURL)
		if err == nil && ok(m["debugai_node_targets"]) {
			r.progress("the node observes %.0f target processes", m["debugai_node_targets"])
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = fmt.Errorf("debugai_node_targets is %.0f", m["debugai_node_targets"])
			}
			return fmt.Errorf("waiting %v for the node's targets: %w", r.cfg.targetTimeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// bundleTruth is truth.json (ARCHITECTURE.md, "Incident bundle").
type bundleTruth struct {
	RootCauseService   string `json:"root_cause_service"`
	RootCauseOperation string `json:"root_cause_operation,omitempty"`
	Pattern            string `json:"pattern"`
	Version            string `json:"version,omitempty"`
	InjectTimeUTC      string `json:"inject_time_utc"`
	Source             string `json:"source"`
	Notes              string `json:"notes,omitempty"`
	// SecondaryCauses are further causes of the incident, smaller than
	// the root cause (eval.Truth.SecondaryCauses).
	SecondaryCauses []truthCause `json:"secondary_causes,omitempty"`
}

// truthCause is one secondary cause.
type truthCause struct {
	Service   string `json:"service"`
	Operation string `json:"operation,omitempty"`
	Pattern   string `json:"pattern"`
}

// scenarioTruth is each scenario's ground truth, but the times.
var scenarioTruth = map[string]bundleTruth{
	"convoy": {RootCauseService: "ledger", RootCauseOperation: "POST /entries", Pattern: "lock_convoy", Version: "v1",
		Notes: "the ledger rewrites and fdatasyncs its balance snapshot while holding its process-wide sync.Mutex; transfers queue behind the holder's disk wait"},
	"callconvoy": {RootCauseService: "frontend", RootCauseOperation: "POST /transfer", Pattern: "lock_convoy", Version: "v1",
		Notes: "at inject the frontend starts holding one sync.Mutex across each transfer's Authorize call to the ledger, whose Authorize waits 2 ms for a slow dependency throughout the recording: transfers queue on the frontend's mutex behind the call in flight"},
	"regression": {RootCauseService: "ledger", RootCauseOperation: "GET /balance", Pattern: "regression_other", Version: "v2",
		Notes: "v2 of the ledger re-hashes an account's history on every balance read (extra CPU work); v1 does not"},
	"iostorm": {RootCauseService: "ledger", RootCauseOperation: "POST /entries", Pattern: "io_latency", Version: "v1",
		Notes: "the ledger journals every entry on the request path, outside its mutex: a 256 KiB record written in 32 KiB chunks, each fdatasynced; transfers wait for the disk"},
	"faultstorm": {RootCauseService: "ledger", RootCauseOperation: "GET /balance", Pattern: "page_fault_storm", Version: "v1",
		Notes: "every ledger balance read touches pages of an mmapped archive that it evicted after their last use (MADV_DONTNEED + POSIX_FADV_DONTNEED, MADV_RANDOM): each touch is a major page fault waiting for a disk read"},
	"cpuquota": {RootCauseService: "ledger", Pattern: "starvation", Version: "v1",
		Notes: "at inject the ledger joins a cgroup with a CPU quota (cpu.cfs_quota_us) below what the offered load needs: its threads are throttled and wait runnable for a CPU"},
	"none": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: no bug was switched on; a correct investigation accepts no root cause (root_cause_service \"none\")"},
	"lockinv": {RootCauseService: "ledger", Pattern: "lock_inversion", Version: "v1",
		Notes: "the ledger's POST /entries appends to its audit trail while holding the ledger mutex; GET /balance reconciles the audit trail holding the audit lock while it polls for the ledger mutex with a 25 ms TryLock timeout, then retries: AB-BA bounded by a timeout"},
	"lockinv-pthread": {RootCauseService: "ledger", Pattern: "lock_inversion", Version: "v1",
		Notes: "the lockinv bug with pthread mutexes taken by C code (workload/bank/plock.c): POST /entries takes the ledger lock then the audit lock; GET /balance holds the audit lock while it waits for the ledger lock with pthread_mutex_timedlock (25 ms)"},
	"netloss": {RootCauseService: "frontend", Pattern: "retransmit_tail", Version: "v1",
		Notes: "the frontend runs in a private network namespace; at inject an nftables rule there drops a share of its outgoing TCP packets at random, so its calls to the ledger (and its answers) wait for TCP retransmission timeouts"},
	"bump": {RootCauseService: "none", Pattern: "none", Version: "v2",
		Notes: "control: both services are redeployed as v2 with no bug (a benign version bump, restarts included); a correct investigation accepts no root cause"},
	"shop-catalogpanic": {RootCauseService: "catalog", RootCauseOperation: "debugai.shop.v1.Catalog/GetProduct", Pattern: "code_fault", Version: "v1",
		Notes: "at inject catalog's GetProduct starts throwing (a write to a nil map) for every third product, before its cache; its own recovery answers \"not found\" with an OK status, so the gateway answers 404 to those checkouts and product reads without calling payments or orders, and catalog skips its store reads for them: traces end early and no span carries an error status"},
	"shop-quotepanic": {RootCauseService: "pricing", RootCauseOperation: "debugai.shop.v1.Pricing/Quote", Pattern: "code_fault", Version: "v1",
		Notes: "at inject pricing's Quote starts throwing (a write to a nil map) for every third product; a recovery interceptor answers codes.Internal (error status on the pricing server span and the gateway's client and server spans) and the gateway fails those checkouts after the fan-out, without calling payments or orders: traces end early"},
	"shop-dropfulfil": {RootCauseService: "orders", RootCauseOperation: "POST /orders", Pattern: "code_fault", Version: "v1",
		Notes: "at inject orders' enqueue path returns an error that POST /orders logs and swallows: it answers 201 as fast as before, but no fulfilment job is queued, so the orders.enqueue, orders.fulfil and inventory POST /reserve spans disappear; no latency change, no error status"},
	"shop-retrystorm": {RootCauseService: "payments", RootCauseOperation: "POST /charge", Pattern: "retry_storm", Version: "v1",
		Notes: "at inject payments' POST /charge fails fast with 503 on two of every three calls (a token cache that keeps expiring); the gateway retries each charge until it succeeds, so checkouts make about three charge calls instead of one"},
	"shop-slowquote": {RootCauseService: "pricing", RootCauseOperation: "debugai.shop.v1.Pricing/Quote", Pattern: "gc_or_cpu", Version: "v1",
		Notes: "at inject pricing's Quote does 40 times its CPU work (SHA-256 rounds); the gateway's checkouts and product reads, which wait for the quote in their fan-out, look slow too (they inherit the callee's time)"},
	"shop-poolsat": {RootCauseService: "payments", RootCauseOperation: "POST /charge", Pattern: "pool_saturation", Version: "v1",
		SecondaryCauses: []truthCause{{Service: "inventory", Operation: "GET /stock", Pattern: "lock_convoy"}},
		Notes:           "at inject payments' worker pool shrinks from 16 slots to 1 while each charge holds its slot for the 10 ms card network call: charges queue in payments.pool.acquire (the dominant share); at the same time inventory's GET /stock starts writing an audit record durably (16 KiB, fdatasync per 8 KiB) while holding an audit mutex, a smaller lock convoy in the checkout's fan-out (secondary)"},
	"shop-nocache": {RootCauseService: "catalog", RootCauseOperation: "debugai.shop.v1.Catalog/GetProduct", Pattern: "regression_other", Version: "v1",
		SecondaryCauses: []truthCause{{Service: "inventory", Operation: "GET /items", Pattern: "lock_convoy"}},
		Notes:           "at inject a flag makes catalog bypass its cache: every GetProduct reads the store (inventory GET /items, about 8x as many calls), whose item reads hold the store mutex for 6 ms each and now queue on it, as do the stock reads that take the same mutex (secondary: the overloaded store)"},
	"shop-workerconvoy": {RootCauseService: "orders", RootCauseOperation: "orders.fulfil", Pattern: "lock_convoy", Version: "v1",
		Notes: "at inject orders' four fulfilment workers hold one mutex across the reservation call (inventory POST /reserve) and a durable rewrite of the shipping manifest (32 KiB, fdatasync per 8 KiB): the async consumer spans orders.fulfil queue behind the holder; the checkouts do not wait for them"},
	"shop-reservesync": {RootCauseService: "inventory", RootCauseOperation: "POST /reserve", Pattern: "io_latency", Version: "v1",
		Notes: "at inject inventory's POST /reserve journals each reservation durably on the request path, outside its mutex (256 KiB written in 8 KiB chunks, each fdatasynced): reservations wait for the disk, and orders' async orders.fulfil spans that call it inherit the wait"},
	"shop-deploycpu": {RootCauseService: "inventory", Pattern: "starvation", Version: "v1",
		Notes: "at inject the gateway is redeployed as v2 with no change (a benign version bump, restart included) and, at the same moment, inventory joins a cgroup with a CPU quota below what its load needs: its threads are throttled and wait runnable for a CPU (every inventory operation, hence no root_cause_operation); the deploy is a distractor, not a cause"},
	"shop-neighbour": {RootCauseService: "pricing", RootCauseOperation: "debugai.shop.v1.Pricing/Quote", Pattern: "starvation", Version: "v1",
		Notes: "pricing runs pinned to CPU 1 (taskset) throughout; at inject a noisy neighbour, another process (not a traced service) in its own cgroup with a larger CPU weight, pinned to the same CPU, starts busy threads: pricing's threads wait runnable for the CPU and its quotes (its only operation) and their callers slow down"},
	"shop-stockloss": {RootCauseService: "inventory", Pattern: "retransmit_tail", Version: "v1",
		Notes: "inventory runs in a private network namespace behind a veth pair; at inject an nftables rule drops a share of the TCP packets it sends, so its answers to catalog, gateway and orders wait for retransmission timeouts (every inventory operation, hence no root_cause_operation)"},
	"shop-flagflip": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: at inject a feature flag is flipped on every service: a gift-wrap option only requests with giftwrap=1 take (the load sends none) and a receipt wording change in orders; a correct investigation accepts no root cause"},
	"shop-loadup": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: at inject the offered load rises (--load-factor times the baseline's checkouts and product reads) with no bug; the services have the capacity; a correct investigation accepts no root cause"},
	"shop3-stockpanic": {RootCauseService: "inventory", RootCauseOperation: "GET /stock", Pattern: "code_fault", Version: "v1",
		Notes: "catalog reads the stock on every GetProduct (--catalog-stock); at inject every third inventory GET /stock panics (a write to a nil map); a recovery middleware outside the tracing middleware answers 500, so inventory's server span ends with no error status and no status code while catalog's call and GetProduct and the gateway's checkouts and product reads fail with error status: about a third of the traces end before payments and orders"},
	"shop3-paymentserror": {RootCauseService: "payments", RootCauseOperation: "POST /charge", Pattern: "code_fault", Version: "v1",
		Notes: "at inject payments' POST /charge fails for every fourth product (a currency rule missing from its table): it answers 500 with error status before the pool and the card network; the gateway does not retry answers other than 503 and fails those checkouts (a quarter) before orders"},
	"shop3-payfsync": {RootCauseService: "payments", RootCauseOperation: "POST /charge", Pattern: "io_latency", Version: "v1",
		Notes: "at inject payments starts journaling each charge durably on the charge path, outside any lock: a 64 KiB record written in 8 KiB chunks, each followed by fsync, to a file on the real disk; charges and the checkouts that wait for them slow down by the disk's sync time"},
	"shop3-catalogconvoy": {RootCauseService: "catalog", RootCauseOperation: "debugai.shop.v1.Catalog/GetProduct", Pattern: "lock_convoy", Version: "v1",
		Notes: "at inject every third catalog GetProduct re-renders the product page (about 7 ms of CPU work) while holding the cache mutex that every GetProduct takes to read its cache: the other lookups queue on the mutex behind the render"},
	"shop3-catalogpool": {RootCauseService: "catalog", RootCauseOperation: "debugai.shop.v1.Catalog/GetProduct", Pattern: "pool_saturation", Version: "v1",
		Notes: "catalog reads the stock (inventory GET /stock, 15 ms for the warehouse's answer) on every GetProduct; at inject catalog's HTTP client pool to inventory shrinks to 2 connections: a call that finds both busy waits for one inside catalog's client span, a wait inventory's server span does not include (under the paced load mostly the item reads of cache misses, which arrive while stock reads hold both)"},
	"shop3-pricingloss": {RootCauseService: "pricing", Pattern: "retransmit_tail", Version: "v1",
		Notes: "pricing runs in a private network namespace behind a veth pair; at inject an nftables rule drops a share of the TCP packets pricing sends, so its gRPC answers to the gateway wait for retransmission (the network, not an operation: no root_cause_operation)"},
	"shop3-ordersretry": {RootCauseService: "inventory", RootCauseOperation: "POST /reserve", Pattern: "retry_storm", Version: "v1",
		Notes: "at inject inventory's POST /reserve fails every third call fast with 503 (its journal is busy); orders' fulfilment workers retry a 503 up to 4 times, so the reservation calls multiply behind each fulfilment (async: the checkouts do not wait for them)"},
	"shop3-ordersquota": {RootCauseService: "orders", Pattern: "starvation", Version: "v1",
		Notes: "at inject orders joins a cgroup with a CPU quota (v1 cpu.cfs_quota_us, plus a v2 cgroup under /sys/fs/cgroup/unified) below what its load needs: its threads are throttled and wait runnable for a CPU (every orders operation, POST /orders and the fulfilment workers, hence no root_cause_operation)"},
	"shop3-deployv2": {RootCauseService: "none", Pattern: "none", Version: "v2",
		Notes: "control: at inject payments is redeployed as v2 with no behaviour change (restarted on the same addresses, between the phases); a correct investigation accepts no root cause"},
	"shop3-loaddown": {RootCauseService: "none", Pattern: "none", Version: "v1",
		Notes: "control: at inject the offered load halves (--load-factor 0.5 of the baseline's checkouts and product reads) with no bug; a correct investigation accepts no root cause"},
}

func (r *recording) writeBundleFiles() error {
	t := scenarioTruth[r.cfg.scenario]
	t.InjectTimeUTC = r.facts.inject.UTC().Format(time.RFC3339Nano)
	t.Source = "recorded on this machine by debugai record --scenario " + r.cfg.scenario + " (workload/bank, debugai-node)"
	if isShop(r.cfg.scenario) {
		t.Source = "recorded on this machine by debugai record --scenario " + r.cfg.scenario + " (workload/shop, debugai-node)"
	}
	if isMedia(r.cfg.scenario) {
		t.Source = "recorded on this machine by debugai record --scenario " + r.cfg.scenario + " (workload/media, debugai-node)"
	}
	if isRide(r.cfg.scenario) {
		t.Source = "recorded on this machine by debugai record --scenario " + r.cfg.scenario + " (workload/ride, debugai-node)"
	}
	if err := writeJSONFile(filepath.Join(r.cfg.out, "truth.json"), t); err != nil {
		return err
	}
	return writeJSONFile(filepath.Join(r.cfg.out, "manifest.json"), r.manifest())
}

func (r *recording) manifest() map[string]any {
	ts := func(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
	spans, logs := r.rec.counts()
	files := map[string]int64{}
	for _, name := range []string{"baseline.otlp.jsonl.gz", "incident.otlp.jsonl.gz", "kernel.otlp.jsonl.gz"} {
		if fi, err := os.Stat(filepath.Join(r.cfg.out, name)); err == nil {
			files[name] = fi.Size()
		}
	}
	loads := map[string]any{}
	for k, x := range r.facts.loads {
		loads[k] = map[string]any{"offered_per_s": x.OfferedPerSecond, "ok": x.OK, "errors": x.Errors, "shed": x.Shed,
			"p50_ms": float64(x.P50) / 1e6, "p99_ms": float64(x.P99) / 1e6}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return map[string]any{
		"name":        filepath.Base(filepath.Clean(r.cfg.out)),
		"description": recordDescription[r.cfg.scenario],
		"command":     r.command(),
		"versions":    map[string]string{"debugai": buildRevision(), "go": runtime.Version(), "baseline": "v1", "incident": r.facts.version},
		"window": map[string]string{"baseline_start": ts(r.facts.baselineStart), "baseline_end": ts(r.facts.baselineEnd),
			"incident_start": ts(r.facts.incidentStart), "incident_end": ts(r.facts.incidentEnd), "inject": ts(r.facts.inject)},
		"node":   r.nodeFacts(strings.TrimSpace(string(kernel))),
		"load":   loads,
		"counts": map[string]any{"spans": spans, "kernel_records": logs},
		"files":  files,
	}
}

var recordDescription = map[string]string{
	"convoy":              "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's convoy bug switched on at inject: a sync.Mutex held across fdatasync",
	"callconvoy":          "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's Authorize waits 2 ms for a slow dependency throughout; at inject the frontend's callconvoy bug holds a mutex across that call",
	"regression":          "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); v1 in the baseline, v2 (extra CPU work in the ledger's GET /balance) deployed at inject",
	"iostorm":             "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's iostorm bug switched on at inject: synchronous chunked writes + fdatasync per entry on the request path, outside any lock",
	"faultstorm":          "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's faultstorm bug switched on at inject: each balance read touches evicted pages of an mmapped archive (major faults)",
	"cpuquota":            "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger joins a CPU-quota cgroup at inject (cpuquota) and is throttled under the same load",
	"none":                "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); control recording: the same load in both phases, no bug",
	"lockinv":             "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's lockinv bug switched on at inject: audit lock and ledger mutex taken in both orders, the retry path bounded by a TryLock timeout; services built with -gcflags=all=-l for lock order",
	"lockinv-pthread":     "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's lockinv bug with pthread mutexes in C (cgo, system compiler) switched on at inject; pthread lock-order probes on the C library, a normal build",
	"netloss":             "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the frontend in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"bump":                "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); control recording: v1 in the baseline, both services restarted as v2 at inject with no bug (a benign version bump)",
	"shop-catalogpanic":   "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject catalog's GetProduct throws for every third product and its recovery answers not-found with an OK status (traces end early, no error status)",
	"shop-quotepanic":     "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject pricing's Quote throws for every third product (codes.Internal; the gateway fails those checkouts early)",
	"shop-dropfulfil":     "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject orders swallows an error return on its enqueue path: no fulfilment jobs, same latency",
	"shop-retrystorm":     "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject payments fails two of three charges fast with 503 and the gateway retries them",
	"shop-slowquote":      "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject pricing's Quote does 40x its CPU work",
	"shop-poolsat":        "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject payments' pool shrinks to one slot and inventory's stock reads fdatasync an audit record under an audit mutex",
	"shop-nocache":        "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject catalog's cache is bypassed and inventory's item reads queue on the store mutex",
	"shop-workerconvoy":   "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject orders' fulfilment workers hold one mutex across the reservation call and an fdatasynced manifest rewrite",
	"shop-reservesync":    "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject inventory's POST /reserve journals each reservation with fdatasync per chunk",
	"shop-deploycpu":      "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); at inject the gateway is redeployed as v2 (benign) and inventory joins a CPU-quota cgroup",
	"shop-neighbour":      "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); pricing pinned to CPU 1 throughout; at inject a noisy neighbour process in a heavier cgroup spins threads on CPU 1",
	"shop-stockloss":      "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); inventory in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"shop-flagflip":       "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); control: at inject a feature flag with no effect on the offered requests is flipped",
	"shop-loadup":         "shop (gateway -> catalog and pricing over gRPC, inventory stock over HTTP, in parallel; -> payments, -> orders over HTTP; catalog caches inventory items; orders queues fulfilment jobs that background workers send to inventory); control: at inject the offered load rises (--load-factor), no bug",
	"shop3-stockpanic":    "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject every third inventory stock read panics; a recovery middleware outside the tracing answers 500 (no error status on inventory's span)",
	"shop3-paymentserror": "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject payments fails the charges of every fourth product with 500 and error status; the gateway does not retry them",
	"shop3-payfsync":      "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject payments journals each charge with an fsync per 8 KiB chunk of a 64 KiB record on the charge path",
	"shop3-catalogconvoy": "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject every third catalog GetProduct renders the product page (CPU work) while holding the cache mutex every lookup takes",
	"shop3-catalogpool":   "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject catalog's client pool to inventory shrinks to 2 connections",
	"shop3-pricingloss":   "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); pricing in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"shop3-ordersretry":   "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject inventory fails every third reservation fast with 503 and orders' workers retry them",
	"shop3-ordersquota":   "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); at inject orders joins a CPU-quota cgroup",
	"shop3-deployv2":      "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); control: at inject payments is redeployed as v2 on the same addresses, no change",
	"shop3-loaddown":      "shop, corpus 3 topology (gateway -> catalog and pricing over gRPC in parallel, -> payments, -> orders over HTTP; catalog caches inventory items and reads inventory stock on every lookup, 15 ms warehouse answer; orders queues fulfilment jobs that background workers send to inventory, retrying 503s); control: at inject the offered load halves (--load-factor 0.5), no bug",
}

// nodeFacts describes the machine: kernel, CPUs and, when sampled, its
// load averages (the 2-core machine is shared: background load varies).
func (r *recording) nodeFacts(kernel string) map[string]any {
	m := map[string]any{"kernel": kernel, "cpus": runtime.NumCPU(), "cpu_model": cpuModel(), "arch": runtime.GOARCH}
	if r.facts.loadavg != nil {
		m["loadavg"] = r.facts.loadavg
	}
	return m
}

func buildRevision() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	rev, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev == "" {
		return bi.Main.Version
	}
	if dirty {
		rev += "+dirty"
	}
	return rev
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Base(path), err)
	}
	return nil
}

// command is the record command line that reproduces the bundle.
func (r *recording) command() string {
	c := &r.cfg
	cmd := fmt.Sprintf("debugai record --scenario %s --out %s --baseline %v --incident %v --rate %g --snapshot-bytes %d --regression-rounds %d",
		c.scenario, filepath.Base(filepath.Clean(c.out)), c.baseline, c.incident, c.rate, c.snapshotBytes, c.regressionRounds)
	if isShop(c.scenario) || isMedia(c.scenario) || isRide(c.scenario) {
		cmd = fmt.Sprintf("debugai record --scenario %s --out %s --baseline %v --incident %v --rate %g",
			c.scenario, filepath.Base(filepath.Clean(c.out)), c.baseline, c.incident, c.rate)
	}
	switch c.scenario {
	case "faultstorm":
		cmd += fmt.Sprintf(" --fault-pages %d", c.faultPages)
	case "cpuquota":
		cmd += fmt.Sprintf(" --cpu-quota %g --cpu-period %v", c.cpuQuota, c.cpuPeriod)
	}
	sc, mc, rc := shopScenarios[c.scenario], mediaScenarios[c.scenario], rideScenarios[c.scenario]
	if c.scenario == "netloss" || sc.lossy != "" || mc.lossy != "" || rc.lossy != "" {
		cmd += fmt.Sprintf(" --loss %d", c.lossPercent)
	}
	if sc.cgroups || mc.cgroups || rc.quota != "" {
		cmd += fmt.Sprintf(" --cpu-quota %g --cpu-period %v", c.cpuQuota, c.cpuPeriod)
	}
	if sc.loadMult {
		cmd += fmt.Sprintf(" --load-factor %g", c.loadFactor)
	}
	if sc.hog != "" {
		cmd += fmt.Sprintf(" --hog-threads %d --hog-weight %d", c.hogThreads, c.hogWeight)
	}
	if c.serviceBin != "" {
		cmd += " --service-bin " + filepath.Base(c.serviceBin)
	}
	return cmd + fmt.Sprintf(" --node-args %q", strings.Join(c.nodeArgs, " "))
}
