package node

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
	"github.com/debugai/debugai/evidence"
)

// TestEncodeTCPTokenizesAddresses checks that a retransmit leaves the node
// with privacy tokens, never its raw addresses.
func TestEncodeTCPTokenizesAddresses(t *testing.T) {
	ring := testRing(t)
	enc := newEncoder("n1", ring, symbolize.New(), bpf.Clock{}, time.Unix(0, 0))
	ev := bpf.TCPRetransmit{PID: 7, CgroupID: 9, Cookie: 1, Family: 2, Count: 3,
		LocalAddr: netip.MustParseAddr("10.71.3.4"), RemoteAddr: netip.MustParseAddr("192.0.2.77"),
		LocalPort: 40000, RemotePort: 5432, State: 1}
	rec, ok := enc.encode(ev)
	if !ok || rec.kev == nil {
		t.Fatal("retransmit not encoded")
	}
	body, err := plogotlp.NewExportRequestFromLogs(logs(resourceAttrs("n1"), []record{rec})).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	for _, raw := range []string{"10.71.3.4", "192.0.2.77", string([]byte{10, 71, 3, 4}), string([]byte{192, 0, 2, 77})} {
		if bytes.Contains(body, []byte(raw)) {
			t.Errorf("export request contains the raw address %q", raw)
		}
	}
	want := ring.Token("192.0.2.77")
	if !bytes.Contains(body, []byte(want)) {
		t.Errorf("export request lacks the remote address token %s", want)
	}
	if rec.kev.Stream != "tcp_retransmit-0" || rec.kev.Seq != 0 || rec.kev.Node != "n1" {
		t.Errorf("evidence id parts: node %q stream %q seq %d", rec.kev.Node, rec.kev.Stream, rec.kev.Seq)
	}
	rec2, _ := enc.encode(ev)
	if rec2.kev.Seq != 1 {
		t.Errorf("second record of the stream has seq %d, want 1", rec2.kev.Seq)
	}
}

// TestEncodeLockEdgeUnsymbolized: a process that is gone leaves addresses.
func TestEncodeLockEdgeUnsymbolized(t *testing.T) {
	enc := newEncoder("n1", testRing(t), symbolize.New(), bpf.Clock{}, time.Unix(0, 0))
	rec, ok := enc.encode(bpf.LockEdge{PID: 1 << 30, Held: 0x10, Acquiring: 0x20, HeldSite: 0x401000, AcquiringSite: 0x401010,
		Flavor: bpf.LockGoMutex, HeldFlavor: bpf.LockGoMutex, Count: 2})
	if !ok || rec.edge == nil {
		t.Fatal("edge not encoded")
	}
	e := rec.edge
	if e.Held != "0x10" || e.Acquiring != "0x20" || e.HeldSite != "0x401000" || e.Count != 2 || e.PID != 1<<30 {
		t.Errorf("edge %+v", e)
	}
}

// collector is an OTLP/HTTP endpoint that answers from a script.
type collector struct {
	mu       sync.Mutex
	statuses []int // answers in order; then 200
	records  int
	requests atomic.Int32
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.requests.Add(1)
	c.mu.Lock()
	status := http.StatusOK
	if len(c.statuses) > 0 {
		status, c.statuses = c.statuses[0], c.statuses[1:]
	}
	c.mu.Unlock()
	if status != http.StatusOK {
		if status == http.StatusServiceUnavailable {
			w.Header().Set("Retry-After", "0")
		}
		http.Error(w, "scripted", status)
		return
	}
	zr, err := gzip.NewReader(r.Body)
	if err != nil || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(zr)
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	c.records += req.Logs().LogRecordCount()
	c.mu.Unlock()
}

func testExporter(t *testing.T, h http.Handler, queue int) *exporter {
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.BatchRecords, cfg.QueueRecords, cfg.RetryMax = srv.URL+"/v1/logs", 4, queue, 5*time.Second
	return newExporter(cfg, resourceAttrs("n1"), slog.New(slog.DiscardHandler))
}

func kernelRecord(i int) record {
	return record{kev: &evidence.KernelEvent{Type: evidence.KernelFutexWait, Node: "n1", Stream: "s", Seq: uint64(i), TimeNS: int64(i)}}
}

func TestExporterRetriesThenDelivers(t *testing.T) {
	c := &collector{statuses: []int{http.StatusServiceUnavailable, http.StatusTooManyRequests}}
	x := testExporter(t, c, 100)
	for i := range 10 {
		x.add(kernelRecord(i))
	}
	x.flush(context.Background())
	queued, sent, dropped, failed := x.stats()
	if c.records != 10 || sent != 10 || dropped != 0 || failed != 0 || queued != 0 {
		t.Errorf("records at collector %d; sent %d dropped %d failed %d queued %d", c.records, sent, dropped, failed, queued)
	}
	if got := c.requests.Load(); got != 5 { // 2 refused, then 3 batches of <= 4
		t.Errorf("%d requests, want 5", got)
	}
}

