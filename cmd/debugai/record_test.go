package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/report"
)

// investigateBundle runs investigate --bundle --json on a recorded bundle
// of eval/incidents and returns the report (nil when none was formed).
func investigateBundle(t *testing.T, name string) *report.Report {
	t.Helper()
	dir := filepath.Join("..", "..", "eval", "incidents", name)
	stdout, stderr, err := runCLI(t, "investigate", "--bundle", dir, "--json", "--out", t.TempDir())
	if err != nil {
		t.Fatalf("investigate --bundle %s: %v\n%s", dir, err, stderr)
	}
	if strings.HasPrefix(stdout, "No hypothesis") {
		return nil
	}
	rep, err := report.Parse([]byte(stdout))
	if err != nil {
		t.Fatalf("report: %v\n%s", err, stdout)
	}
	return &rep
}

// TestInvestigateRecordedConvoy: the convoy bundle recorded on a real
// kernel by debugai record is explained as a lock convoy in the ledger,
// accepted on kernel futex (Go lock-wait) and trace evidence.
func TestInvestigateRecordedConvoy(t *testing.T) {
	rep := investigateBundle(t, "convoy")
	if rep == nil || rep.Status != report.StatusAccepted {
		t.Fatalf("report %+v: want an accepted root cause", rep)
	}
	h := rep.Hypothesis
	if h.Pattern != "lock_convoy" || h.Location.Service != "ledger" {
		t.Errorf("pattern %q at service %q, want lock_convoy at ledger", h.Pattern, h.Location.Service)
	}
	for _, l := range []evidence.Line{evidence.LineKernelFutex, evidence.LineTrace} {
		if !slices.Contains(rep.Verdict.Lines, l) {
			t.Errorf("verdict lines %v lack %s", rep.Verdict.Lines, l)
		}
	}
}

// TestInvestigateRecordedStorms: the iostorm bundle (fdatasync on the
// ledger's request path, outside its lock) is accepted as io_latency on
// kernel.block (fsync waits) and trace evidence, and the faultstorm
// bundle (balance reads of an evicted mmapped archive) as a
// page_fault_storm on kernel.fault and trace evidence, both in the ledger.
func TestInvestigateRecordedStorms(t *testing.T) {
	for _, tc := range []struct {
		bundle, pattern string
		line            evidence.Line
	}{
		{"iostorm", "io_latency", evidence.LineKernelBlock},
		{"faultstorm", "page_fault_storm", evidence.LineKernelFault},
	} {
		t.Run(tc.bundle, func(t *testing.T) {
			rep := investigateBundle(t, tc.bundle)
			if rep == nil || rep.Status != report.StatusAccepted {
				t.Fatalf("report %+v: want an accepted root cause", rep)
			}
			h := rep.Hypothesis
			if string(h.Pattern) != tc.pattern || h.Location.Service != "ledger" {
				t.Errorf("pattern %q at service %q, want %s at ledger", h.Pattern, h.Location.Service, tc.pattern)
			}
			for _, l := range []evidence.Line{tc.line, evidence.LineTrace} {
				if !slices.Contains(rep.Verdict.Lines, l) {
					t.Errorf("verdict lines %v lack %s", rep.Verdict.Lines, l)
				}
			}
		})
	}
}

// TestInvestigateRecordedControl: the control bundle (same load, no bug)
// yields no accepted root cause.
func TestInvestigateRecordedControl(t *testing.T) {
	if rep := investigateBundle(t, "none"); rep != nil && rep.Status == report.StatusAccepted {
		t.Fatalf("control accepted %q at %q: %s", rep.Hypothesis.Pattern, rep.Hypothesis.Location.Service, rep.Hypothesis.Summary)
	}
}

// TestInvestigateRecordedRegression: v2's extra work in ledger GET
// /balance is found as a change point on that endpoint and accepted on
// trace and deploy (the versions' resources) evidence.
func TestInvestigateRecordedRegression(t *testing.T) {
	rep := investigateBundle(t, "regression")
	if rep == nil || rep.Status != report.StatusAccepted {
		t.Fatalf("report %+v: want an accepted root cause", rep)
	}
	loc := rep.Hypothesis.Location
	if loc.Service != "ledger" || loc.Endpoint != "GET /balance" {
		t.Errorf("root cause at %q %q, want ledger GET /balance", loc.Service, loc.Endpoint)
	}
}

func TestRecordFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--out", "x"}, `--scenario ""`},
		{[]string{"--scenario", "deadlock", "--out", "x"}, `--scenario "deadlock"`},
		{[]string{"--scenario", "convoy"}, "--out DIR is required"},
		{[]string{"--scenario", "convoy", "--out", "x", "--rate", "0"}, "--rate"},
		{[]string{"--scenario", "convoy", "--out", "x", "--snapshot-bytes", "0"}, "snapshot bytes 0"},
		{[]string{"--scenario", "convoy", "--out", "x", "extra"}, "takes no arguments"},
		{[]string{"--scenario", "cpuquota", "--out", "x", "--cpu-quota", "0"}, "--cpu-quota 0"},
		{[]string{"--scenario", "cpuquota", "--out", "x", "--cpu-period", "10s"}, "--cpu-period 10s"},
		{[]string{"--scenario", "faultstorm", "--out", "x", "--fault-pages", "0"}, "fault pages 0"},
		{[]string{"--scenario", "lockinv", "--out", "x"}, "--service-bin is required"},
		{[]string{"--scenario", "netloss", "--out", "x", "--loss", "0"}, "--loss 0"},
		{[]string{"--scenario", "netloss", "--out", "x", "--loss", "90"}, "--loss 90"},
		{[]string{"--scenario", "shop-loadup", "--out", "x", "--load-factor", "0.05"}, "--load-factor 0.05"},
		{[]string{"--scenario", "shop3-loaddown", "--out", "x", "--load-factor", "11"}, "--load-factor 11"},
		{[]string{"--scenario", "shop-neighbour", "--out", "x", "--hog-weight", "0"}, "--hog-weight 0"},
		{[]string{"--scenario", "shop-neighbour", "--out", "x", "--hog-threads", "99"}, "--hog-threads 99"},
		{[]string{"--scenario", "convoy", "--out", "x", "--node-bin", "/nonexistent/debugai-node"}, "CGO_ENABLED=0 go build -o /nonexistent/debugai-node ./cmd/debugai-node"},
	} {
		_, _, err := runCLI(t, append([]string{"record"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("record %q: %v, want an error containing %q", tc.args, err, tc.want)
		}
	}
}

func TestRecordNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root")
	}
	_, _, err := runCLI(t, "record", "--scenario", "none", "--out", t.TempDir(), "--node-bin", os.Args[0])
	if err == nil || !strings.Contains(err.Error(), "needs root") {
		t.Fatalf("record as non-root: %v, want a needs-root error", err)
	}
}

// TestRecordBank records a tiny convoy bundle with the real node
// collector: the children are copies of this test binary, re-executed as
// debugai (DEBUGAI_TEST_MAIN=1).
func TestRecordBank(t *testing.T) {
	requireEBPF(t)
	if testing.Short() {
		t.Skip("builds debugai-node and runs the collector: not in -short")
	}
	nodeBin := filepath.Join(t.TempDir(), "debugai-node")
	build := exec.Command("go", "build", "-o", nodeBin, "../debugai-node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building debugai-node: %v\n%s", err, out)
	}
	t.Setenv("DEBUGAI_TEST_MAIN", "1")
	out := filepath.Join(t.TempDir(), "bundle")
	_, stderr, err := runCLI(t, "record", "--scenario", "convoy", "--out", out, "--node-bin", nodeBin,
		"--baseline", "1s", "--incident", "1s", "--rate", "100")
	if err != nil {
		t.Fatalf("record: %v\n%s", err, stderr)
	}
	for _, want := range []string{"the node observes 2 target processes", "switching the convoy bug on", "incident transfers: 100 ok"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("progress lacks %q:\n%s", want, stderr)
		}
	}
	var truth bundleTruth
	readJSON(t, filepath.Join(out, "truth.json"), &truth)
	if truth.RootCauseService != "ledger" || truth.Pattern != "lock_convoy" || truth.InjectTimeUTC == "" {
		t.Errorf("truth.json: %+v", truth)
	}
	var manifest struct {
		Node   map[string]any `json:"node"`
		Window map[string]string
	}
	readJSON(t, filepath.Join(out, "manifest.json"), &manifest)
	if manifest.Node["kernel"] == "" || manifest.Window["incident_end"] == "" {
		t.Errorf("manifest.json: %+v", manifest)
	}
	for file, key := range map[string]string{"baseline.otlp.jsonl.gz": `"resourceSpans"`,
		"incident.otlp.jsonl.gz": `"ledger.commit"`, "kernel.otlp.jsonl.gz": `"kernel.fsync"`} {
		if b := gunzip(t, filepath.Join(out, file)); !bytes.Contains(b, []byte(key)) {
			t.Errorf("%s has no %s", file, key)
		}
	}
}

