// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Lock order: uprobes at the entry of lock and unlock functions keep, per
// thread (pthread) or per goroutine (Go, keyed by (tgid, R14)), a bounded
// stack of held locks with the call sites that took them. An acquisition
// while locks are held is an order edge held -> acquiring; each distinct
// edge (per process, held, acquiring) is emitted the first time and then
// at its 2nd, 4th, 8th, ... observation, with the observations since the
// previous record, so repeated edges cost a map update, not a record.
//
// Entry probes only (never uretprobes on Go: stacks move): the acquisition
// is recorded when the lock is requested, which is when the order matters.
// Call sites are return addresses read from the stack top at entry (one
// 8-byte user read); user space symbolizes them.
//
// Included by collector.c after span_hooks.h.

#define HELD_MAX 8

enum lock_flavor {
	LOCK_PTHREAD_MUTEX = 1,
	LOCK_GO_MUTEX      = 2,
	LOCK_GO_RWMUTEX    = 3, // write lock
	LOCK_GO_RWMUTEX_R  = 4, // read lock
	LOCK_GO_MUTEX_TRY  = 5, // sync.Mutex.TryLock: an attempt, held only if it succeeded
	LOCK_PTHREAD_MUTEX_TRY = 6, // pthread_mutex_timedlock/trylock: an attempt, likewise
};

struct held_lock {
	__u64 lock; // address
	__u64 site; // return address of the lock call; enum lock_flavor in the top byte
};

struct held_stack {
	__u32 n;
	__u32 _pad;
	struct held_lock h[HELD_MAX];
};

struct edge_key {
	__u32 tgid;
	__u32 _pad;
	__u64 held;
	__u64 acquiring;
};

// One lock-order edge observation batch.
struct lock_edge_event {
	__u32 kind; // EVENT_LOCK_EDGE
	__u32 tid;
	__u32 pid;
	__u32 flavor; // enum lock_flavor of the acquisition
	__u64 cgroup_id;
	__u64 goroutine; // runtime.g pointer (Go), 0 (pthread)
	__u64 held;
	__u64 acquiring;
	__u64 held_site;      // return address of the call that took held
	__u64 acquiring_site; // return address of this lock call
	__u64 count;          // observations since the previous record of this edge
	__u64 ts_ns;
	__u32 held_flavor;
	__u32 _pad;
	struct span_ref span;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct held_stack);
} thread_locks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct held_stack);
} goroutine_locks SEC(".maps");

// Observations per edge; the LRU forgets rare old edges (re-emitted if seen
// again, which the store sums).
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct edge_key);
	__type(value, __u64);
} edges_seen SEC(".maps");

// The flavor of a held entry rides in the top byte of its site: user
// addresses on x86-64 stay below 2^57.
#define SITE_ADDR(v)   ((v) & ((1ULL << 56) - 1))
#define SITE_FLAVOR(v) ((__u32)((v) >> 56))

static __always_inline bool edge_due(__u32 tgid, __u64 held, __u64 acq, __u64 *since)
{
	struct edge_key k = {.tgid = tgid, .held = held, .acquiring = acq};
	__u64 *n = bpf_map_lookup_elem(&edges_seen, &k);
	if (!n) {
		__u64 one = 1;
		bpf_map_update_elem(&edges_seen, &k, &one, BPF_ANY);
		*since = 1;
		return true;
	}
	__u64 c = __sync_add_and_fetch(n, 1);
	if (c & (c - 1)) // not a power of two
		return false;
	*since = c / 2;
	return true;
}

static __always_inline void emit_edge(struct config *cfg, __u64 id, __u64 g, struct held_lock *h,
				      __u64 acq, __u64 site, __u32 flavor, __u64 since)
{
	struct lock_edge_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_LOCK_DROPS);
		return;
	}
	e->kind = EVENT_LOCK_EDGE;
	e->tid = (__u32)id;
	e->pid = id >> 32;
	e->flavor = flavor;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->goroutine = g;
	e->held = h->lock;
	e->acquiring = acq;
	e->held_site = SITE_ADDR(h->site);
	e->acquiring_site = site;
	e->count = since;
	e->ts_ns = bpf_ktime_get_ns();
	e->held_flavor = SITE_FLAVOR(h->site);
	e->_pad = 0;
	stamp_current(&e->span);
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_LOCK_EVENTS);
}

