package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

// TestOverload floods the server past its queue bound from several
// goroutines. Some requests must be refused with 429; every acknowledged
// request must be written exactly once, no refused one at all, and the
// queue must never hold more than its bound.
func TestOverload(t *testing.T) {
	const (
		bound       = 10
		perRequest  = 3
		goroutines  = 8
		perRoutine  = 25
		waitFailure = 30 * time.Second
	)
	gate := make(chan struct{})
	var overBound atomic.Int64
	w := &recordingWriter{gate: gate}
	var s *Server
	w.onWrite = func(b *evidence.Batch) {
		if q := s.Pipeline().Stats().QueuedItems; q > bound {
			overBound.Store(q)
		}
		if b.Len() > bound {
			overBound.Store(int64(b.Len()))
		}
	}
	s = startTestServer(t, w, func(c *Config) { c.Pipeline.MaxQueueItems = bound })
	url := "http://" + s.HTTPAddr() + TracesPath
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: goroutines}}
	defer client.CloseIdleConnections()

	var (
		mu       sync.Mutex
		acked    []string // span names of 2xx requests
		refused  []string // span names of 429 requests
		others   []string
		saw429   = make(chan struct{})
		once     sync.Once
		finished sync.WaitGroup
	)
	for g := range goroutines {
		finished.Go(func() {
			for i := range perRoutine {
				prefix := fmt.Sprintf("g%dr%d", g, i)
				code, hd, _ := postOTLP(t, client, url, contentTypeProto, "", tracesBody(t, buildTraces(prefix, perRequest), encProto))
				mu.Lock()
				switch code {
				case http.StatusOK:
					acked = append(acked, names(prefix, perRequest)...)
					if !w.hasSpans(names(prefix, perRequest)) {
						others = append(others, prefix+": 200 before its spans were written")
					}
				case http.StatusTooManyRequests:
					refused = append(refused, names(prefix, perRequest)...)
					if hd.Get("Retry-After") == "" {
						others = append(others, prefix+": 429 without Retry-After")
					}
					once.Do(func() { close(saw429) })
				default:
					others = append(others, fmt.Sprintf("%s: status %d", prefix, code))
				}
				mu.Unlock()
			}
		})
	}
	select {
	case <-saw429: // the queue filled while the writer was held
	case <-time.After(waitFailure):
		t.Fatal("no 429 while the writer was blocked and the queue bounded")
	}
	close(gate)
	finished.Wait()

	if len(others) > 0 {
		t.Errorf("unexpected answers: %v", others)
	}
	if len(refused) == 0 || len(acked) == 0 {
		t.Fatalf("acked %d refused %d spans: want both", len(acked), len(refused))
	}
	slices.Sort(acked)
	if got := w.spanNames(); !slices.Equal(got, acked) {
		t.Errorf("written spans differ from acknowledged ones: %d written, %d acknowledged", len(got), len(acked))
	}
	if q := overBound.Load(); q != 0 {
		t.Errorf("queue held %d items, bound %d", q, bound)
	}
	st := s.Stats()
	if st.Pipeline.PeakQueuedItems > bound || st.Pipeline.QueuedItems != 0 {
		t.Errorf("pipeline stats %+v", st.Pipeline)
	}
	if st.HTTP.Refused != int64(len(refused)/perRequest) || st.HTTP.Accepted != int64(len(acked)/perRequest) {
		t.Errorf("http stats %+v", st.HTTP)
	}
}

// TestShutdownFlushesAcknowledged: Shutdown waits for requests already
// accepted, they are acknowledged after commit, and the server refuses
// connections afterwards.
func TestShutdownFlushesAcknowledged(t *testing.T) {
	gate := make(chan struct{})
	w := &recordingWriter{gate: gate}
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	s, err := NewServer(cfg, stubConverter{}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 16)
	s.Pipeline().testHookAccepted = func() { accepted <- struct{}{} }
	if err := s.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(204) })); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle(TracesPath, http.NotFoundHandler()); err == nil {
		t.Error("Handle accepted a pattern that conflicts with the OTLP path")
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Handle("/late", http.NotFoundHandler()); err == nil {
		t.Error("Handle after Start succeeded")
	}
	base := "http://" + s.HTTPAddr()
	if resp, err := http.Get(base + "/healthz"); err != nil || resp.StatusCode != 204 {
		t.Fatalf("extra route: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	const n = 5
	codes := make(chan int, n)
	for i := range n {
		go func() {
			code, _, _ := postOTLP(t, nil, base+TracesPath, contentTypeProto, "", tracesBody(t, buildTraces(fmt.Sprint("s", i), 2), encProto))
			if code == http.StatusOK && !w.hasSpans(names(fmt.Sprint("s", i), 2)) {
				code = -1 // acknowledged before commit
			}
			codes <- code
		}()
	}
	for range n {
		<-accepted
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(ctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) before accepted batches were written", err)
	case c := <-codes:
		t.Fatalf("a request was answered %d before its commit", c)
	default:
	}
	close(gate)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	// Shutdown has returned: everything acknowledged is in the writer now.
	var want []string
	for i := range n {
		want = append(want, names(fmt.Sprint("s", i), 2)...)
	}
	slices.Sort(want)
	if got := w.spanNames(); !slices.Equal(got, want) {
		t.Errorf("written %v, want %v", got, want)
	}
	for range n {
		if c := <-codes; c != http.StatusOK {
			t.Errorf("in-flight request answered %d, want 200", c)
		}
	}
	client := &http.Client{Transport: &http.Transport{}}
	if resp, err := client.Post(base+TracesPath, contentTypeProto, nil); err == nil {
		resp.Body.Close()
		t.Errorf("request after Shutdown answered %d, want a refused connection", resp.StatusCode)
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	if err := s.Start(context.Background()); err == nil {
		t.Error("Start after Shutdown succeeded")
	}
}

// TestShutdownDeadline: when ctx ends before the writer finishes, Shutdown
// returns the context's error and no request is acknowledged.
func TestShutdownDeadline(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", ""
	s, err := NewServer(cfg, stubConverter{}, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s.GRPCAddr() != "" {
		t.Errorf("gRPC disabled but bound at %s", s.GRPCAddr())
	}
	done := make(chan int, 1)
	go func() {
		body := tracesBody(t, buildTraces("d", 1), encProto)
		req, _ := http.NewRequest("POST", "http://"+s.HTTPAddr()+TracesPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", contentTypeProto)
		resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-w.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Shutdown(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	if c := <-done; c == http.StatusOK {
		t.Error("a request was acknowledged although its batch was not written")
	}
	if w.writeCount() != 0 {
		t.Errorf("%d writes", w.writeCount())
	}
}
