package bank

// #cgo CFLAGS: -O2 -g -Wall
// #include "plock.h"
import "C"

import (
	"errors"
	"time"
)

// pthreadLocks are the ledger's locks in the pthread variant
// (Config.Locks "pthread"): a ledger lock and an audit lock, pthread
// mutexes in C memory (plock.c), taken by C code so that the lock-order
// probes on the C library see them and a waiter's futex address is the
// mutex's own.
type pthreadLocks struct{ p *C.struct_bank_locks }

func newPthreadLocks() (*pthreadLocks, error) {
	p := C.bank_locks_new()
	if p == nil {
		return nil, errors.New("allocating the pthread locks")
	}
	return &pthreadLocks{p}, nil
}

func (l *pthreadLocks) close() { C.bank_locks_free(l.p) }

func (l *pthreadLocks) lockLedger()   { C.bank_ledger_lock(l.p) }
func (l *pthreadLocks) unlockLedger() { C.bank_ledger_unlock(l.p) }

// appendAudit takes the audit lock; the commit path holds the ledger lock.
func (l *pthreadLocks) appendAudit(amount int64) { C.bank_audit_append(l.p, C.longlong(amount)) }

func (l *pthreadLocks) auditTotal() int64 { return int64(C.bank_audit_total(l.p)) }

// reconcile holds the audit lock while it waits at most timeout for the
// ledger lock (pthread_mutex_timedlock); false when the wait timed out.
func (l *pthreadLocks) reconcile(timeout time.Duration) bool {
	return C.bank_reconcile(l.p, C.longlong(timeout.Nanoseconds()), C.int(pthreadReconcileWork)) != 0
}

// pthreadReconcileWork is bank_reconcile's work under the audit lock: a
// few milliseconds of xorshift rounds.
const pthreadReconcileWork = 4_000_000