func TestExporterPermanentErrorDrops(t *testing.T) {
	c := &collector{statuses: []int{http.StatusBadRequest}}
	x := testExporter(t, c, 100)
	for i := range 3 {
		x.add(kernelRecord(i))
	}
	x.flush(context.Background())
	_, sent, dropped, failed := x.stats()
	if sent != 0 || dropped != 3 || failed != 1 || c.requests.Load() != 1 {
		t.Errorf("sent %d dropped %d failed %d after %d requests: a 400 must not be retried", sent, dropped, failed, c.requests.Load())
	}
}

func TestExporterQueueDropsOldest(t *testing.T) {
	c := &collector{}
	x := testExporter(t, c, 5)
	for i := range 8 {
		x.add(kernelRecord(i))
	}
	queued, _, dropped, _ := x.stats()
	if queued != 5 || dropped != 3 {
		t.Fatalf("queued %d dropped %d, want 5 and 3", queued, dropped)
	}
	if first := x.queue[0].kev.Seq; first != 3 {
		t.Errorf("oldest kept record is %d, want 3", first)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.NodeID, ok.KeyRing = "n1", testRing(t)
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"endpoint", func(c *Config) { c.Endpoint = "localhost:4318" }, "want an http://"},
		{"node id", func(c *Config) { c.NodeID = "a/b" }, "no '/'"},
		{"no ring", func(c *Config) { c.KeyRing = nil }, "no privacy key ring"},
		{"batch", func(c *Config) { c.BatchRecords = 10; c.QueueRecords = 5 }, "batch <= queue"},
		{"exe", func(c *Config) { c.Executables = []string{"/nonexistent/bin"} }, "target executable"},
		{"probes", func(c *Config) { c.Probes.RingBytes = 1000 }, "ring size"},
		{"anomaly threshold", func(c *Config) { c.Anomaly.Block = -time.Second }, "must not be negative"},
		{"anomaly cap", func(c *Config) { c.Anomaly.PerSecond = -1 }, "anomaly cap"},
		{"traces endpoint underivable", func(c *Config) { c.Endpoint = "http://127.0.0.1:14318/logs" }, "traces endpoint: the logs endpoint"},
		{"traces endpoint set", func(c *Config) {
			c.Endpoint, c.TracesEndpoint = "http://127.0.0.1:14318/logs", "http://127.0.0.1:14318/v1/traces"
		}, ""},
		{"traces endpoint bad", func(c *Config) { c.TracesEndpoint = "127.0.0.1:14318" }, "traces endpoint: want an http://"},
		{"spans off", func(c *Config) { c.Endpoint, c.Anomaly.PerSecond = "http://127.0.0.1:14318/logs", 0 }, ""},
	} {
		c := ok
		tc.edit(&c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s: Validate() = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// TestTriggersSendAnomalies: drops and bursts each queue a kernel.anomaly
// record (the tail-sampling trigger) carrying kernel.anomaly=true.
func TestTriggersSendAnomalies(t *testing.T) {
	c := &collector{}
	x := testExporter(t, c, 100)
	cfg := DefaultConfig()
	cfg.BurstRecords = 1000
	n := &Node{cfg: cfg, exp: x, log: slog.New(slog.DiscardHandler)}
	now := time.Unix(1_800_000_000, 0)
	n.triggers(10, 0, now)   // quiet second
	n.triggers(2000, 0, now) // burst
	n.triggers(10, 7, now)   // drops
	if got := n.anomalies.Load(); got != 2 {
		t.Fatalf("%d anomalies, want 2", got)
	}
	body, err := plogotlp.NewExportRequestFromLogs(logs(resourceAttrs("n1"), x.take())).MarshalProto()
	if err != nil {
		t.Fatal(err)
	}
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	lrs := req.Logs().ResourceLogs().At(0).ScopeLogs().At(0).LogRecords()
	var reasons []string
	for i := range lrs.Len() {
		lr := lrs.At(i)
		flag, ok := lr.Attributes().Get(evidence.AttrKernelAnomaly)
		reason, _ := lr.Attributes().Get(AttrAnomalyReason)
		if lr.EventName() != "kernel.anomaly" || !ok || !flag.Bool() {
			t.Errorf("record %d: event %q, kernel.anomaly %v", i, lr.EventName(), flag.AsRaw())
		}
		reasons = append(reasons, reason.Str())
	}
	if strings.Join(reasons, ",") != "burst,drops" {
		t.Errorf("reasons %v, want burst then drops", reasons)
	}
}
