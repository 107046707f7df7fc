package bank

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// attemptsAttr counts a reconciliation's attempts.
const attemptsAttr = attribute.Key("bank.reconcile.attempts")

// auditTrail is the ledger's in-memory record of entries, behind its own
// lock. The lockinv bug takes that lock and the ledger mutex in opposite
// orders on two paths (see the package doc).
type auditTrail struct {
	mu      sync.Mutex
	entries []int64 // amounts, newest last, at most auditKeep
	total   int64
}

const auditKeep = 4096

// append records an entry; the lockinv path calls it with the ledger
// mutex held.
func (a *auditTrail) append(amount int64) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.entries) == auditKeep {
		copy(a.entries, a.entries[1:])
		a.entries = a.entries[:auditKeep-1]
	}
	a.entries = append(a.entries, amount)
	a.total += amount
}

// errReconcileGaveUp: every attempt timed out waiting for the ledger
// mutex; the balance is served without reconciling.
var errReconcileGaveUp = errors.New("reconciliation gave up: the ledger mutex stayed busy")

// reconcile checks the audit trail against the balances: the retry path
// of the lockinv bug. It holds the audit lock while it waits for the
// ledger mutex (the inverted order), polling TryLock until timeout; on a
// timeout it releases the audit lock, backs off and tries again, at most
// retries times.
func (l *ledger) reconcile(timeout time.Duration, retries int) (attempts int, err error) {
	for attempts = 1; attempts <= retries; attempts++ {
		if l.reconcileOnce(timeout) {
			return attempts, nil
		}
		time.Sleep(time.Duration(attempts) * time.Millisecond) // back off before retrying
	}
	return retries, errReconcileGaveUp
}

func (l *ledger) reconcileOnce(timeout time.Duration) bool {
	if l.plocks != nil {
		return l.plocks.reconcile(timeout) // the same, in C with pthread mutexes
	}
	l.audit.mu.Lock()
	defer l.audit.mu.Unlock()
	var sum int64
	for _, a := range l.audit.entries {
		sum += a
	}
	// The audit lock's own work: checksum the trail (a few milliseconds),
	// long enough for commits to take the mutex and queue on the audit
	// lock behind it.
	var buf [8 * 512]byte
	digest := sha256.New()
	for pass := 0; pass < 192; pass++ {
		for i := range 512 {
			binary.LittleEndian.PutUint64(buf[8*i:], uint64(sum)+uint64(pass*512+i))
		}
		digest.Write(buf[:])
	}
	sum ^= int64(binary.LittleEndian.Uint64(digest.Sum(nil)))
	deadline := time.Now().Add(timeout)
	for !l.mu.TryLock() { // Go's timed lock: poll until the deadline
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Microsecond)
	}
	defer l.mu.Unlock()
	l.sink[0] = byte(sum ^ l.audit.total)
	return true
}

// reconcileDue reports whether a balance read should reconcile now: at
// most one starts per Config.ReconcileEvery.
func (s *Service) reconcileDue(now time.Time) bool {
	last := s.ledger.lastReconcile.Load()
	if now.UnixNano()-last < int64(s.cfg.ReconcileEvery) {
		return false
	}
	return s.ledger.lastReconcile.CompareAndSwap(last, now.UnixNano())
}

// reconcileSpan runs reconcile in a child span of ctx named
// "ledger.reconcile", marking it with its attempts and outcome.
func (s *Service) reconcileSpan(ctx context.Context) {
	_, span := s.tracer.Start(ctx, "ledger.reconcile")
	defer span.End()
	n, err := s.ledger.reconcile(s.cfg.ReconcileTimeout, s.cfg.ReconcileRetries)
	span.AddEvent("reconciled", trace.WithAttributes(attemptsAttr.Int(n)))
	if err != nil {
		span.RecordError(err)
	}
}
