package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/internal/testenv"
	"github.com/debugai/debugai/node"
	"github.com/debugai/debugai/privacy"
)

// The shipped Collector configurations (deploy/collector).
const (
	gatewayConfig  = "../../deploy/collector/gateway.yaml"
	twoLayerConfig = "../../deploy/collector/two-layer.yaml"
)

// TestCollectorConfigsValidate: the Collector built from
// deploy/collector/builder.yaml accepts both shipped configurations.
func TestCollectorConfigsValidate(t *testing.T) {
	bin := testenv.RequireCollector(t)
	for _, cfg := range []string{gatewayConfig, twoLayerConfig} {
		out, err := exec.Command(bin, "validate", "--config", cfg).CombinedOutput()
		if err != nil {
			t.Errorf("%s validate --config %s: %v\n%s", filepath.Base(bin), cfg, err, out)
		}
	}
}

// TestReadmeQuotesGatewayConfig: the README's Collector snippet is
// deploy/collector/gateway.yaml, verbatim.
func TestReadmeQuotesGatewayConfig(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := os.ReadFile(gatewayConfig)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, []byte("```yaml\n"+string(cfg)+"```\n")) {
		t.Error("README.md does not quote deploy/collector/gateway.yaml verbatim in a yaml block")
	}
	if !bytes.Contains(readme, []byte("deploy/collector/gateway.yaml")) {
		t.Error("README.md does not name deploy/collector/gateway.yaml")
	}
}