// lock_acquire emits the edges from every lock held on st to acq (taken at
// site) and, when push, records acq as held.
static __always_inline void lock_acquire(struct config *cfg, struct held_stack *st, __u64 id,
					 __u64 g, __u64 acq, __u64 site, __u32 flavor, bool push)
{
	__u32 n = st->n;
	if (n > HELD_MAX)
		n = HELD_MAX;
	for (int i = 0; i < HELD_MAX; i++) {
		if ((__u32)i >= n)
			break;
		struct held_lock *h = &st->h[i];
		__u64 held = h->lock;
		if (held == acq) // re-entry, or RWMutex.Lock taking its inner mutex
			continue;
		__u64 since;
		if (edge_due(id >> 32, held, acq, &since))
			emit_edge(cfg, id, g, h, acq, site, flavor, since);
	}
	if (!push)
		return;
	if (n >= HELD_MAX) {
		count(COUNTER_LOCK_OVERFLOW);
		return;
	}
	st->h[n & (HELD_MAX - 1)] = (struct held_lock){acq, SITE_ADDR(site) | ((__u64)flavor << 56)};
	st->n = n + 1;
	count(COUNTER_LOCK_ACQUIRES);
}

// lock_release removes the most recent entry of lock (locks may be released
// in any order); an unknown lock is ignored.
static __always_inline void lock_release(struct held_stack *st, __u64 lock)
{
	__u32 n = st->n;
	if (n > HELD_MAX)
		n = HELD_MAX;
	int found = -1;
	for (int i = HELD_MAX - 1; i >= 0; i--) {
		if ((__u32)i < n && st->h[i].lock == lock) {
			found = i;
			break;
		}
	}
	if (found < 0)
		return;
	for (int i = 0; i < HELD_MAX - 1; i++) {
		if (i >= found && (__u32)i + 1 < n)
			st->h[i] = st->h[i + 1];
	}
	st->n = n - 1;
}

static __always_inline __u64 return_address(struct pt_regs *ctx)
{
	__u64 ra = 0;
	bpf_probe_read_user(&ra, sizeof(ra), (void *)ctx->sp);
	return ra;
}

/* pthread: per thread. */

static __always_inline int pthread_lock_event(struct pt_regs *ctx, bool acquire, bool attempt)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (!current_allowed(cfg, id >> 32))
		return 0;
	__u64 lock = ctx->di;
	struct held_stack *st = bpf_task_storage_get(&thread_locks, bpf_get_current_task_btf(), 0,
						    acquire && !attempt ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!st) {
		if (acquire && !attempt)
			count(COUNTER_STATE_MISSED);
		return 0; // an attempt with nothing held orders nothing
	}
	if (acquire && attempt) // success is known only at the return: not pushed
		lock_acquire(cfg, st, id, 0, lock, return_address(ctx), LOCK_PTHREAD_MUTEX_TRY, false);
	else if (acquire)
		lock_acquire(cfg, st, id, 0, lock, return_address(ctx), LOCK_PTHREAD_MUTEX, true);
	else
		lock_release(st, lock);
	return 0;
}

SEC("uprobe")
int pthread_mutex_lock_enter(struct pt_regs *ctx)
{
	return pthread_lock_event(ctx, true, false);
}

// pthread_mutex_timedlock and pthread_mutex_trylock: attempts that may
// fail (a timed lock waits while the thread keeps its other locks).
SEC("uprobe")
int pthread_mutex_try_enter(struct pt_regs *ctx)
{
	return pthread_lock_event(ctx, true, true);
}

SEC("uprobe")
int pthread_mutex_unlock_enter(struct pt_regs *ctx)
{
	return pthread_lock_event(ctx, false, false);
}

/* Go: per goroutine; receiver in RAX (ABIInternal), g in R14. */

static __always_inline int go_lock_event(struct pt_regs *ctx, bool acquire, __u32 flavor)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (!current_allowed(cfg, tgid))
		return 0;
	__u64 g = ctx->r14;
	__u64 lock = ctx->ax;
	if (!g || !lock)
		return 0;
	struct goroutine_key k = {.tgid = tgid, .g = g};
	struct held_stack *st = bpf_map_lookup_elem(&goroutine_locks, &k);
	bool attempt = flavor == LOCK_GO_MUTEX_TRY;
	if (!st) {
		if (!acquire || attempt) // nothing held: a TryLock orders nothing
			return 0;
		struct held_stack zero = {};
		bpf_map_update_elem(&goroutine_locks, &k, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&goroutine_locks, &k);
		if (!st) {
			count(COUNTER_STATE_MISSED);
			return 0;
		}
	}
	if (acquire) {
		// A TryLock's success is only known at its return (no uretprobes on
		// Go): its attempt is an order edge, and the lock is not pushed, so
		// its Unlock finds nothing to pop.
		lock_acquire(cfg, st, id, g, lock, return_address(ctx), flavor, !attempt);
		return 0;
	}
	lock_release(st, lock);
	if (st->n == 0)
		bpf_map_delete_elem(&goroutine_locks, &k);
	return 0;
}

