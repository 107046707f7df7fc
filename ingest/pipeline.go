package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/debugai/debugai/evidence"
)

// PipelineConfig configures a Pipeline. The zero value is not valid: start
// from DefaultPipelineConfig.
type PipelineConfig struct {
	// MaxQueueItems bounds the items (spans, span events, kernel events,
	// lock edges, logs) accepted but not yet committed, including those in
	// the Write under way. A Submit that would pass it is refused with
	// ErrBackpressure.
	MaxQueueItems int64
	// MaxQueueBytes bounds the estimated in-memory size of the same batches.
	MaxQueueBytes int64
	// MaxCommitItems bounds the items merged into one Writer.Write (group
	// commit). A single batch larger than this is written alone.
	MaxCommitItems int64
	// WriteTimeout bounds one Writer.Write; 0 means no limit.
	WriteTimeout time.Duration
	// RetryAfter is the delay the receivers suggest to refused clients
	// (Retry-After, RetryInfo). At least one second.
	RetryAfter time.Duration
	// Writers is how many writer goroutines take queued batches and call
	// Writer.Write, so that up to Writers Writes run at once (one batch's
	// appends overlapping another's commit, with a Writer that supports
	// it); 0 means 1. Batches written by different goroutines may commit
	// in any order.
	Writers int
}

// DefaultPipelineConfig returns the defaults: 262,144 queued items or
// 256 MiB, commits of up to 65,536 items, a 60 s write timeout, a 1 s
// retry hint and two writers.
func DefaultPipelineConfig() PipelineConfig {
	return PipelineConfig{
		MaxQueueItems:  1 << 18,
		MaxQueueBytes:  256 << 20,
		MaxCommitItems: 1 << 16,
		WriteTimeout:   60 * time.Second,
		RetryAfter:     time.Second,
		Writers:        2,
	}
}

// Validate reports the first invalid field.
func (c PipelineConfig) Validate() error {
	switch {
	case c.MaxQueueItems <= 0:
		return fmt.Errorf("pipeline: max queue items %d: must be positive", c.MaxQueueItems)
	case c.MaxQueueBytes <= 0:
		return fmt.Errorf("pipeline: max queue bytes %d: must be positive", c.MaxQueueBytes)
	case c.MaxCommitItems <= 0:
		return fmt.Errorf("pipeline: max commit items %d: must be positive", c.MaxCommitItems)
	case c.WriteTimeout < 0:
		return fmt.Errorf("pipeline: write timeout %v: must not be negative", c.WriteTimeout)
	case c.RetryAfter < time.Second:
		return fmt.Errorf("pipeline: retry after %v: must be at least 1s", c.RetryAfter)
	case c.Writers < 0:
		return fmt.Errorf("pipeline: writers %d: must not be negative", c.Writers)
	}
	return nil
}

// PipelineStats is a snapshot of a Pipeline's counters. Items are counted as
// evidence.Batch.Len counts them.
type PipelineStats struct {
	AcceptedBatches, AcceptedItems   int64 // taken into the queue
	CommittedBatches, CommittedItems int64 // written; their submitters got nil
	FailedBatches, FailedItems       int64 // Write failed or abandoned at shutdown
	BackpressureBatches              int64 // refused with ErrBackpressure
	BackpressureItems                int64
	TooLargeBatches                  int64 // refused with ErrBatchTooLarge
	Writes, WriteErrors              int64 // Writer.Write calls and failures

	QueuedBatches, QueuedItems, QueuedBytes int64 // now, including the Writes under way
	PeakQueuedItems, PeakQueuedBytes        int64 // highest since Start

	LastWriteLatency, MaxWriteLatency, TotalWriteLatency time.Duration
}

// Pipeline is a bounded queue in front of an evidence.Writer. Each of its
// writer goroutines (PipelineConfig.Writers) takes every queued batch (up
// to MaxCommitItems), merges them, calls Write once and hands its result to
// each submitter (group commit); while one Write is under way, the next
// writer takes what queues up meanwhile.
type Pipeline struct {
	cfg PipelineConfig
	w   evidence.Writer
	log *slog.Logger

	runCtx context.Context // Write's context; cancelled when a Shutdown gives up
	cancel context.CancelFunc
	done   chan struct{} // closed when every writer goroutine has exited

	mu    sync.Mutex
	cond  *sync.Cond // signalled on a new batch and on shutdown
	state int
	queue []*pending
	stats PipelineStats

	// testHookAccepted, when set, runs (under mu) after a batch is queued.
	testHookAccepted func()
}

const (
	stateNew = iota
	stateRunning
	stateStopping
	stateStopped
)

type pending struct {
	b     *evidence.Batch
	items int64
	bytes int64
	done  chan error // buffered: the writer never blocks on an abandoned submitter
}