// TestRecordShop records tiny shop bundles (workload/shop's six
// services) with the real node collector: shop-dropfulfil (all six
// observed, the bug switched on in every service, the async fulfilment
// spans in the baseline, the charges in both phases, kernel records from
// the node) and shop3-deployv2 (corpus 3's topology: catalog reads the
// stock; payments redeployed as v2 on the address its callers know).
func TestRecordShop(t *testing.T) {
	requireEBPF(t)
	if testing.Short() {
		t.Skip("builds debugai-node and runs the collector: not in -short")
	}
	nodeBin := filepath.Join(t.TempDir(), "debugai-node")
	build := exec.Command("go", "build", "-o", nodeBin, "../debugai-node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building debugai-node: %v\n%s", err, out)
	}
	t.Setenv("DEBUGAI_TEST_MAIN", "1")
	for _, tc := range []struct {
		scenario, service, pattern string
		progress                   []string
		spans                      map[string]string // file: a string it holds
	}{
		{"shop-dropfulfil", "orders", "code_fault",
			[]string{"the node observes 6 target processes", "switching the dropfulfil bug on", "incident checkouts: 40 ok"},
			map[string]string{"baseline.otlp.jsonl.gz": `"orders.fulfil"`, "incident.otlp.jsonl.gz": `"payments.pool.acquire"`, "kernel.otlp.jsonl.gz": `"resourceLogs"`}},
		{"shop3-deployv2", "none", "none",
			[]string{"catalog reading the stock", "deploying payments v2", "incident checkouts: 40 ok"},
			map[string]string{"baseline.otlp.jsonl.gz": `"GET /stock"`, "incident.otlp.jsonl.gz": `"stringValue":"v2"`, "kernel.otlp.jsonl.gz": `"resourceLogs"`}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle")
			_, stderr, err := runCLI(t, "record", "--scenario", tc.scenario, "--out", out, "--node-bin", nodeBin,
				"--baseline", "1s", "--incident", "1s", "--rate", "40")
			if err != nil {
				t.Fatalf("record: %v\n%s", err, stderr)
			}
			for _, want := range tc.progress {
				if !strings.Contains(stderr, want) {
					t.Errorf("progress lacks %q:\n%s", want, stderr)
				}
			}
			if tc.scenario == "shop3-deployv2" {
				_, v1, _ := strings.Cut(stderr, "payments v1 listening on ")
				_, v2, _ := strings.Cut(stderr, "payments v2 listening on ")
				if v1, _, _ = strings.Cut(v1, " "); v1 == "" || !strings.HasPrefix(v2, v1+" ") {
					t.Errorf("payments v1 at %q, v2 at %q: want the same address", v1, v2)
				}
			}
			var truth bundleTruth
			readJSON(t, filepath.Join(out, "truth.json"), &truth)
			if truth.RootCauseService != tc.service || truth.Pattern != tc.pattern || truth.InjectTimeUTC == "" || !strings.Contains(truth.Source, "workload/shop") {
				t.Errorf("truth.json: %+v", truth)
			}
			for file, key := range tc.spans {
				if b := gunzip(t, filepath.Join(out, file)); !bytes.Contains(b, []byte(key)) {
					t.Errorf("%s has no %s", file, key)
				}
			}
		})
	}
}

