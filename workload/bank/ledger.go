package bank

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// ledger is the ledger's state: balances behind one process-wide mutex
// and a snapshot file rewritten on every entry.
type ledger struct {
	mu       sync.Mutex // guards balances, snap's content and buf
	balances []int64
	buf      []byte // the snapshot image
	snap     *os.File
	fd       int
	rounds   int
	chunk    int      // bytes written (and synced) at a time
	sink     [32]byte // keeps the regression's hashing live
	journal  *journal // iostorm: durable entry records
	archive  *archive // faultstorm: the mapped history
	audit    auditTrail
	plocks   *pthreadLocks // Config.Locks "pthread": the lockinv bug's locks in C
	// lastReconcile is when the last lockinv reconciliation started (unix ns).
	lastReconcile atomic.Int64
}

func openLedger(cfg *Config) (*ledger, error) {
	f, err := os.CreateTemp(cfg.DataDir, "bank-ledger-*.snap")
	if err != nil {
		return nil, fmt.Errorf("creating the ledger snapshot: %w", err)
	}
	l := &ledger{balances: make([]int64, cfg.Accounts), buf: make([]byte, cfg.SnapshotBytes), snap: f,
		fd: int(f.Fd()), rounds: cfg.RegressionRounds, chunk: cfg.SyncChunkBytes}
	for i := range l.balances {
		l.balances[i] = 1 << 40 // enough for any recording
	}
	err = l.write(true)
	if err == nil {
		l.journal, err = openJournal(cfg)
	}
	if err == nil {
		l.archive, err = openArchive(cfg)
	}
	if err == nil && cfg.Locks == LocksPthread {
		l.plocks, err = newPthreadLocks()
	}
	if err != nil {
		return nil, errors.Join(err, l.close())
	}
	return l, nil
}

// close closes and removes the snapshot, journal and archive files.
func (l *ledger) close() error {
	err := errors.Join(l.snap.Close(), os.Remove(l.snap.Name()))
	if l.journal != nil {
		err = errors.Join(err, l.journal.close())
	}
	if l.archive != nil {
		err = errors.Join(err, l.archive.close())
	}
	if l.plocks != nil {
		l.plocks.close()
	}
	return err
}

// commit moves amount from one account to another and rewrites the
// snapshot, all under the mutex. With durable (the convoy bug) it also
// waits for fdatasync while still holding the mutex, so every other
// entry queues behind the disk. With audit (the lockinv bug) it then
// appends to the audit trail, still holding the mutex.
func (l *ledger) commit(from, to int, amount int64, durable, audit bool) error {
	if audit && l.plocks != nil { // the pthread variant: its ledger lock first
		l.plocks.lockLedger()
		defer l.plocks.unlockLedger()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.balances[from] < amount {
		return errInsufficient
	}
	l.balances[from] -= amount
	l.balances[to] += amount
	if err := l.write(durable); err != nil {
		return err
	}
	switch {
	case audit && l.plocks != nil:
		l.plocks.appendAudit(amount) // order: ledger lock, then audit lock
	case audit:
		l.audit.append(amount) // order: mu, then audit.mu
	}
	return nil
}

var errInsufficient = errors.New("insufficient funds")

// write encodes the balances into the snapshot image and writes it at
// offset 0 in chunks of SyncChunkBytes; when durable it fdatasyncs each
// chunk before writing the next (a naive crash-safe write). The caller
// holds mu (or owns l).
func (l *ledger) write(durable bool) error {
	n := min(len(l.balances), len(l.buf)/8)
	for i := range n {
		binary.LittleEndian.PutUint64(l.buf[8*i:], uint64(l.balances[i]))
	}
	for off := 0; off < len(l.buf); off += l.chunk {
		if _, err := l.snap.WriteAt(l.buf[off:min(off+l.chunk, len(l.buf))], int64(off)); err != nil {
			return fmt.Errorf("writing the snapshot: %w", err)
		}
		if durable {
			if err := unix.Fdatasync(l.fd); err != nil {
				return fmt.Errorf("syncing the snapshot: %w", err)
			}
		}
	}
	return nil
}

// balance returns an account's balance. With recompute (v2's
// regression) it first re-hashes the account's history: CPU work outside
// the mutex.
func (l *ledger) balance(acct int, recompute bool) int64 {
	if recompute {
		var block [4096]byte
		binary.LittleEndian.PutUint64(block[:], uint64(acct))
		sum := sha256.Sum256(block[:])
		for range l.rounds {
			copy(block[:32], sum[:])
			sum = sha256.Sum256(block[:])
		}
		l.mu.Lock()
		l.sink = sum
		l.mu.Unlock()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.balances[acct]
}

// entries serves POST /entries?from=I&to=J&amount=N.
func (s *Service) entries(w http.ResponseWriter, r *http.Request) {
	from, err1 := s.account(r, "from", 0)
	to, err2 := s.account(r, "to", 1)
	amount, err3 := strconv.ParseInt(formOr(r, "amount", "1"), 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil || amount < 0 || from == to {
		http.Error(w, fmt.Sprintf("bad entry: %v (amount >= 0, from != to)", err), http.StatusBadRequest)
		return
	}
	_, span := s.tracer.Start(r.Context(), "ledger.commit")
	err := s.ledger.commit(from, to, amount, s.Bug() == BugConvoy, s.Bug() == BugLockInv)
	span.End()
	if err == nil && s.Bug() == BugIOStorm {
		// in the request's span, outside the mutex
		err = s.ledger.journal.append(from, to, amount)
	}
	switch {
	case errors.Is(err, errInsufficient):
		http.Error(w, err.Error(), http.StatusConflict)
	case err != nil:
		http.Error(w, err.Error(), http.StatusInternalServerError)
	default:
		w.Write([]byte("ok\n"))
	}
}

// ledgerBalance serves GET /balance?account=I.
func (s *Service) ledgerBalance(w http.ResponseWriter, r *http.Request) {
	acct, err := s.account(r, "account", 0)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	recompute := s.cfg.Version == "v2" && s.Bug() == BugRegression
	if s.Bug() == BugFaultStorm {
		s.ledger.archive.read() // in the request's span
	}
	if s.Bug() == BugLockInv && s.reconcileDue(time.Now()) {
		s.reconcileSpan(r.Context()) // order: audit.mu, then mu
	}
	b := s.ledger.balance(acct, recompute)
	w.Write(strconv.AppendInt([]byte("balance "), b, 10))
}

// account reads an account number from the form value key.
func (s *Service) account(r *http.Request, key string, def int) (int, error) {
	v := formOr(r, key, strconv.Itoa(def))
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 || n >= s.cfg.Accounts {
		return 0, fmt.Errorf("%s %q: want an account number below %d", key, v, s.cfg.Accounts)
	}
	return n, nil
}

func formOr(r *http.Request, key, def string) string {
	if v := r.FormValue(key); v != "" {
		return v
	}
	return def
}
