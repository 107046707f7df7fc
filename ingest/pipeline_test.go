package ingest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

// spansBatch returns a batch of n spans named prefix-i.
func spansBatch(prefix string, n int) *evidence.Batch {
	b := &evidence.Batch{}
	for i := range n {
		b.Spans = append(b.Spans, evidence.Span{Name: fmt.Sprintf("%s-%d", prefix, i)})
	}
	return b
}

// startPipeline starts a pipeline whose accepted batches are announced on
// the returned channel.
func startPipeline(t *testing.T, cfg PipelineConfig, w evidence.Writer) (*Pipeline, chan struct{}) {
	t.Helper()
	p, err := NewPipeline(cfg, w, nil)
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 1024)
	p.testHookAccepted = func() { accepted <- struct{}{} }
	if err := p.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return p, accepted
}

// submitAsync submits b and reports the result on the returned channel.
func submitAsync(ctx context.Context, p *Pipeline, b *evidence.Batch) chan error {
	ch := make(chan error, 1)
	go func() { ch <- p.Submit(ctx, b) }()
	return ch
}

func TestPipelineGroupCommit(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	cfg := DefaultPipelineConfig()
	cfg.MaxCommitItems = 5
	cfg.Writers = 1
	p, accepted := startPipeline(t, cfg, w)
	ctx := context.Background()

	a := submitAsync(ctx, p, spansBatch("a", 1))
	<-accepted
	<-w.entered // a is being written alone
	var rest []chan error
	for _, name := range []string{"b", "c", "d"} {
		rest = append(rest, submitAsync(ctx, p, spansBatch(name, 2)))
		<-accepted // queue order b, c, d
	}
	if st := p.Stats(); st.QueuedItems != 7 || st.QueuedBatches != 4 {
		t.Errorf("queued %d items in %d batches, want 7 in 4", st.QueuedItems, st.QueuedBatches)
	}
	close(w.gate)
	for _, ch := range append([]chan error{a}, rest...) {
		if err := <-ch; err != nil {
			t.Errorf("Submit: %v", err)
		}
	}
	w.mu.Lock()
	batches := slices.Clone(w.batches)
	w.mu.Unlock()
	// a alone; then b+c merged (4 items); d would make 6 > 5, so alone.
	if !slices.Equal(batches, []int{1, 4, 2}) {
		t.Errorf("write sizes %v, want [1 4 2]", batches)
	}
	st := p.Stats()
	if st.Writes != 3 || st.CommittedBatches != 4 || st.CommittedItems != 7 || st.QueuedItems != 0 || st.PeakQueuedItems != 7 {
		t.Errorf("stats %+v", st)
	}
	if st.LastWriteLatency <= 0 || st.TotalWriteLatency < st.MaxWriteLatency {
		t.Errorf("latencies %+v", st)
	}
}

func TestPipelineMergeDedupesResourcesAndSumsAudit(t *testing.T) {
	var got *evidence.Batch
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	w.onWrite = func(b *evidence.Batch) { got = b }
	cfg := DefaultPipelineConfig()
	cfg.Writers = 1 // the batches queued behind the first are merged
	p, accepted := startPipeline(t, cfg, w)
	ctx := context.Background()
	first := submitAsync(ctx, p, spansBatch("x", 1))
	<-w.entered
	mk := func(name string) *evidence.Batch {
		b := spansBatch(name, 1)
		b.Resources = []evidence.Resource{{ID: "res:1"}, {ID: "res:" + name}}
		b.Audit = []evidence.AuditCount{{Source: "span", Key: "user.id", Action: "tokenize", Count: 2}}
		b.KernelEvents = []evidence.KernelEvent{{Node: name}}
		return b
	}
	c1 := submitAsync(ctx, p, mk("p"))
	c2 := submitAsync(ctx, p, mk("q"))
	<-accepted
	<-accepted
	<-accepted
	close(w.gate)
	for _, ch := range []chan error{first, c1, c2} {
		if err := <-ch; err != nil {
			t.Fatal(err)
		}
	}
	ids := []string{}
	for _, r := range got.Resources {
		ids = append(ids, r.ID)
	}
	slices.Sort(ids)
	if !slices.Equal(ids, []string{"res:1", "res:p", "res:q"}) {
		t.Errorf("resources %v", ids)
	}
	if len(got.Audit) != 1 || got.Audit[0].Count != 4 {
		t.Errorf("audit %+v, want one row counting 4", got.Audit)
	}
	if len(got.Spans) != 2 || len(got.KernelEvents) != 2 {
		t.Errorf("merged %d spans %d kernel events", len(got.Spans), len(got.KernelEvents))
	}
}