// TestRecordMedia records tiny media bundles (workload/media's seven
// services) with the real node collector: media-indexpanic (all seven
// observed after the unrecorded warm-up, the bug switched on in every
// service, the failed feeds' exception events on the index's spans, the
// async transcode spans, kernel records) and media-recsv2 (recs
// redeployed as v2 on the address the edge knows).
func TestRecordMedia(t *testing.T) {
	requireEBPF(t)
	if testing.Short() {
		t.Skip("builds debugai-node and runs the collector: not in -short")
	}
	nodeBin := filepath.Join(t.TempDir(), "debugai-node")
	build := exec.Command("go", "build", "-o", nodeBin, "../debugai-node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building debugai-node: %v\n%s", err, out)
	}
	t.Setenv("DEBUGAI_TEST_MAIN", "1")
	for _, tc := range []struct {
		scenario, service, pattern string
		progress                   []string
		spans                      map[string]string // file: a string it holds
	}{
		{"media-indexpanic", "index", "code_fault",
			[]string{"the node observes 7 target processes", "warmup: 40 watches/s", "switching the indexpanic bug on", "incident feeds: 13 ok, 7 errors"},
			map[string]string{"baseline.otlp.jsonl.gz": `"transcode process"`, "incident.otlp.jsonl.gz": `"exception"`, "kernel.otlp.jsonl.gz": `"resourceLogs"`}},
		{"media-recsv2", "none", "none",
			[]string{"deploying recs v2", "incident feeds: 20 ok"},
			map[string]string{"baseline.otlp.jsonl.gz": `"media.v1.Index/Search"`, "incident.otlp.jsonl.gz": `"stringValue":"v2"`, "kernel.otlp.jsonl.gz": `"resourceLogs"`}},
	} {
		t.Run(tc.scenario, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "bundle")
			_, stderr, err := runCLI(t, "record", "--scenario", tc.scenario, "--out", out, "--node-bin", nodeBin,
				"--baseline", "1s", "--incident", "1s", "--rate", "40")
			if err != nil {
				t.Fatalf("record: %v\n%s", err, stderr)
			}
			for _, want := range tc.progress {
				if !strings.Contains(stderr, want) {
					t.Errorf("progress lacks %q:\n%s", want, stderr)
				}
			}
			if tc.scenario == "media-recsv2" {
				_, v1, _ := strings.Cut(stderr, "recs v1 listening on ")
				_, v2, _ := strings.Cut(stderr, "recs v2 listening on ")
				if v1, _, _ = strings.Cut(v1, " (pid"); v1 == "" || !strings.HasPrefix(v2, v1+" ") {
					t.Errorf("recs v1 at %q, v2 at %q: want the same addresses", v1, v2)
				}
			}
			var truth bundleTruth
			readJSON(t, filepath.Join(out, "truth.json"), &truth)
			if truth.RootCauseService != tc.service || truth.Pattern != tc.pattern || truth.InjectTimeUTC == "" || !strings.Contains(truth.Source, "workload/media") {
				t.Errorf("truth.json: %+v", truth)
			}
			for file, key := range tc.spans {
				if b := gunzip(t, filepath.Join(out, file)); !bytes.Contains(b, []byte(key)) {
					t.Errorf("%s has no %s", file, key)
				}
			}
			if _, err := os.Stat(filepath.Join(out, "warmup.otlp.jsonl.gz")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the warm-up's spans were kept: %v", err)
			}
		})
	}
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

func gunzip(t *testing.T, path string) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return b
}

