// The pthread variant of the ledger's lock inversion, in C so that its
// locks are pthread mutexes (futex-address identity: a waiter's futex
// address is the mutex's address, the same one its lock-order edges
// name). Built by cgo with the system C compiler.
//
// Orders: bank_ledger_lock then bank_audit_append takes the ledger lock,
// then the audit lock; bank_reconcile takes the audit lock, then tries the
// ledger lock with pthread_mutex_timedlock: AB-BA bounded by a timeout.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

#include "plock.h"

struct bank_locks {
	pthread_mutex_t ledger;
	pthread_mutex_t audit;
	long long audit_total;
	uint64_t checksum;
};

struct bank_locks *bank_locks_new(void)
{
	struct bank_locks *l = calloc(1, sizeof *l);
	if (!l)
		return NULL;
	pthread_mutex_init(&l->ledger, NULL);
	pthread_mutex_init(&l->audit, NULL);
	return l;
}

void bank_locks_free(struct bank_locks *l)
{
	pthread_mutex_destroy(&l->ledger);
	pthread_mutex_destroy(&l->audit);
	free(l);
}

__attribute__((noinline)) void bank_ledger_lock(struct bank_locks *l)
{
	pthread_mutex_lock(&l->ledger);
}

__attribute__((noinline)) void bank_ledger_unlock(struct bank_locks *l)
{
	pthread_mutex_unlock(&l->ledger);
}

// bank_audit_append records an entry; the commit path calls it holding
// the ledger lock.
__attribute__((noinline)) void bank_audit_append(struct bank_locks *l, long long amount)
{
	pthread_mutex_lock(&l->audit);
	l->audit_total += amount;
	pthread_mutex_unlock(&l->audit);
}

long long bank_audit_total(struct bank_locks *l)
{
	pthread_mutex_lock(&l->audit);
	long long t = l->audit_total;
	pthread_mutex_unlock(&l->audit);
	return t;
}

// bank_reconcile checksums the audit trail holding the audit lock (work
// rounds), then waits at most timeout_ns for the ledger lock. It returns 1
// when it got the ledger lock, 0 when the wait timed out.
__attribute__((noinline)) int bank_reconcile(struct bank_locks *l, long long timeout_ns, int work)
{
	pthread_mutex_lock(&l->audit);
	uint64_t h = (uint64_t)l->audit_total | 1;
	for (int i = 0; i < work; i++) // xorshift rounds: the audit lock's own work
		h ^= h << 13, h ^= h >> 7, h ^= h << 17;
	l->checksum = h;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += timeout_ns % 1000000000;
	ts.tv_sec += timeout_ns / 1000000000 + ts.tv_nsec / 1000000000;
	ts.tv_nsec %= 1000000000;
	int got = pthread_mutex_timedlock(&l->ledger, &ts) == 0;
	if (got)
		pthread_mutex_unlock(&l->ledger);
	pthread_mutex_unlock(&l->audit);
	return got;
}
