package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
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

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

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
	startCollector(t, bin, gatewayConfig,
		"DEBUGAI_COLLECTOR_OTLP_HTTP="+httpAddr, "DEBUGAI_COLLECTOR_OTLP_GRPC="+grpcAddr,
		"DEBUGAI_COLLECTOR_METRICS_HOST=127.0.0.1", "DEBUGAI_COLLECTOR_METRICS_PORT="+metricsPort,
		"DEBUGAI_SERVE_OTLP_HTTP="+srv.httpURL, "DEBUGAI_TAIL_BASELINE_PERCENT=0")
	colURL := "http://" + httpAddr

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
	if fmt.Sprint(stats.Services) != "[anomalyload]" {
		t.Errorf("services in the store: %v, want only the workload's (the node is none)", stats.Services)
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

// startCollector runs the Collector binary with a shipped configuration
// and environment, and waits until its OTLP/HTTP receiver (the address in
// the first env entry) accepts requests.
func startCollector(t *testing.T, bin, config string, env ...string) {
	t.Helper()
	col := exec.Command(bin, "--config", config)
	col.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	col.Stdout, col.Stderr = &out, &out
	if err := col.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = col.Process.Signal(syscall.SIGTERM)
		_ = col.Wait()
		if t.Failed() {
			t.Logf("Collector (%s) output:\n%s", filepath.Base(config), out.String())
		}
	})
	_, addr, _ := strings.Cut(env[0], "=")
	waitUntil(t, "the Collector to accept OTLP", func() bool {
		resp, err := http.Post("http://"+addr+"/v1/traces", "application/json", strings.NewReader("{}"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

// TestTwoLayerRoutesByTraceID runs deploy/collector/two-layer.yaml in
// front of two analyzers running gateway.yaml, both exporting to serve.
// 40 traces of two spans arrive in one request, and kernel.anomaly spans
// for half of them (as the node sends them) in another: the first layer
// routes each span by trace id, so every trace lands whole on one analyzer
// (the analyzers see 40 trace ids between them, not more), both get some,
// and exactly the 20 traces with a kernel.anomaly span reach serve.
func TestTwoLayerRoutesByTraceID(t *testing.T) {
	bin := testenv.RequireCollector(t)
	const traces = 40
	store := filepath.Join(t.TempDir(), "evidence.duckdb")
	srv := startServe(t, store, "--analyze-every", "0", "--mcp-listen", "")
	var analyzers, metrics []string
	for range 2 {
		httpAddr, grpcAddr, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
		_, port, _ := net.SplitHostPort(metricsAddr)
		startCollector(t, bin, gatewayConfig,
			"DEBUGAI_COLLECTOR_OTLP_HTTP="+httpAddr, "DEBUGAI_COLLECTOR_OTLP_GRPC="+grpcAddr,
			"DEBUGAI_COLLECTOR_METRICS_HOST=127.0.0.1", "DEBUGAI_COLLECTOR_METRICS_PORT="+port,
			"DEBUGAI_SERVE_OTLP_HTTP="+srv.httpURL, "DEBUGAI_TAIL_BASELINE_PERCENT=0", "DEBUGAI_TAIL_DECISION_WAIT=2s")
		analyzers = append(analyzers, grpcAddr)
		metrics = append(metrics, "http://"+metricsAddr+"/metrics")
	}
	lbHTTP, lbGRPC, lbMetrics := freeAddr(t), freeAddr(t), freeAddr(t)
	_, lbPort, _ := net.SplitHostPort(lbMetrics)
	startCollector(t, bin, twoLayerConfig,
		"DEBUGAI_LB_OTLP_HTTP="+lbHTTP, "DEBUGAI_LB_OTLP_GRPC="+lbGRPC,
		"DEBUGAI_LB_METRICS_HOST=127.0.0.1", "DEBUGAI_LB_METRICS_PORT="+lbPort,
		"DEBUGAI_ANALYZERS=["+strings.Join(analyzers, ", ")+"]")

	// The services' spans, then the node's kernel.anomaly spans.
	now := time.Now()
	app, anomalies := ptrace.NewTraces(), ptrace.NewTraces()
	rs := app.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "twolayer")
	appSpans := rs.ScopeSpans().AppendEmpty().Spans()
	nrs := anomalies.ResourceSpans().AppendEmpty()
	nrs.Resource().Attributes().PutStr(evidence.AttrNodeID, "node-ci")
	anomalySpans := nrs.ScopeSpans().AppendEmpty().Spans()
	for i := range traces {
		var tr pcommon.TraceID
		binary.BigEndian.PutUint64(tr[:8], 0x7e57_0000_0000_0000|uint64(i)*0x9e3779b97f4a7c15>>16)
		binary.BigEndian.PutUint64(tr[8:], uint64(i+1))
		start := pcommon.NewTimestampFromTime(now.Add(time.Duration(i) * time.Millisecond))
		end := pcommon.NewTimestampFromTime(now.Add(time.Duration(i)*time.Millisecond + 3*time.Millisecond))
		root, child := appSpans.AppendEmpty(), appSpans.AppendEmpty()
		root.SetTraceID(tr)
		root.SetSpanID(pcommon.SpanID{1, byte(i)})
		root.SetName("handle")
		root.SetKind(ptrace.SpanKindServer)
		child.SetTraceID(tr)
		child.SetSpanID(pcommon.SpanID{2, byte(i)})
		child.SetParentSpanID(root.SpanID())
		child.SetName("work")
		for _, sp := range []ptrace.Span{root, child} {
			sp.SetStartTimestamp(start)
			sp.SetEndTimestamp(end)
		}
		if i%2 == 0 {
			an := anomalySpans.AppendEmpty()
			an.SetTraceID(tr)
			an.SetSpanID(pcommon.SpanID{3, byte(i)})
			an.SetParentSpanID(child.SpanID())
			an.SetName(node.AnomalySpanName)
			an.SetStartTimestamp(start)
			an.SetEndTimestamp(end)
			an.Attributes().PutBool(evidence.AttrKernelAnomaly, true)
			an.Attributes().PutStr(node.AttrAnomalyKind, "futex_wait")
			an.Attributes().PutInt(evidence.AttrDurationNS, 2e6)
		}
	}
	for _, td := range []ptrace.Traces{app, anomalies} {
		body, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.Post("http://"+lbHTTP+"/v1/traces", "application/x-protobuf", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("first layer answered %s", resp.Status)
		}
	}

	sum := func(metric, labels string) (total float64, each []float64) {
		for _, u := range metrics {
			v := scrape(t, u).sum(metric, labels)
			total += v
			each = append(each, v)
		}
		return total, each
	}
	waitUntil(t, "the analyzers to decide every trace", func() bool {
		got, _ := sum("otelcol_processor_tail_sampling_global_count_traces_sampled", "")
		return got >= traces
	})
	if ids, each := sum("otelcol_processor_tail_sampling_new_trace_id_received", ""); ids != traces || slices.Contains(each, 0) {
		t.Errorf("the analyzers saw %v trace ids (%v each); want %d in all (no trace split), some on each", ids, each, traces)
	}
	if kept, _ := sum("otelcol_processor_tail_sampling_global_count_traces_sampled", `sampled="true"`); kept != traces/2 {
		t.Errorf("the analyzers kept %v traces, want %d (those with a kernel.anomaly span)", kept, traces/2)
	}
	waitUntil(t, "the analyzers to export the kept traces", func() bool {
		got, _ := sum("otelcol_exporter_sent_spans", `exporter="otlp_http/debugai"`)
		return got >= 3*traces/2
	})
	srv.stop(t)
	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stats, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if stats.Traces != traces/2 || stats.Spans != traces || stats.KernelEvents != traces/2 {
		t.Errorf("serve stored %d traces, %d spans, %d kernel events; want %d, %d, %d", stats.Traces, stats.Spans, stats.KernelEvents, traces/2, traces, traces/2)
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
		if strings.HasPrefix(l, "#") {
			continue
		}
		end := strings.IndexAny(l, "{ ")
		if end < 0 {
			continue
		}
		name, rest := l[:end], l[end:]
		if (name != metric && name != metric+"_total") || !strings.Contains(rest, labels) {
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