// TestCollectorKeepsAnomalousTrace runs the production shape on loopback:
// a workload instrumented with the OpenTelemetry SDK and the hint span
// processor sends traces to the Collector of deploy/collector/gateway.yaml
// (built by deploy/collector/build.sh), debugai-node (real eBPF) sends its
// kernel events and kernel.anomaly spans there too, and the Collector
// exports to debugai serve. Of 20 traces, none with an error or a high
// latency, one has a futex wait over the node's threshold: the Collector's
// tail sampling keeps exactly that trace and drops its peers, and every
// record the node exported is in serve's store.
func TestCollectorKeepsAnomalousTrace(t *testing.T) {
	bin := testenv.RequireCollector(t)
	testenv.RequireUprobes(t)
	const traces, slowIndex = 20, 10
	workload := filepath.Join(t.TempDir(), "anomalyload")
	if out, err := exec.Command("go", "build", "-o", workload, "./testdata/anomalyload").CombinedOutput(); err != nil {
		t.Fatalf("building the workload: %v\n%s", err, out)
	}
	secret := "collector-test-secret-0123456789abcdef"
	t.Setenv("DEBUGAI_HMAC_KEY", secret)
	store := filepath.Join(t.TempDir(), "evidence.duckdb")
	srv := startServe(t, store, "--analyze-every", "0", "--mcp-listen", "")

	// The Collector, as shipped, on free loopback ports. The baseline
	// share is 0 so that no normal trace is kept by chance.
	httpAddr, grpcAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	_, metricsPort, _ := net.SplitHostPort(metricsAddr)
	col := exec.Command(bin, "--config", gatewayConfig)
	col.Env = append(os.Environ(),
		"DEBUGAI_COLLECTOR_OTLP_HTTP="+httpAddr, "DEBUGAI_COLLECTOR_OTLP_GRPC="+grpcAddr,
		"DEBUGAI_COLLECTOR_METRICS_HOST=127.0.0.1", "DEBUGAI_COLLECTOR_METRICS_PORT="+metricsPort,
		"DEBUGAI_SERVE_OTLP_HTTP="+srv.httpURL, "DEBUGAI_TAIL_BASELINE_PERCENT=0")
	var colOut bytes.Buffer
	col.Stdout, col.Stderr = &colOut, &colOut
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = col.Process.Signal(syscall.SIGTERM)
		_ = col.Wait()
		if t.Failed() {
			t.Logf("Collector output:\n%s", colOut.String())
		}
	})
	colURL := "http://" + httpAddr
	waitUntil(t, "the Collector to accept OTLP", func() bool {
		resp, err := http.Post(colURL+"/v1/traces", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	// The node: futex waits only, kernel.anomaly spans for waits of 20 ms
	// and more (the workload's slow wait is 50 ms, the others 100 µs).
	ring, err := privacy.NewKeyRing([]byte(secret), privacy.DefaultConfig().Keys, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	cfg := node.DefaultConfig()
	cfg.Endpoint, cfg.NodeID, cfg.KeyRing = colURL+"/v1/logs", "node-ci", ring
	cfg.Executables = []string{workload}
	cfg.MetricsListen, cfg.ThrottlePoll = "", 0
	cfg.GoLocks, cfg.GoLockWaits = false, false
	cfg.RescanInterval, cfg.FlushInterval = time.Second, 100*time.Millisecond
	p := &cfg.Probes
	p.DisableRunqueue, p.DisablePageFault, p.DisableBlock, p.DisableTCP = true, true, true, true
	cfg.Anomaly = node.AnomalyConfig{FutexWait: 20 * time.Millisecond, PerSecond: 50}
	n, err := node.Start(cfg)
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	nodeCtx, stopNode := context.WithCancel(context.Background())
	nodeDone := make(chan error, 1)
	go func() { nodeDone <- n.Run(nodeCtx) }()
	defer stopNode()

	wl := exec.Command(workload, colURL, strconv.Itoa(slowIndex), strconv.Itoa(traces))
	stdin, _ := wl.StdinPipe()
	stdout, _ := wl.StdoutPipe()
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = wl.Process.Kill(); _ = wl.Wait() })
	out := bufio.NewScanner(stdout)
	readLine := func() string {
		if !out.Scan() {
			t.Fatalf("workload ended early: %v", out.Err())
		}
		return out.Text()
	}
	if l := readLine(); l != "ready" {
		t.Fatalf("workload said %q, want ready", l)
	}
	waitUntil(t, "the workload to become a target", func() bool { return slices.Contains(n.Targets(), uint32(wl.Process.Pid)) })
	io.WriteString(stdin, "go\n")
	var slow evidence.TraceID
	var normal []evidence.TraceID
	for range traces {
		f := strings.Fields(readLine())
		if len(f) != 3 || f[0] != "trace" {
			t.Fatalf("workload line %q", f)
		}
		id, err := evidence.ParseTraceID(f[1])
		if err != nil {
			t.Fatalf("workload line %q: %v", f, err)
		}
		if f[2] == "50ms" {
			slow = id
		} else {
			normal = append(normal, id)
		}
	}
	if l := readLine(); l != "done" {
		t.Fatalf("workload said %q, want done", l)
	}
	// The workload's spans are at the Collector; the node sends the
	// kernel.anomaly span once it has read the slow wait. Stopping the
	// node then exports everything it read.
	waitUntil(t, "the node's kernel.anomaly span to reach the Collector", func() bool { _, s := n.Exported(); return s >= 1 })
	stopNode()
	if err := <-nodeDone; err != nil {
		t.Fatalf("node: %v", err)
	}
	records, anomalySpans := n.Exported()

	// The Collector decides every trace once its decision wait is over:
	// one kept, the others not; then it exports the kept trace's three
	// spans (server, child, kernel.anomaly) and every log record.
	metricsURL := "http://" + metricsAddr + "/metrics"
	waitUntil(t, "the Collector to decide every trace", func() bool {
		m := scrape(t, metricsURL)
		return m.sum("otelcol_processor_tail_sampling_global_count_traces_sampled", "") == traces
	})
	m := scrape(t, metricsURL)
	if kept := m.sum("otelcol_processor_tail_sampling_global_count_traces_sampled", `sampled="true"`); kept != 1 {
		t.Errorf("the Collector kept %v traces, want 1 (the one with a kernel anomaly)", kept)
	}
	if kept := m.sum("otelcol_processor_tail_sampling_count_traces_sampled", `policy="kernel-anomaly-signal",sampled="true"`); kept != 1 {
		t.Errorf("the kernel-anomaly policy kept %v traces, want 1", kept)
	}
	const exporter = `exporter="otlp_http/debugai"`
	waitUntil(t, "the Collector to export to serve", func() bool {
		m := scrape(t, metricsURL)
		return m.sum("otelcol_exporter_sent_spans", exporter) >= 3 && m.sum("otelcol_exporter_sent_log_records", exporter) >= float64(records)
	})
	m = scrape(t, metricsURL)
	if s, l := m.sum("otelcol_exporter_sent_spans", exporter), m.sum("otelcol_exporter_sent_log_records", exporter); s != 3 || l != float64(records) {
		t.Errorf("the Collector exported %v spans and %v log records, want 3 and %d", s, l, records)
	}
	srv.stop(t)

	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if anomalySpans != 1 || stats.KernelEvents != int64(records+anomalySpans) || stats.Spans != 2 || stats.Traces != 1 {
		t.Errorf("node exported %d records and %d kernel.anomaly spans; serve stored %d kernel events, %d spans in %d traces; want %d, 2 and 1",
			records, anomalySpans, stats.KernelEvents, stats.Spans, stats.Traces, records+anomalySpans)
	}
	spans, err := st.Spans(ctx, evidence.SpanFilter{TraceID: slow})
	if err != nil {
		t.Fatal(err)
	}
	var work evidence.Span
	for _, s := range spans {
		if s.StatusCode == evidence.StatusError || s.DurationNS() >= 500e6 {
			t.Errorf("span %s: status %v, %d ns: the kept trace must have no error and a normal latency", s.Name, s.StatusCode, s.DurationNS())
		}
		if s.Name == "work" {
			work = s
		}
	}
	if len(spans) != 2 || work.Name == "" {
		t.Fatalf("kept trace: %d spans, want its server and work spans", len(spans))
	}
	evs, err := st.KernelEvents(ctx, evidence.KernelEventFilter{TraceID: slow, Types: []evidence.KernelEventType{evidence.KernelAnomaly}})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].SpanID != work.SpanID || evs[0].DurationNS < 20e6 {
		t.Errorf("kernel.anomaly events of the kept trace: %+v; want one under its work span, of at least 20 ms", evs)
	}
	for _, id := range normal {
		if got, err := st.Spans(ctx, evidence.SpanFilter{TraceID: id}); err != nil || len(got) != 0 {
			t.Errorf("normal trace %s: %d spans stored (%v), want none (dropped by tail sampling)", id, len(got), err)
		}
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// waitUntil polls cond until it holds, failing after 45 s.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promText is a Prometheus text exposition.
type promText []string

func scrape(t *testing.T, url string) promText {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.Split(string(b), "\n")
}

// sum adds the samples of the metric (with or without a _total suffix)
// whose labels contain the given text.
func (p promText) sum(metric, labels string) float64 {
	var total float64
	for _, l := range p {
		name, rest, ok := strings.Cut(l, "{")
		if !ok || (name != metric && name != metric+"_total") || !strings.Contains(rest, labels) {
			continue
		}
		f := strings.Fields(rest[strings.LastIndex(rest, "}")+1:])
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			total += v
		}
	}
	return total
}
