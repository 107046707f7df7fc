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
}

func (r *recording) writeBundleFiles() error {
	t := scenarioTruth[r.cfg.scenario]
	t.InjectTimeUTC = r.facts.inject.UTC().Format(time.RFC3339Nano)
	t.Source = "recorded on this machine by debugai record --scenario " + r.cfg.scenario + " (workload/bank, debugai-node)"
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
		"node":   map[string]any{"kernel": strings.TrimSpace(string(kernel)), "cpus": runtime.NumCPU(), "cpu_model": cpuModel(), "arch": runtime.GOARCH},
		"load":   loads,
		"counts": map[string]any{"spans": spans, "kernel_records": logs},
		"files":  files,
	}
}

var recordDescription = map[string]string{
	"convoy":          "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's convoy bug switched on at inject: a sync.Mutex held across fdatasync",
	"callconvoy":      "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's Authorize waits 2 ms for a slow dependency throughout; at inject the frontend's callconvoy bug holds a mutex across that call",
	"regression":      "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); v1 in the baseline, v2 (extra CPU work in the ledger's GET /balance) deployed at inject",
	"iostorm":         "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's iostorm bug switched on at inject: synchronous chunked writes + fdatasync per entry on the request path, outside any lock",
	"faultstorm":      "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's faultstorm bug switched on at inject: each balance read touches evicted pages of an mmapped archive (major faults)",
	"cpuquota":        "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger joins a CPU-quota cgroup at inject (cpuquota) and is throttled under the same load",
	"none":            "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); control recording: the same load in both phases, no bug",
	"lockinv":         "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's lockinv bug switched on at inject: audit lock and ledger mutex taken in both orders, the retry path bounded by a TryLock timeout; services built with -gcflags=all=-l for lock order",
	"lockinv-pthread": "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the ledger's lockinv bug with pthread mutexes in C (cgo, system compiler) switched on at inject; pthread lock-order probes on the C library, a normal build",
	"netloss":         "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); the frontend in a private network namespace behind a veth pair; at inject nftables drops a share of its outgoing TCP packets",
	"bump":            "bank (frontend -> ledger: Authorize over gRPC, entries and balances over HTTP); control recording: v1 in the baseline, both services restarted as v2 at inject with no bug (a benign version bump)",
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
	switch c.scenario {
	case "faultstorm":
		cmd += fmt.Sprintf(" --fault-pages %d", c.faultPages)
	case "cpuquota":
		cmd += fmt.Sprintf(" --cpu-quota %g --cpu-period %v", c.cpuQuota, c.cpuPeriod)
	}
	if c.scenario == "netloss" {
		cmd += fmt.Sprintf(" --loss %d", c.lossPercent)
	}
	if c.serviceBin != "" {
		cmd += " --service-bin " + filepath.Base(c.serviceBin)
	}
	return cmd + fmt.Sprintf(" --node-args %q", strings.Join(c.nodeArgs, " "))
}
