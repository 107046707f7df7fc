package main

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// startServeProcess starts `debugai serve` as a child process (this test
// binary re-executed as the command) and returns it with its OTLP/HTTP URL.
func startServeProcess(t *testing.T, store string, extra ...string) (*exec.Cmd, string) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"serve", "--store", store, "--listen", "127.0.0.1:0", "--grpc-listen", "", "--log-level", "warn"}, extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "DEBUGAI_TEST_MAIN=1", "DEBUGAI_HMAC_KEY="+testKey)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("child serve did not start: %v\n%s", err, stderr.String())
	}
	m := serveLine.FindStringSubmatch(line)
	if m == nil {
		t.Fatalf("unexpected banner %q", line)
	}
	return cmd, m[1]
}

// tracesBody encodes one request of n spans in trace number i.
func tracesBody(i, n int) ([]byte, evidence.TraceID) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "crash-test")
	ss := rs.ScopeSpans().AppendEmpty()
	tid := evidence.TraceID{0xc0, 0xde, byte(i >> 16), byte(i >> 8), byte(i), 1}
	base := time.Now().UnixNano()
	for j := 0; j < n; j++ {
		sp := ss.Spans().AppendEmpty()
		sp.SetTraceID([16]byte(tid))
		sp.SetSpanID([8]byte{1, byte(j >> 8), byte(j), 1})
		sp.SetName("GET /jobs/{id}")
		sp.SetStartTimestamp(ptraceTS(base + int64(j)))
		sp.SetEndTimestamp(ptraceTS(base + int64(j) + 1000))
		sp.Attributes().PutStr("http.route", "/jobs/{id}")
	}
	b, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		panic(err) // encoding a well-formed request cannot fail
	}
	return b, tid
}

func TestCrashKeepsEveryAcknowledgedBatch(t *testing.T) {
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	cmd, url := startServeProcess(t, store)

	const spansPerBatch, killAfter = 200, 40
	var (
		mu    sync.Mutex
		acked []evidence.TraceID
		wg    sync.WaitGroup
	)
	ackedEnough := make(chan struct{})
	var once sync.Once
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for w := 0; w < 3; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: 30 * time.Second}
			for i := w; i < 30000; i += 3 {
				body, tid := tracesBody(i, spansPerBatch)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				resp, err := client.Do(req)
				if err != nil {
					return // the server died: stop
				}
				resp.Body.Close()
				if resp.StatusCode/100 != 2 {
					continue
				}
				mu.Lock()
				acked = append(acked, tid)
				if len(acked) >= killAfter {
					once.Do(func() { close(ackedEnough) })
				}
				mu.Unlock()
			}
		}(w)
	}
	select {
	case <-ackedEnough:
	case <-ctx.Done():
		t.Fatal("server did not acknowledge enough batches")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	wg.Wait()

	st, err := duckdb.Open(context.Background(), store, duckdb.Options{})
	if err != nil {
		t.Fatalf("reopening after SIGKILL: %v", err)
	}
	defer st.Close()
	mu.Lock()
	defer mu.Unlock()
	for _, tid := range acked {
		spans, err := st.Trace(context.Background(), tid)
		if err != nil {
			t.Fatal(err)
		}
		if len(spans) != spansPerBatch {
			t.Errorf("acknowledged trace %s has %d spans after the crash, want %d", tid, len(spans), spansPerBatch)
		}
	}
	s, err := st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Spans < int64(len(acked)*spansPerBatch) || s.Spans%spansPerBatch != 0 {
		t.Errorf("store holds %d spans for %d acknowledged batches of %d (partial batch?)", s.Spans, len(acked), spansPerBatch)
	}
	t.Logf("%d batches acknowledged before SIGKILL; store holds %d spans", len(acked), s.Spans)
}

func ptraceTS(ns int64) pcommon.Timestamp { return pcommon.Timestamp(ns) }