// NewPipeline returns a pipeline writing to w. A nil logger discards.
func NewPipeline(cfg PipelineConfig, w evidence.Writer, logger *slog.Logger) (*Pipeline, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if w == nil {
		return nil, errors.New("pipeline: nil writer")
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Pipeline{
		cfg:    cfg,
		w:      w,
		log:    discardLogger(logger),
		runCtx: ctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	p.cond = sync.NewCond(&p.mu)
	return p, nil
}

// RetryAfter is the delay receivers suggest to clients refused for
// backpressure.
func (p *Pipeline) RetryAfter() time.Duration { return p.cfg.RetryAfter }

// Start starts the writer goroutines. ctx is not retained.
func (p *Pipeline) Start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("starting pipeline: %w", err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.state {
	case stateNew:
	case stateRunning:
		return errors.New("starting pipeline: already started")
	default:
		return fmt.Errorf("starting pipeline: %w", ErrShuttingDown)
	}
	p.state = stateRunning
	n := max(p.cfg.Writers, 1)
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		go func() {
			defer wg.Done()
			p.run()
		}()
	}
	go func() {
		wg.Wait()
		close(p.done)
	}()
	return nil
}

// Submit queues b and blocks until the Write that contains it returns, then
// returns that Write's error. It returns ErrBackpressure at once when the
// queue has no room, ErrBatchTooLarge when b alone exceeds the bounds, and
// ErrShuttingDown once Shutdown has begun. When ctx ends first Submit
// returns ctx's error, but the batch stays queued and is written anyway
// (delivery is at least once; the store deduplicates by evidence ID).
// b must not be modified after Submit is called.
func (p *Pipeline) Submit(ctx context.Context, b *evidence.Batch) error {
	if isEmpty(b) {
		return nil
	}
	if err := ctx.Err(); err != nil { // nobody would hear the answer: do not queue
		return fmt.Errorf("submitting batch: %w", err)
	}
	pd := &pending{b: b, items: int64(b.Len()), bytes: estimateBytes(b), done: make(chan error, 1)}
	p.mu.Lock()
	switch p.state {
	case stateRunning:
	case stateNew:
		p.mu.Unlock()
		return ErrNotStarted
	default:
		p.mu.Unlock()
		return ErrShuttingDown
	}
	s := &p.stats
	if pd.items > p.cfg.MaxQueueItems || pd.bytes > p.cfg.MaxQueueBytes {
		s.TooLargeBatches++
		p.mu.Unlock()
		return fmt.Errorf("%d items, ~%d bytes (bounds %d items, %d bytes): %w",
			pd.items, pd.bytes, p.cfg.MaxQueueItems, p.cfg.MaxQueueBytes, ErrBatchTooLarge)
	}
	if s.QueuedItems+pd.items > p.cfg.MaxQueueItems || s.QueuedBytes+pd.bytes > p.cfg.MaxQueueBytes {
		s.BackpressureBatches++
		s.BackpressureItems += pd.items
		p.mu.Unlock()
		return ErrBackpressure
	}
	s.AcceptedBatches++
	s.AcceptedItems += pd.items
	s.QueuedBatches++
	s.QueuedItems += pd.items
	s.QueuedBytes += pd.bytes
	s.PeakQueuedItems = max(s.PeakQueuedItems, s.QueuedItems)
	s.PeakQueuedBytes = max(s.PeakQueuedBytes, s.QueuedBytes)
	p.queue = append(p.queue, pd)
	p.cond.Signal()
	if p.testHookAccepted != nil {
		p.testHookAccepted()
	}
	p.mu.Unlock()

	select {
	case err := <-pd.done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("waiting for commit: %w", ctx.Err())
	}
}

// Shutdown stops accepting batches (Submit returns ErrShuttingDown), waits
// until every accepted batch is written, and returns. When ctx ends first it
// cancels the Writes under way, fails the batches still queued with
// ErrShuttingDown (their submitters were not acknowledged) and returns ctx's
// error. Shutdown is idempotent; it is valid before Start.
func (p *Pipeline) Shutdown(ctx context.Context) error {
	p.mu.Lock()
	switch p.state {
	case stateNew:
		p.state = stateStopped
		close(p.done)
	case stateRunning:
		p.state = stateStopping
		p.cond.Broadcast()
	}
	p.mu.Unlock()
	select {
	case <-p.done:
		return nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	p.cancel()
	p.cond.Broadcast()
	p.mu.Unlock()
	return fmt.Errorf("flushing ingest queue: %w", ctx.Err())
}

// Stats returns a snapshot of the counters.
func (p *Pipeline) Stats() PipelineStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// run is one writer goroutine.
func (p *Pipeline) run() {
	var taken []*pending
	for {
		p.mu.Lock()
		for len(p.queue) == 0 {
			if p.state == stateStopping || p.state == stateStopped {
				p.state = stateStopped
				p.cond.Broadcast() // the other writers exit too
				p.mu.Unlock()
				return
			}
			p.cond.Wait()
		}
		taken = p.takeLocked(taken[:0])
		aborted := p.runCtx.Err() != nil
		p.mu.Unlock()
		if aborted {
			p.finish(taken, 0, fmt.Errorf("shutdown deadline passed before commit: %w", ErrShuttingDown), false)
		} else {
			p.commit(taken)
		}
		clear(taken)
	}
}

// takeLocked moves the head of the queue, up to MaxCommitItems (at least one
// batch), into dst.
func (p *Pipeline) takeLocked(dst []*pending) []*pending {
	var items int64
	k := 0
	for k < len(p.queue) {
		n := p.queue[k].items
		if k > 0 && items+n > p.cfg.MaxCommitItems {
			break
		}
		items += n
		k++
	}
	dst = append(dst, p.queue[:k]...)
	if k == len(p.queue) {
		clear(p.queue)
		p.queue = p.queue[:0]
	} else {
		clear(p.queue[:k])
		p.queue = p.queue[k:]
	}
	return dst
}

func (p *Pipeline) commit(taken []*pending) {
	b := mergeBatches(taken)
	start := time.Now()
	err := p.write(b)
	lat := time.Since(start)
	if err != nil {
		p.log.Error("writing evidence batch", "batches", len(taken), "items", b.Len(), "err", err)
	}
	p.finish(taken, lat, err, true)
}

// finish releases the queue space of taken, counts, and answers submitters.
func (p *Pipeline) finish(taken []*pending, lat time.Duration, err error, wrote bool) {
	p.mu.Lock()
	s := &p.stats
	if wrote {
		s.Writes++
		s.LastWriteLatency = lat
		s.MaxWriteLatency = max(s.MaxWriteLatency, lat)
		s.TotalWriteLatency += lat
		if err != nil {
			s.WriteErrors++
		}
	}
	for _, t := range taken {
		s.QueuedBatches--
		s.QueuedItems -= t.items
		s.QueuedBytes -= t.bytes
		if err == nil {
			s.CommittedBatches++
			s.CommittedItems += t.items
		} else {
			s.FailedBatches++
			s.FailedItems += t.items
		}
	}
	p.mu.Unlock()
	for _, t := range taken {
		t.done <- err
	}
}

// write calls the Writer, bounded by WriteTimeout, turning a panic into an
// error so that one bad batch cannot take the process down.
func (p *Pipeline) write(b *evidence.Batch) (err error) {
	ctx := p.runCtx
	if p.cfg.WriteTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.cfg.WriteTimeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: writer panicked: %v", errWriteFailed, r)
		}
	}()
	if err := p.w.Write(ctx, b); err != nil {
		return fmt.Errorf("%w: %w", errWriteFailed, err)
	}
	return nil
}

