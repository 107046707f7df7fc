package node

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/debugai/debugai/internal/testenv"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/ingest"
	"github.com/debugai/debugai/privacy"
)

// requireEBPF skips t when the machine cannot load the probes, or fails it
// when DEBUGAI_REQUIRE_EBPF=1 says it must.
func requireEBPF(t testing.TB) {
	t.Helper()
	testenv.RequireEBPF(t)
}

func testRing(t testing.TB) *privacy.KeyRing {
	t.Helper()
	ring, err := privacy.NewKeyRing([]byte("node-test-secret-0123456789abcdef"), privacy.DefaultConfig().Keys, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	return ring
}

// sink is a real OTLP/HTTP receiver (package ingest, with the privacy
// converter) that keeps what it was sent in memory.
type sink struct {
	mu          sync.Mutex
	kevs        []evidence.KernelEvent
	edges       []evidence.LockEdge
	wire        []ptrace.Span // spans as they arrived, before conversion
	storedSpans int           // spans the converter kept as spans
	url         string        // the logs URL; /v1/traces beside it takes spans
}

func startSink(t *testing.T, ring *privacy.KeyRing) *sink {
	t.Helper()
	red, err := privacy.NewRedactor(privacy.DefaultConfig(), ring)
	if err != nil {
		t.Fatal(err)
	}
	s := &sink{}
	w := evidence.WriterFunc(func(_ context.Context, b *evidence.Batch) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.kevs = append(s.kevs, b.KernelEvents...)
		s.edges = append(s.edges, b.LockEdges...)
		s.storedSpans += len(b.Spans)
		return nil
	})
	cfg := ingest.DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", ""
	srv, err := ingest.NewServer(cfg, wireSpans{ingest.NewPrivacyConverter(red), s}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Shutdown(context.Background()) })
	s.url = "http://" + srv.HTTPAddr() + "/v1/logs"
	return s
}

// wireSpans keeps a copy of every span it converts.
type wireSpans struct {
	*ingest.PrivacyConverter
	s *sink
}

func (w wireSpans) ConvertTraces(td ptrace.Traces) (*evidence.Batch, int64, string) {
	w.s.mu.Lock()
	for i := 0; i < td.ResourceSpans().Len(); i++ {
		rs := td.ResourceSpans().At(i)
		for j := 0; j < rs.ScopeSpans().Len(); j++ {
			spans := rs.ScopeSpans().At(j).Spans()
			for k := 0; k < spans.Len(); k++ {
				c := ptrace.NewSpan()
				spans.At(k).CopyTo(c)
				w.s.wire = append(w.s.wire, c)
			}
		}
	}
	w.s.mu.Unlock()
	return w.PrivacyConverter.ConvertTraces(td)
}

func (s *sink) spanSnapshot() []ptrace.Span {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]ptrace.Span(nil), s.wire...)
}

func (s *sink) snapshot() ([]evidence.KernelEvent, []evidence.LockEdge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]evidence.KernelEvent(nil), s.kevs...), append([]evidence.LockEdge(nil), s.edges...)
}

// buildGo builds a bpf test workload.
func buildGo(t testing.TB, pkg string, flags ...string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	args := append(append([]string{"build", "-o", bin}, flags...), pkg)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// proc is a started workload that talks over stdin/stdout.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func start(t *testing.T, bin string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})
	return p
}

// until reads lines until one equals want, returning the lines before it.
func (p *proc) until(t *testing.T, want string) []string {
	t.Helper()
	var lines []string
	for p.out.Scan() {
		if l := strings.TrimSpace(p.out.Text()); l == want {
			return lines
		} else {
			lines = append(lines, l)
		}
	}
	t.Fatalf("workload ended before %q: %v", want, p.out.Err())
	return nil
}

// lines reads n lines.
func (p *proc) lines(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for range n {
		if !p.out.Scan() {
			t.Fatalf("workload ended early: %v", p.out.Err())
		}
		out = append(out, p.out.Text())
	}
	return out
}

