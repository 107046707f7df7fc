// The pthread variant of the ledger's locks (see plock.go).
#ifndef DEBUGAI_BANK_PLOCK_H
#define DEBUGAI_BANK_PLOCK_H

struct bank_locks;

struct bank_locks *bank_locks_new(void);
void bank_locks_free(struct bank_locks *l);
void bank_ledger_lock(struct bank_locks *l);
void bank_ledger_unlock(struct bank_locks *l);
void bank_audit_append(struct bank_locks *l, long long amount);
long long bank_audit_total(struct bank_locks *l);
int bank_reconcile(struct bank_locks *l, long long timeout_ns, int work);

#endif