func isEmpty(b *evidence.Batch) bool {
	return b == nil || len(b.Resources) == 0 && len(b.Spans) == 0 && len(b.KernelEvents) == 0 &&
		len(b.LockEdges) == 0 && len(b.Logs) == 0 && len(b.Audit) == 0
}

// mergeBatches concatenates the batches of ps into one. Resources are
// deduplicated by ID and audit counts summed per (source, key, action), so
// the merged Write stores what the separate Writes would have stored.
func mergeBatches(ps []*pending) *evidence.Batch {
	if len(ps) == 1 {
		return ps[0].b
	}
	var nr, ns, nk, ne, nl, na int
	for _, p := range ps {
		b := p.b
		nr += len(b.Resources)
		ns += len(b.Spans)
		nk += len(b.KernelEvents)
		ne += len(b.LockEdges)
		nl += len(b.Logs)
		na += len(b.Audit)
	}
	m := &evidence.Batch{
		Spans:        make([]evidence.Span, 0, ns),
		KernelEvents: make([]evidence.KernelEvent, 0, nk),
		LockEdges:    make([]evidence.LockEdge, 0, ne),
		Logs:         make([]evidence.LogRecord, 0, nl),
	}
	if nr > 0 {
		m.Resources = make([]evidence.Resource, 0, nr)
	}
	if na > 0 {
		m.Audit = make([]evidence.AuditCount, 0, na)
	}
	seenRes := make(map[string]struct{}, nr)
	auditAt := make(map[evidence.AuditCount]int, na) // key with Count 0 -> index
	for _, p := range ps {
		b := p.b
		for _, r := range b.Resources {
			if r.ID != "" {
				if _, ok := seenRes[r.ID]; ok {
					continue
				}
				seenRes[r.ID] = struct{}{}
			}
			m.Resources = append(m.Resources, r)
		}
		m.Spans = append(m.Spans, b.Spans...)
		m.KernelEvents = append(m.KernelEvents, b.KernelEvents...)
		m.LockEdges = append(m.LockEdges, b.LockEdges...)
		m.Logs = append(m.Logs, b.Logs...)
		for _, a := range b.Audit {
			k := evidence.AuditCount{Source: a.Source, Key: a.Key, Action: a.Action}
			if i, ok := auditAt[k]; ok {
				m.Audit[i].Count += a.Count
				continue
			}
			auditAt[k] = len(m.Audit)
			m.Audit = append(m.Audit, a)
		}
	}
	return m
}