func (p *proc) send(t *testing.T, line string) {
	t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestNodeEndToEnd runs the node against a real OTLP receiver with two
// target executables started after it: a Go service with hint spans doing
// fsyncs, and an AB-BA lock program (built without inlining) started
// twice, the second time as a new process (a restart). It expects stamped
// kernel events, symbolized lock edges from both processes, metrics, and
// the kill switch to stop the run.
func TestNodeEndToEnd(t *testing.T) {
	requireEBPF(t)
	spanBin := buildGo(t, "../bpf/testdata/spanfsync")
	lockBin := buildGo(t, "../bpf/testdata/abba", "-gcflags=all=-l")
	ring := testRing(t)
	snk := startSink(t, ring)

	cfg := DefaultConfig()
	cfg.Endpoint, cfg.NodeID, cfg.KeyRing = snk.url, "node-a", ring
	cfg.Executables = []string{spanBin, lockBin}
	cfg.MetricsListen = "127.0.0.1:0"
	cfg.RescanInterval, cfg.FlushInterval = time.Second, 100*time.Millisecond
	cfg.Probes.FsyncThreshold = 0
	cfg.Probes.DisableRunqueue, cfg.Probes.DisablePageFault = true, true
	n, err := Start(cfg)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	runErr := make(chan error, 1)
	go func() { runErr <- n.Run(context.Background()) }()

	sp := start(t, spanBin, t.TempDir())
	sp.until(t, "ready")
	waitFor(t, "the span workload to become a target", func() bool { return slices.Contains(n.Targets(), uint32(sp.cmd.Process.Pid)) })
	sp.send(t, "go")
	sp.until(t, "done")
	sp.send(t, "exit")

	var lockPIDs []int64
	for range 2 { // a restart: the second run is a new process
		lp := start(t, lockBin)
		lp.lines(t, 3) // the mutexes' addresses
		waitFor(t, "the lock workload to become a target", func() bool { return slices.Contains(n.Targets(), uint32(lp.cmd.Process.Pid)) })
		lockPIDs = append(lockPIDs, int64(lp.cmd.Process.Pid))
		lp.send(t, "go")
		lp.until(t, "done")
		// Edges are symbolized while the process lives: wait for them.
		pid := lockPIDs[len(lockPIDs)-1]
		waitFor(t, "lock edges of the run", func() bool {
			_, edges := snk.snapshot()
			for _, e := range edges {
				if e.PID == pid && e.Held == "main.muB" && e.Acquiring == "main.muA" {
					return true
				}
			}
			return false
		})
		lp.send(t, "exit")
		if err := lp.cmd.Wait(); err != nil {
			t.Fatal(err)
		}
	}

	metrics := get(t, "http://"+n.MetricsAddr()+"/metrics")
	for _, want := range []string{"debugai_node_events_total{type=\"fsync\"}", "debugai_node_ring_fill_ratio", "debugai_node_cpu_seconds_total", "debugai_node_resident_memory_bytes"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
	resp, err := http.Post("http://"+n.MetricsAddr()+"/detach", "text/plain", nil)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("kill switch: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case err := <-runErr:
		if err != nil {
			t.Fatalf("Run after the kill switch: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after the kill switch")
	}

	kevs, edges := snk.snapshot()
	checkStamps(t, kevs, int64(sp.cmd.Process.Pid))
	checkEdges(t, edges, lockPIDs)
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// checkStamps expects the span workload's fsyncs inside spans stamped
// with its trace ids (deb0...), 8 x 6 of them, and unique evidence IDs.
func checkStamps(t *testing.T, kevs []evidence.KernelEvent, pid int64) {
	t.Helper()
	var stamped, unstamped int
	ids := map[string]bool{}
	for i := range kevs {
		k := &kevs[i]
		if ids[k.ID()] {
			t.Errorf("duplicate evidence ID %s", k.ID())
		}
		ids[k.ID()] = true
		if k.Node != "node-a" {
			t.Errorf("event from node %q, want node-a", k.Node)
		}
		if k.PID != pid || k.Type != evidence.KernelFsync {
			continue
		}
		if k.SpanID == (evidence.SpanID{}) {
			unstamped++
			continue
		}
		stamped++
		if !strings.HasPrefix(k.TraceID.String(), "deb0") {
			t.Errorf("fsync stamped with trace %s", k.TraceID)
		}
	}
	if stamped != 48 || unstamped != 8 {
		t.Errorf("span workload: %d stamped and %d unstamped fsyncs, want 48 and 8", stamped, unstamped)
	}
}

// checkEdges expects both AB-BA edges, by symbol and with source sites,
// from each of the two lock processes.
func checkEdges(t *testing.T, edges []evidence.LockEdge, pids []int64) {
	t.Helper()
	for _, pid := range pids {
		var ab, ba bool
		for _, e := range edges {
			if e.PID != pid {
				continue
			}
			if e.Held == "main.muA" && e.Acquiring == "main.muB" && strings.HasPrefix(e.HeldSite, "main.lockAB ") && strings.Contains(e.AcquiringSite, "abba/main.go:") {
				ab = true
			}
			if e.Held == "main.muB" && e.Acquiring == "main.muA" && strings.HasPrefix(e.AcquiringSite, "main.lockBA ") {
				ba = true
			}
		}
		if !ab || !ba {
			t.Errorf("pid %d: edges A->B %v, B->A %v; got %+v", pid, ab, ba, edges)
		}
	}
}
