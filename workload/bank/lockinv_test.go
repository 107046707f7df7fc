package bank

import (
	"errors"
	"testing"
	"time"
)

// TestReconcileTimesOut: the retry path holds the audit lock while it
// waits for the ledger mutex, gives up after the timeout and releases the
// audit lock, so that a commit waiting in the other order gets through.
func TestReconcileTimesOut(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	l, err := openLedger(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()

	l.mu.Lock() // a commit holding the ledger mutex
	start := time.Now()
	n, err := l.reconcile(2*time.Millisecond, 2)
	if !errors.Is(err, errReconcileGaveUp) || n != 2 {
		t.Fatalf("reconcile with the mutex held = %d, %v; want 2 attempts and errReconcileGaveUp", n, err)
	}
	if d := time.Since(start); d < 4*time.Millisecond {
		t.Errorf("gave up after %v, before two 2 ms attempts", d)
	}
	if !l.audit.mu.TryLock() {
		t.Fatal("the audit lock is still held after reconcile gave up")
	}
	l.audit.mu.Unlock()
	l.mu.Unlock()
	if n, err := l.reconcile(time.Second, 3); err != nil || n != 1 {
		t.Fatalf("reconcile with the mutex free = %d, %v; want the first attempt to succeed", n, err)
	}
}

// TestLockInversionBounded runs commits (mutex, then audit lock) against
// reconciliations (audit lock, then mutex) concurrently: the inversion
// costs time but never deadlocks, and every commit reaches the audit.
func TestLockInversionBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.SnapshotBytes, cfg.SyncChunkBytes = t.TempDir(), 4096, 4096
	l, err := openLedger(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	const commits = 400
	committed, reconciled := make(chan struct{}), make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(committed)
		for i := 0; i < commits; i++ {
			if err := l.commit(0, 1, 1, false, true); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	go func() {
		defer close(reconciled)
		for {
			select {
			case <-stop:
				return
			default:
				l.reconcile(time.Millisecond, 2) // gives up or succeeds: never hangs
			}
		}
	}()
	select {
	case <-committed:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: the commits did not finish within 30 s against the inverted order")
	}
	close(stop)
	select {
	case <-reconciled:
	case <-time.After(30 * time.Second):
		t.Fatal("deadlock: the reconciler did not stop within 30 s")
	}
	if got := l.auditTotal(); got != commits {
		t.Errorf("audit total %d, want %d", got, commits)
	}
}

func (l *ledger) auditTotal() int64 {
	l.audit.mu.Lock()
	defer l.audit.mu.Unlock()
	return l.audit.total
}

// TestReconcileDue: at most one reconciliation starts per ReconcileEvery.
func TestReconcileDue(t *testing.T) {
	cfg := DefaultConfig()
	s := &Service{cfg: cfg, ledger: &ledger{}}
	t0 := time.Unix(1000, 0)
	for _, c := range []struct {
		at   time.Duration
		want bool
	}{{0, true}, {time.Millisecond, false}, {cfg.ReconcileEvery - 1, false}, {cfg.ReconcileEvery, true}, {cfg.ReconcileEvery + time.Millisecond, false}} {
		if got := s.reconcileDue(t0.Add(c.at)); got != c.want {
			t.Errorf("reconcileDue at +%v = %v, want %v", c.at, got, c.want)
		}
	}
}

// TestPthreadReconcile: the pthread variant times out while the ledger
// lock is held (pthread_mutex_timedlock) and succeeds once it is free;
// commits under the bug reach its audit total.
func TestPthreadReconcile(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir, cfg.Locks, cfg.SnapshotBytes, cfg.SyncChunkBytes = t.TempDir(), LocksPthread, 4096, 4096
	l, err := openLedger(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.close()
	l.plocks.lockLedger()
	start := time.Now()
	if n, err := l.reconcile(5*time.Millisecond, 1); !errors.Is(err, errReconcileGaveUp) || n != 1 {
		t.Fatalf("reconcile with the ledger lock held = %d, %v; want a timeout", n, err)
	}
	if d := time.Since(start); d < 5*time.Millisecond {
		t.Errorf("timed out after %v, before 5 ms", d)
	}
	l.plocks.unlockLedger()
	if n, err := l.reconcile(time.Second, 1); err != nil || n != 1 {
		t.Fatalf("reconcile with the ledger lock free = %d, %v", n, err)
	}
	for range 3 {
		if err := l.commit(0, 1, 2, false, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := l.plocks.auditTotal(); got != 6 {
		t.Errorf("audit total %d, want 6", got)
	}
}