func TestPipelineWriteErrorReachesEverySubmitter(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1), err: errors.New("disk full")}
	cfg := DefaultPipelineConfig()
	cfg.Writers = 1
	p, accepted := startPipeline(t, cfg, w)
	ctx := context.Background()
	chs := []chan error{submitAsync(ctx, p, spansBatch("a", 1))}
	<-w.entered
	chs = append(chs, submitAsync(ctx, p, spansBatch("b", 1)), submitAsync(ctx, p, spansBatch("c", 1)))
	for range 3 {
		<-accepted
	}
	close(w.gate)
	for _, ch := range chs {
		if err := <-ch; err == nil || !strings.Contains(err.Error(), "disk full") || !errors.Is(err, errWriteFailed) {
			t.Errorf("Submit: %v, want the write error", err)
		}
	}
	if st := p.Stats(); st.WriteErrors != 2 || st.FailedBatches != 3 || st.CommittedBatches != 0 || st.QueuedItems != 0 {
		t.Errorf("stats %+v", st)
	}
}

func TestPipelineBounds(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	cfg := DefaultPipelineConfig()
	cfg.MaxQueueItems = 5
	cfg.MaxQueueBytes = 10 * sizeSpan
	p, _ := startPipeline(t, cfg, w)
	ctx := context.Background()
	a := submitAsync(ctx, p, spansBatch("a", 4))
	<-w.entered
	if err := p.Submit(ctx, spansBatch("b", 2)); !errors.Is(err, ErrBackpressure) {
		t.Errorf("over item bound: %v, want ErrBackpressure", err)
	}
	if err := p.Submit(ctx, spansBatch("c", 6)); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("batch over the bound alone: %v, want ErrBatchTooLarge", err)
	}
	big := spansBatch("d", 1)
	big.Spans[0].DBStatement = strings.Repeat("x", int(10*sizeSpan))
	if err := p.Submit(ctx, big); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("batch over the byte bound: %v, want ErrBatchTooLarge", err)
	}
	mid := spansBatch("e", 1)
	mid.Spans[0].DBStatement = strings.Repeat("x", int(5*sizeSpan))
	if err := p.Submit(ctx, mid); !errors.Is(err, ErrBackpressure) {
		t.Errorf("over byte bound: %v, want ErrBackpressure", err)
	}
	if err := p.Submit(ctx, &evidence.Batch{}); err != nil {
		t.Errorf("empty batch: %v", err)
	}
	close(w.gate)
	if err := <-a; err != nil {
		t.Fatal(err)
	}
	if err := p.Submit(ctx, spansBatch("f", 5)); err != nil {
		t.Errorf("after the queue drained: %v", err)
	}
	if st := p.Stats(); st.BackpressureBatches != 2 || st.TooLargeBatches != 2 || st.PeakQueuedItems != 5 {
		t.Errorf("stats %+v", st)
	}
}

func TestPipelineSubmitContextEndsButBatchIsWritten(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	p, _ := startPipeline(t, DefaultPipelineConfig(), w)
	ctx, cancel := context.WithCancel(context.Background())
	ch := submitAsync(ctx, p, spansBatch("a", 2))
	<-w.entered
	cancel()
	if err := <-ch; !errors.Is(err, context.Canceled) {
		t.Errorf("Submit: %v, want context.Canceled", err)
	}
	close(w.gate)
	sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer scancel()
	if err := p.Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if got := w.spanNames(); !slices.Equal(got, []string{"a-0", "a-1"}) {
		t.Errorf("written %v", got)
	}
}

func TestPipelineLifecycle(t *testing.T) {
	w := &recordingWriter{}
	p, err := NewPipeline(DefaultPipelineConfig(), w, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := p.Submit(ctx, spansBatch("a", 1)); !errors.Is(err, ErrNotStarted) {
		t.Errorf("before Start: %v", err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err == nil {
		t.Error("second Start succeeded")
	}
	if err := p.Submit(ctx, spansBatch("a", 1)); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
	if err := p.Submit(ctx, spansBatch("b", 1)); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("after Shutdown: %v", err)
	}
	if err := p.Start(ctx); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Start after Shutdown: %v", err)
	}
	q, _ := NewPipeline(DefaultPipelineConfig(), w, nil)
	if err := q.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown before Start: %v", err)
	}
	if _, err := NewPipeline(DefaultPipelineConfig(), nil, nil); err == nil {
		t.Error("nil writer accepted")
	}
}