// TestRecorderAcceptsJSONAndProtobuf: the recording receiver writes
// OTLP/JSON lines for protobuf (gzip) and JSON requests, by phase.
func TestRecorderAcceptsJSONAndProtobuf(t *testing.T) {
	dir := t.TempDir()
	rec, err := startRecorder(dir, "baseline", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, ctype string, body []byte, gz bool) {
		t.Helper()
		if gz {
			var buf bytes.Buffer
			zw := gzip.NewWriter(&buf)
			zw.Write(body)
			zw.Close()
			body = buf.Bytes()
		}
		req, _ := http.NewRequest(http.MethodPost, rec.url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if gz {
			req.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("POST %s: %s", path, resp.Status)
		}
	}
	span := `{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0102030405060708090a0b0c0d0e0f10","spanId":"0102030405060708","name":"s"}]}]}]}`
	post("/v1/traces", "application/json", []byte(span), false)
	rec.setPhase("incident")
	post("/v1/traces", "application/json", []byte(span), true)
	post("/v1/logs", "application/x-protobuf", nil, true) // an empty protobuf request
	if err := rec.close(); err != nil {
		t.Fatal(err)
	}
	spans, _ := rec.counts()
	if spans["baseline"] != 1 || spans["incident"] != 1 {
		t.Errorf("spans per phase %v", spans)
	}
	for _, f := range []string{"baseline.otlp.jsonl.gz", "incident.otlp.jsonl.gz", "kernel.otlp.jsonl.gz"} {
		if lines := bytes.Count(gunzip(t, filepath.Join(dir, f)), []byte("\n")); lines != 1 {
			t.Errorf("%s: %d lines, want 1", f, lines)
		}
	}
}

// TestRecordScenariosDescribed: every scenario record accepts has its
// ground truth and its manifest description; the controls name no root
// cause.
func TestRecordScenariosDescribed(t *testing.T) {
	for _, s := range recordScenarios {
		truth, ok := scenarioTruth[s]
		if !ok || truth.Pattern == "" || truth.Notes == "" || recordDescription[s] == "" {
			t.Errorf("scenario %s: truth %+v (known %v), description %q", s, truth, ok, recordDescription[s])
		}
		if control := s == "none" || s == "bump" || s == "shop-flagflip" || s == "shop-loadup" || s == "shop3-deployv2" || s == "shop3-loaddown" ||
			s == "media-mixshift" || s == "media-recsv2" || s == "ride-geov2" || s == "ride-loadshift"; control != (truth.RootCauseService == "none") {
			t.Errorf("scenario %s: root cause %q", s, truth.RootCauseService)
		}
		for _, c := range truth.SecondaryCauses {
			if c.Service == "" || c.Service == truth.RootCauseService || !hypothesis.Pattern(c.Pattern).Valid() {
				t.Errorf("scenario %s: secondary cause %+v", s, c)
			}
		}
		if p := hypothesis.Pattern(truth.Pattern); truth.RootCauseService != "none" && !p.Valid() {
			t.Errorf("scenario %s: pattern %q", s, p)
		}
	}
}

// TestRecordLockinvNodeArgs: lockinv turns the Go lock-order probes on
// unless --node-args says otherwise.
func TestRecordLockinvNodeArgs(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	c, err := parseRecordFlags([]string{"--scenario", "lockinv", "--out", "x", "--service-bin", "/bin/true"}, env)
	if err != nil || !slices.Contains(c.nodeArgs, "--go-locks=true") || slices.Contains(c.nodeArgs, "--go-locks=false") {
		t.Fatalf("lockinv node args %q, %v; want --go-locks=true", c.nodeArgs, err)
	}
	c, err = parseRecordFlags([]string{"--scenario", "lockinv", "--out", "x", "--service-bin", "/bin/true", "--node-args", "--go-locks=false"}, env)
	if err != nil || !slices.Equal(c.nodeArgs, []string{"--go-locks=false"}) {
		t.Fatalf("explicit node args %q, %v", c.nodeArgs, err)
	}
	c, err = parseRecordFlags([]string{"--scenario", "convoy", "--out", "x"}, env)
	if err != nil || !slices.Contains(c.nodeArgs, "--go-locks=false") {
		t.Fatalf("convoy node args %q, %v; want --go-locks=false", c.nodeArgs, err)
	}
}

// TestRecordShop3Defaults: corpus 3's scenarios record 50 checkouts/s for
// 12 s per phase unless the flags say otherwise, shop3-loaddown at half
// the load; corpus 2's keep 80/s and 10 s; corpus 4's (media) 48 watches/s
// and 15 s; corpus 5's (ride) 20 rides/s, 18 s of baseline and 12 s of
// incident.
func TestRecordShop3Defaults(t *testing.T) {
	env := &cmdEnv{stdout: io.Discard, stderr: io.Discard, getenv: func(string) string { return "" }}
	for _, tc := range []struct {
		args               []string
		rate, factor       float64
		baseline, incident time.Duration
	}{
		{[]string{"--scenario", "shop3-stockpanic"}, 50, 1.5, 12 * time.Second, 12 * time.Second},
		{[]string{"--scenario", "shop3-loaddown"}, 50, 0.5, 12 * time.Second, 12 * time.Second},
		{[]string{"--scenario", "shop3-loaddown", "--load-factor", "0.25", "--rate", "20", "--incident", "3s"}, 20, 0.25, 12 * time.Second, 3 * time.Second},
		{[]string{"--scenario", "shop-loadup"}, 80, 1.5, 10 * time.Second, 10 * time.Second},
		{[]string{"--scenario", "media-cachemiss"}, 48, 1.5, 15 * time.Second, 15 * time.Second},
		{[]string{"--scenario", "media-mixshift", "--rate", "20", "--baseline", "2s"}, 20, 1.5, 2 * time.Second, 15 * time.Second},
		{[]string{"--scenario", "ride-dbfsync"}, 20, 1.5, 18 * time.Second, 12 * time.Second},
		{[]string{"--scenario", "ride-loadshift", "--rate", "10", "--incident", "3s"}, 10, 1.5, 18 * time.Second, 3 * time.Second},
	} {
		c, err := parseRecordFlags(append(tc.args, "--out", "x"), env)
		if err != nil || c.rate != tc.rate || c.loadFactor != tc.factor || c.baseline != tc.baseline || c.incident != tc.incident {
			t.Errorf("%q: rate %g, load factor %g, phases %v and %v, %v", tc.args, c.rate, c.loadFactor, c.baseline, c.incident, err)
		}
	}
}