SEC("uprobe")
int go_mutex_lock(struct pt_regs *ctx)
{
	return go_lock_event(ctx, true, LOCK_GO_MUTEX);
}

// sync.(*Mutex).TryLock: a TryLock loop with a deadline is Go's timed
// lock, and it waits while its goroutine holds its other locks.
SEC("uprobe")
int go_mutex_trylock(struct pt_regs *ctx)
{
	return go_lock_event(ctx, true, LOCK_GO_MUTEX_TRY);
}

SEC("uprobe")
int go_rwmutex_lock(struct pt_regs *ctx)
{
	return go_lock_event(ctx, true, LOCK_GO_RWMUTEX);
}

SEC("uprobe")
int go_rwmutex_rlock(struct pt_regs *ctx)
{
	return go_lock_event(ctx, true, LOCK_GO_RWMUTEX_R);
}

// Unlock, RWMutex.Unlock and RUnlock.
SEC("uprobe")
int go_unlock(struct pt_regs *ctx)
{
	return go_lock_event(ctx, false, 0);
}

const struct lock_edge_event *unused_lock_edge_event __attribute__((unused));
const enum lock_flavor *unused_lock_flavor __attribute__((unused));

/* Go contended lock waits: they park the goroutine in the Go scheduler and
 * never reach a futex. runtime_SemacquireMutex(&m.sema, ...) is entered
 * when Lock must wait; uprobes at its RET instructions see the wait end
 * (never a uretprobe on Go); runtime_Semrelease(&m.sema, ...) is the
 * holder's Unlock handing the lock over. Reported as futex_event records
 * with syscall SYSCALL_GO_SEMA and uaddr = &m.sema. */

struct go_wait {
	__u64 ts;
	__u64 sema;
};

struct sema_key {
	__u32 tgid;
	__u32 _pad;
	__u64 sema;
};

struct sema_release {
	__u32 tid;
	__u32 pid;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct go_wait);
} goroutine_waits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct sema_key);
	__type(value, struct sema_release);
} sema_releases SEC(".maps");

SEC("uprobe")
int go_sema_acquire(struct pt_regs *ctx)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!current_allowed(cfg, tgid) || !ctx->r14)
		return 0;
	struct goroutine_key k = {.tgid = tgid, .g = ctx->r14};
	struct go_wait w = {.ts = bpf_ktime_get_ns(), .sema = ctx->ax};
	if (bpf_map_update_elem(&goroutine_waits, &k, &w, BPF_ANY))
		count(COUNTER_STATE_MISSED);
	return 0;
}

SEC("uprobe")
int go_sema_release(struct pt_regs *ctx)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (!current_allowed(cfg, id >> 32))
		return 0;
	struct sema_key k = {.tgid = id >> 32, .sema = ctx->ax};
	struct sema_release r = {.tid = (__u32)id, .pid = id >> 32};
	bpf_map_update_elem(&sema_releases, &k, &r, BPF_ANY);
	return 0;
}

// At each RET of runtime_SemacquireMutex: the goroutine has the lock.
SEC("uprobe")
int go_sema_acquired(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct goroutine_key k = {.tgid = id >> 32, .g = ctx->r14};
	struct go_wait *w = bpf_map_lookup_elem(&goroutine_waits, &k);
	if (!w)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 dur = now - w->ts;
	__u64 sema = w->sema;
	bpf_map_delete_elem(&goroutine_waits, &k);
	struct config *cfg = get_config();
	if (!cfg || dur < cfg->futex_threshold_ns)
		return 0;
	struct futex_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_FUTEX_DROPS);
		return 0;
	}
	struct sema_key sk = {.tgid = id >> 32, .sema = sema};
	struct sema_release *r = bpf_map_lookup_elem(&sema_releases, &sk);
	struct futex_start st = {.uaddr = sema, .syscall = SYSCALL_GO_SEMA};
	if (r) {
		st.waker_tid = r->tid;
		st.waker_pid = r->pid;
	}
	fill_futex(e, id, &st, dur, now, 0);
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_FUTEX_EVENTS);
	return 0;
}