// TestPipelineShutdownDeadline: when the flush cannot finish in time,
// Shutdown returns the context's error and no submitter is told its batch
// was committed.
func TestPipelineShutdownDeadline(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	p, accepted := startPipeline(t, DefaultPipelineConfig(), w)
	ctx := context.Background()
	chs := []chan error{submitAsync(ctx, p, spansBatch("a", 1))}
	<-w.entered
	chs = append(chs, submitAsync(ctx, p, spansBatch("b", 1)))
	<-accepted
	<-accepted
	sctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Shutdown(sctx); !errors.Is(err, context.Canceled) {
		t.Errorf("Shutdown: %v, want context.Canceled", err)
	}
	for _, ch := range chs {
		if err := <-ch; err == nil {
			t.Error("a submitter was acknowledged although nothing was written")
		}
	}
	if w.writeCount() != 0 {
		t.Errorf("%d writes", w.writeCount())
	}
}

func TestPipelineWriterPanic(t *testing.T) {
	var once sync.Once
	w := evidence.WriterFunc(func(context.Context, *evidence.Batch) error {
		var err error
		once.Do(func() { panic("boom") })
		return err
	})
	p, _ := startPipeline(t, DefaultPipelineConfig(), w)
	if err := p.Submit(context.Background(), spansBatch("a", 1)); err == nil || !strings.Contains(err.Error(), "writer panicked: boom") {
		t.Errorf("Submit: %v", err)
	}
	if err := p.Submit(context.Background(), spansBatch("b", 1)); err != nil {
		t.Errorf("the pipeline must survive a panicking writer: %v", err)
	}
}

// TestPipelineWritersOverlap: with two writers, a batch queued while one
// Write is under way is written at the same time by the other writer, and
// Shutdown waits for both.
func TestPipelineWritersOverlap(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	inWrite, maxInWrite := 0, 0
	entered := make(chan struct{}, 8)
	var written []string
	w := evidence.WriterFunc(func(ctx context.Context, b *evidence.Batch) error {
		mu.Lock()
		inWrite++
		maxInWrite = max(maxInWrite, inWrite)
		mu.Unlock()
		entered <- struct{}{}
		<-gate
		mu.Lock()
		inWrite--
		for _, sp := range b.Spans {
			written = append(written, sp.Name)
		}
		mu.Unlock()
		return nil
	})
	cfg := DefaultPipelineConfig()
	if cfg.Writers != 2 {
		t.Fatalf("default writers %d, want 2", cfg.Writers)
	}
	p, accepted := startPipeline(t, cfg, w)
	ctx := context.Background()
	a := submitAsync(ctx, p, spansBatch("a", 1))
	<-accepted
	<-entered
	b := submitAsync(ctx, p, spansBatch("b", 2))
	<-accepted
	<-entered // the second writer took b while a is being written
	c := submitAsync(ctx, p, spansBatch("c", 1))
	<-accepted
	if st := p.Stats(); st.QueuedItems != 4 || st.QueuedBatches != 3 {
		t.Errorf("queued %d items in %d batches, want 4 in 3", st.QueuedItems, st.QueuedBatches)
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	shut := make(chan error, 1)
	go func() { shut <- p.Shutdown(sctx) }()
	close(gate)
	for _, ch := range []chan error{a, b, c} {
		if err := <-ch; err != nil {
			t.Errorf("Submit: %v", err)
		}
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(written)
	if maxInWrite != 2 || !slices.Equal(written, []string{"a-0", "b-0", "b-1", "c-0"}) {
		t.Errorf("max %d Writes at once (want 2), written %v", maxInWrite, written)
	}
	if st := p.Stats(); st.CommittedBatches != 3 || st.QueuedItems != 0 {
		t.Errorf("stats %+v", st)
	}
	if err := p.Submit(ctx, spansBatch("d", 1)); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("after Shutdown: %v", err)
	}
}

func TestPipelineConfigWriters(t *testing.T) {
	cfg := DefaultPipelineConfig()
	cfg.Writers = -1
	if err := cfg.Validate(); err == nil {
		t.Error("negative writers accepted")
	}
	cfg.Writers = 0 // one writer
	p, _ := startPipeline(t, cfg, &recordingWriter{})
	if err := p.Submit(context.Background(), spansBatch("a", 1)); err != nil {
		t.Error(err)
	}
}
