package main

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/debugai/debugai/bench/procstat"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

// TestOverloadAnswers429AndLosesNothingAcknowledged drives a serve process
// with a small queue past its bound: it must answer 429 with Retry-After,
// keep its memory bounded, and store every batch it acknowledged.
func TestOverloadAnswers429AndLosesNothingAcknowledged(t *testing.T) {
	store := filepath.Join(t.TempDir(), "ev.duckdb")
	cmd, url := startServeProcess(t, store, "--queue-items", "1500")
	const spansPerBatch, workers, perWorker = 500, 8, 25
	var (
		mu        sync.Mutex
		acked     []evidence.TraceID
		throttled int
		badRetry  int
		wg        sync.WaitGroup
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			client := &http.Client{Timeout: time.Minute}
			for i := 0; i < perWorker; i++ {
				body, tid := tracesBody(w*perWorker+i, spansPerBatch)
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/traces", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/x-protobuf")
				resp, err := client.Do(req)
				if err != nil {
					return
				}
				resp.Body.Close()
				mu.Lock()
				switch {
				case resp.StatusCode == http.StatusOK:
					acked = append(acked, tid)
				case resp.StatusCode == http.StatusTooManyRequests:
					throttled++
					if n, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || n < 1 {
						badRetry++
					}
				}
				mu.Unlock()
			}
		}(w)
	}
	wg.Wait()
	mem, err := procstat.Read(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve exited with %v", err)
	}
	if throttled == 0 {
		t.Fatalf("no 429 among %d requests against a queue of 1500 items", workers*perWorker)
	}
	if badRetry > 0 {
		t.Errorf("%d 429 responses lacked a valid Retry-After", badRetry)
	}
	if len(acked) == 0 {
		t.Fatal("nothing was acknowledged")
	}
	// Peak RSS stays far below what queueing every request would take.
	if mem.Peak > 1<<30 {
		t.Errorf("peak RSS %d MiB under overload", mem.Peak>>20)
	}
	st, err := duckdb.Open(context.Background(), store, duckdb.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, tid := range acked {
		spans, err := st.Trace(context.Background(), tid)
		if err != nil || len(spans) != spansPerBatch {
			t.Errorf("acknowledged trace %s: %d spans, %v", tid, len(spans), err)
		}
	}
	t.Logf("%d acknowledged, %d throttled, peak RSS %d MiB", len(acked), throttled, mem.Peak>>20)
}
