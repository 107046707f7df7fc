package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Memory a request needs besides its body, per byte of (decompressed) body:
// the decoded pdata and the converted batch with what converting allocates
// on the way. Measured on 1,000 and 8,000-span requests: decoding allocates
// 4.1x a protobuf body and 2.4x a JSON body, converting 3-4x and 1.3-1.5x
// (BENCHMARKS.md); the factors round those up.
const (
	decodeFactorProto = 6
	decodeFactorJSON  = 4
)

// Budget errors.
var (
	// ErrOverBudget reports that the memory budget stayed exhausted for
	// longer than the configured wait (HTTP 429 with Retry-After, gRPC
	// RESOURCE_EXHAUSTED with RetryInfo).
	ErrOverBudget = errors.New("ingest memory budget exhausted")
	// errNeverFits reports a request that alone needs more than the whole
	// budget (HTTP 413, gRPC RESOURCE_EXHAUSTED without RetryInfo).
	errNeverFits = errors.New("request needs more memory than the whole ingest budget")
)

// memBudget is a byte semaphore shared by every receiver of a Server: the
// bytes of bodies being read (buffer capacity, growing as they arrive,
// decompressed or not) and of requests being decoded and converted. Waiters
// are served first come, first served, so a large request is not starved by
// small ones. A nil *memBudget is unlimited.
type memBudget struct {
	limit int64
	wait  time.Duration

	mu      sync.Mutex
	used    int64
	peak    int64
	refused int64
	waiters []*budgetWaiter
}

type budgetWaiter struct {
	n     int64
	ready chan struct{} // closed once the bytes are granted
}

func newMemBudget(limit int64, wait time.Duration) *memBudget {
	return &memBudget{limit: limit, wait: wait}
}

// BudgetStats is the memory budget's state.
type BudgetStats struct {
	Limit   int64 // configured bytes
	Used    int64 // bytes reserved now
	Peak    int64 // most bytes ever reserved at once
	Refused int64 // reservations that waited in vain or could never fit

	ReadPeak, DecodePeak int64 // the peaks of the two pools (bodies; decoding)
}

func (b *memBudget) stats() BudgetStats {
	if b == nil {
		return BudgetStats{}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return BudgetStats{Limit: b.limit, Used: b.used, Peak: b.peak, Refused: b.refused}
}

// acquire reserves n bytes, waiting up to the budget's wait (or until ctx
// ends) behind earlier waiters.
func (b *memBudget) acquire(ctx context.Context, n int64) error {
	if b == nil || n <= 0 {
		return nil
	}
	b.mu.Lock()
	if n > b.limit {
		b.refused++
		b.mu.Unlock()
		return fmt.Errorf("%d bytes of %d: %w", n, b.limit, errNeverFits)
	}
	if len(b.waiters) == 0 && b.used+n <= b.limit {
		b.take(n)
		b.mu.Unlock()
		return nil
	}
	w := &budgetWaiter{n: n, ready: make(chan struct{})}
	b.waiters = append(b.waiters, w)
	b.mu.Unlock()

	timer := time.NewTimer(b.wait)
	defer timer.Stop()
	var err error
	select {
	case <-w.ready:
		return nil
	case <-timer.C:
		err = fmt.Errorf("waited %s for %d bytes: %w", b.wait, n, ErrOverBudget)
	case <-ctx.Done():
		err = ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	select {
	case <-w.ready: // granted meanwhile: give it back
		b.used -= n
	default:
		for i, x := range b.waiters {
			if x == w {
				b.waiters = append(b.waiters[:i], b.waiters[i+1:]...)
				break
			}
		}
	}
	if errors.Is(err, ErrOverBudget) {
		b.refused++
	}
	b.grant()
	return err
}

// release returns n bytes.
func (b *memBudget) release(n int64) {
	if b == nil || n <= 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.used = max(0, b.used-n) // reservations never give back more than they took
	b.grant()
}

func (b *memBudget) take(n int64) {
	b.used += n
	b.peak = max(b.peak, b.used)
}

// grant serves waiters in order while the first one fits. Called with mu.
func (b *memBudget) grant() {
	for len(b.waiters) > 0 && b.used+b.waiters[0].n <= b.limit {
		w := b.waiters[0]
		b.waiters = b.waiters[1:]
		b.take(w.n)
		close(w.ready)
	}
}

// budgets splits a Server's memory budget in two: bodies being read, and
// requests being decoded and converted. A request holds its body's bytes
// while it waits for a decoding slot; were both in one pool, bodies waiting
// for slots could hold every byte the slot holders need to decode, and
// nothing would move until the waits ran out. Decoding reservations are
// taken only by slot holders, so they always make progress.
type budgets struct {
	read, decode *memBudget
}

// newBudgets gives a third of limit to bodies being read and the rest to
// decoding, which needs several times a body's size.
func newBudgets(limit int64, wait time.Duration) *budgets {
	read := limit / 3
	return &budgets{read: newMemBudget(read, wait), decode: newMemBudget(limit-read, wait)}
}

// stats adds up both pools; Peak is the sum of their peaks, an upper bound
// of the total's.
func (b *budgets) stats() BudgetStats {
	if b == nil {
		return BudgetStats{}
	}
	r, d := b.read.stats(), b.decode.stats()
	return BudgetStats{Limit: r.Limit + d.Limit, Used: r.Used + d.Used, Peak: r.Peak + d.Peak, Refused: r.Refused + d.Refused,
		ReadPeak: r.Peak, DecodePeak: d.Peak}
}

// part is what one request holds of one pool.
type part struct {
	b    *memBudget
	held int64
}

// ensure grows the part to at least n bytes.
func (p *part) ensure(ctx context.Context, n int64) error {
	if n <= p.held {
		return nil
	}
	if p.b != nil && n > p.b.limit { // what it holds already counts too
		p.b.mu.Lock()
		p.b.refused++
		p.b.mu.Unlock()
		return fmt.Errorf("%d bytes of %d: %w", n, p.b.limit, errNeverFits)
	}
	if err := p.b.acquire(ctx, n-p.held); err != nil {
		return err
	}
	p.held = n
	return nil
}

// shrink lowers the part to n bytes.
func (p *part) shrink(n int64) {
	if n < p.held {
		p.b.release(p.held - n)
		p.held = n
	}
}

// reservation is what one request holds of the budgets: its body buffer,
// then what decoding and converting it holds.
type reservation struct {
	body, dec part
	// releaseSlot, when set, gives back a decoding slot taken together
	// with the reservation (gRPC, where decoding happens in the codec).
	releaseSlot func()
}

func newReservation(b *budgets) *reservation {
	if b == nil {
		return &reservation{}
	}
	return &reservation{body: part{b: b.read}, dec: part{b: b.decode}}
}

// ensure grows the body part to at least n bytes.
func (r *reservation) ensure(ctx context.Context, n int64) error { return r.body.ensure(ctx, n) }

// shrink lowers the body part to n bytes.
func (r *reservation) shrink(n int64) { r.body.shrink(n) }

// ensureDecode grows the decoding part to at least n bytes. Only a holder
// of a decoding slot may call it.
func (r *reservation) ensureDecode(ctx context.Context, n int64) error { return r.dec.ensure(ctx, n) }

// done returns everything, and the decoding slot when it holds one.
func (r *reservation) done() {
	r.body.shrink(0)
	r.dec.shrink(0)
	if r.releaseSlot != nil {
		r.releaseSlot()
		r.releaseSlot = nil
	}
}
