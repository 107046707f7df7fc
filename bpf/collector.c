//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// debugai node collector probes: futex waits (with their waker), run-queue
// delays, TCP retransmits, block I/O latency and major page faults. Every
// program filters first (cgroup v2 id set, tgid set), keeps state (task,
// socket storage, or a request-keyed LRU hash) only for what passes the
// filter, and emits a ring-buffer record only above the thresholds in the
// config map.
// The record layouts below are decoded by DecodeRecord in event.go: change
// both together.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FUTEX_WAIT            0
#define FUTEX_LOCK_PI         6
#define FUTEX_WAIT_BITSET     9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2        13
#define FUTEX_CMD_MASK        0x7f /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */

#define TASK_RUNNING 0

#define PF_KTHREAD 0x00200000 /* task_struct.flags: kernel thread */

#define AF_INET  2
#define AF_INET6 10

#define MAX_FILTER  4096

enum event_kind {
	EVENT_FUTEX_WAIT     = 1,
	EVENT_RUNQUEUE_DELAY = 2,
	EVENT_TCP_RETRANSMIT = 3,
	EVENT_BLOCK_IO       = 4,
	EVENT_PAGE_FAULT_MAJ = 5,
	EVENT_LOCK_EDGE      = 6,
	EVENT_FSYNC          = 7,
};

// block_event.flags bits.
enum block_flag {
	BLOCK_FLAG_KTHREAD = 1, // issued by a kernel thread (write-back, kblockd): unattributable
};

// Which syscall a futex wait came through.
enum futex_syscall {
	SYSCALL_FUTEX       = 0,
	SYSCALL_FUTEX_WAIT  = 1,
	SYSCALL_FUTEX_WAITV = 2,
	SYSCALL_GO_SEMA     = 3, // not a syscall: a Go mutex wait (lock_order.h)
};

// Which syscall an fsync wait came through.
enum fsync_syscall {
	SYSCALL_FSYNC           = 0,
	SYSCALL_FDATASYNC       = 1,
	SYSCALL_SYNC_FILE_RANGE = 2,
};

// Counter slots of the per-CPU counters array.
enum counter {
	COUNTER_FUTEX_EVENTS = 0, // futex records written
	COUNTER_FUTEX_DROPS  = 1, // futex records lost: ring buffer full
	COUNTER_RUNQ_EVENTS  = 2, // run-queue records written
	COUNTER_RUNQ_DROPS   = 3, // run-queue records lost: ring buffer full
	COUNTER_STATE_MISSED = 4, // per-task or per-socket state not stored (no memory, or storage busy)
	COUNTER_TCP_EVENTS   = 5, // TCP retransmit records written
	COUNTER_TCP_DROPS    = 6, // TCP retransmit records lost: ring buffer full
	COUNTER_BLOCK_EVENTS = 7, // block I/O records written
	COUNTER_BLOCK_DROPS  = 8, // block I/O records lost: ring buffer full
	COUNTER_FAULT_EVENTS = 9, // major-fault records written
	COUNTER_FAULT_DROPS  = 10, // major-fault records lost: ring buffer full
	COUNTER_TCP_SUPPRESSED = 11, // retransmits folded into a later record (tcp_interval_ns)
	COUNTER_SPAN_ENTERS  = 12, // span markers entered
	COUNTER_SPAN_OVERFLOW = 13, // spans nested deeper than SPAN_STACK_MAX
	COUNTER_LOCK_ACQUIRES = 14, // lock acquisitions recorded on a held stack
	COUNTER_LOCK_EVENTS  = 15, // lock-order edge records written
	COUNTER_LOCK_DROPS   = 16, // lock-order edge records lost: ring buffer full
	COUNTER_LOCK_OVERFLOW = 17, // acquisitions with HELD_MAX locks already held
	COUNTER_FSYNC_EVENTS = 18, // fsync records written
	COUNTER_FSYNC_DROPS  = 19, // fsync records lost: ring buffer full
	COUNTER_MAX          = 20,
};

// Written by user space (Load); one entry.
struct config {
	__u64 futex_threshold_ns;
	__u64 runq_threshold_ns;
	__u64 wakeup_bytes;   // wake the reader once this much is pending; 0: every record
	__u32 filter_cgroups; // non-zero: only cgroup ids in cgroup_filter
	__u32 filter_pids;    // non-zero: only tgids in pid_filter
	__u64 block_threshold_ns; // block I/O issue->complete latency
	__u64 tcp_interval_ns;    // at most one retransmit record per socket per interval
	__u64 fsync_threshold_ns; // fsync/fdatasync/sync_file_range duration
};

// The span active on the task a record is attributed to (span hooks,
// span_hooks.h); all zero when none is known.
struct span_ref {
	__u64 trace_hi; // trace id bytes 0..7, big-endian
	__u64 trace_lo; // trace id bytes 8..15, big-endian
	__u64 span_id;  // 0: no span
};

struct futex_event {
	__u32 kind; // EVENT_FUTEX_WAIT
	__u32 tid;
	__u32 pid;
	__u32 waker_tid; // 0: no wake-up seen (timeout, signal, no sleep)
	__u32 waker_pid;
	__u32 op;      // futex op as passed (futex), or flags (futex_wait/v)
	__u64 cgroup_id;
	__u64 uaddr;   // the futex (futex_waitv: the one that woke, else the first)
	__u64 duration_ns;
	__u64 end_ns;  // bpf_ktime_get_ns at syscall exit (CLOCK_MONOTONIC)
	__s64 ret;     // syscall return value
	__u32 syscall; // enum futex_syscall
	__u32 _pad;
	struct span_ref span;
};

struct runq_event {
	__u32 kind; // EVENT_RUNQUEUE_DELAY
	__u32 tid;
	__u32 pid;
	__u32 preempted; // 1: became runnable by preemption, 0: by a wake-up
	__u64 cgroup_id;
	__u64 delay_ns;
	__u64 end_ns;   // bpf_ktime_get_ns when switched in
	__u32 cpu;
	__u32 prev_tid; // the task switched out in favour of this one
	struct span_ref span; // of the task when it became runnable
};

// One tp_btf/tcp_retransmit_skb call (or, with tcp_interval_ns, the last
// of several). Addresses are raw (network byte order, IPv4 in the first 4
// bytes): they must be tokenized before leaving the node.
struct tcp_event {
	__u32 kind; // EVENT_TCP_RETRANSMIT
	__u32 pid;  // tgid that connect()ed the socket; 0: unknown (accepted, or older than the probes)
	__u64 cgroup_id; // the socket's cgroup v2 id (sk->sk_cgrp_data), set at socket creation
	__u64 cookie;    // socket cookie (SO_COOKIE): stable per socket
	__u64 ts_ns;     // bpf_ktime_get_ns at the retransmit
	__u64 count;     // retransmits of this socket seen since it was first seen
	__u8 saddr[16];
	__u8 daddr[16];
	__u16 family; // AF_INET, AF_INET6
	__u16 sport;  // local port, host byte order
	__u16 dport;  // remote port, host byte order
	__u8 state;   // TCP state (TCP_ESTABLISHED = 1, ...)
	__u8 _pad;
	__s32 err;    // the retransmit's result (0, or -errno)
	__u32 _pad2;
};

// One block request, issue to completion.
struct block_event {
	__u32 kind; // EVENT_BLOCK_IO
	__u32 tid;  // current at issue
	__u32 pid;
	__u32 dev;  // kernel dev_t (major << 20 | minor) of the partition, else the disk
	__u64 cgroup_id; // current's cgroup v2 id at issue
	__u64 sector;
	__u64 latency_ns; // block_rq_issue -> block_rq_complete
	__u64 end_ns;     // bpf_ktime_get_ns at completion
	__u32 bytes;      // request size at issue
	__u32 cmd_flags;  // REQ_OP_* in the low 8 bits, REQ_* flags above
	__s32 error;      // blk_status_t at completion (0: ok)
	__u32 flags;      // enum block_flag
	struct span_ref span; // of current at issue
};

// One sampled major page fault (perf_event program).
struct fault_event {
	__u32 kind; // EVENT_PAGE_FAULT_MAJ
	__u32 tid;
	__u32 pid;
	__u32 cpu;
	__u64 cgroup_id;
	__u64 addr;  // faulting address (perf sample addr)
	__u64 ip;    // instruction pointer at the fault
	__u64 ts_ns; // bpf_ktime_get_ns when the fault was accounted (after it was handled)
	struct span_ref span;
};

// One fsync, fdatasync or sync_file_range call at or above the threshold:
// buffered writes reach the disk from kernel write-back threads (not
// attributable at block issue), so the caller's wait is measured here.
struct fsync_event {
	__u32 kind; // EVENT_FSYNC
	__u32 tid;
	__u32 pid;
	__u32 syscall; // enum fsync_syscall
	__u64 cgroup_id;
	__u64 duration_ns;
	__u64 end_ns;
	__s64 ret;
	__s32 fd;
	__u32 _pad;
	struct span_ref span;
};

struct fsync_start {
	__u64 ts;
	__s32 fd;
	__u32 syscall;
	struct span_ref span;
};

// A futex wait in progress (ts != 0), in the waiting task's storage. The
// waker is stored here by sched_waking and read at syscall exit.
struct futex_start {
	__u64 ts;
	__u64 uaddr;   // futex address, or the waiters array (futex_waitv)
	__u32 op;
	__u32 syscall;
	__u32 nr;      // futex_waitv: number of waiters
	__u32 waker_tid;
	__u32 waker_pid;
	__u32 _pad;
};

// Runnable since ts (ts != 0), in the task's storage.
struct runq_start {
	__u64 ts;
	__u32 preempted;
	__u32 _pad;
	struct span_ref span;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct config);
} config_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FILTER);
	__type(key, __u64); // cgroup v2 id (the directory's inode number)
	__type(value, __u8);
} cgroup_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_FILTER);
	__type(key, __u32); // tgid
	__type(value, __u8);
} pid_filter SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct futex_start);
} futex_starts SEC(".maps");

// Per-task storage: cheaper than a hash keyed by tid, and freed with the
// task.
struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct runq_start);
} runq_starts SEC(".maps");

// Per socket: the owner recorded at connect() and the retransmit count.
struct tcp_sock_state {
	__u64 count;        // retransmits seen
	__u64 last_emit_ns; // last record written (tcp_interval_ns)
	__u32 pid;          // tgid that connect()ed; 0: unknown
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct tcp_sock_state);
} tcp_socks SEC(".maps");

// A block request issued by a task that passed the filters.
struct block_start {
	__u64 ts;
	__u64 cgroup_id;
	__u64 sector;
	__u32 tid;
	__u32 pid;
	__u32 dev;
	__u32 bytes;
	__u32 cmd_flags;
	__u32 flags;
	struct span_ref span;
};

// Keyed by struct request pointer. LRU: requests that never complete
// (aborted, device removed) age out instead of filling the map.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct block_start);
} block_starts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fsync_start);
} fsync_starts SEC(".maps");

// Size is set by the loader (Config.RingBytes).
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

// Referenced so that their BTF reaches bpf2go (-type): the Go side decodes
// records and reads counters with the generated types and constants.
const struct futex_event *unused_futex_event __attribute__((unused));
const struct runq_event *unused_runq_event __attribute__((unused));
const struct tcp_event *unused_tcp_event __attribute__((unused));
const struct block_event *unused_block_event __attribute__((unused));
const struct fault_event *unused_fault_event __attribute__((unused));
const struct fsync_event *unused_fsync_event __attribute__((unused));
const enum fsync_syscall *unused_fsync_syscall __attribute__((unused));
const enum block_flag *unused_block_flag __attribute__((unused));
const enum event_kind *unused_event_kind __attribute__((unused));
const enum futex_syscall *unused_futex_syscall __attribute__((unused));
const enum counter *unused_counter __attribute__((unused));

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
}

// Waking the reader costs an irq_work (a self-IPI, expensive on VMs) per
// record when the reader keeps up. Records are therefore submitted without
// a wake-up until wakeup_bytes are pending; the reader polls with a
// timeout (Config.FlushInterval) for the rest.
static __always_inline __u64 submit_flags(const struct config *cfg)
{
	if (!cfg->wakeup_bytes)
		return 0;
	return bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= cfg->wakeup_bytes ?
		       BPF_RB_FORCE_WAKEUP :
		       BPF_RB_NO_WAKEUP;
}

static __always_inline struct config *get_config(void)
{
	__u32 zero = 0;
	return bpf_map_lookup_elem(&config_map, &zero);
}

// task->cgroups->dfl_cgrp->kn->id: the cgroup v2 id, as
// bpf_get_current_cgroup_id reports it for current. tp_btf gives typed task
// pointers, so these are direct CO-RE-relocated loads (the compiler emits
// them under vmlinux.h's preserve_access_index) rather than
// BPF_CORE_READ's bpf_probe_read_kernel calls: measured, that halved the
// cost of a filtered-out sched_wakeup (280 -> 145 ns).
static __always_inline __u64 task_cgroup_id(struct task_struct *t)
{
	return t->cgroups->dfl_cgrp->kn->id;
}

// Filter on the current task: tgid first (one lookup), then cgroup.
static __always_inline bool current_allowed(const struct config *cfg, __u32 tgid)
{
	if (cfg->filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return false;
	if (cfg->filter_cgroups) {
		__u64 cg = bpf_get_current_cgroup_id();
		if (!bpf_map_lookup_elem(&cgroup_filter, &cg))
			return false;
	}
	return true;
}

// Filter on another task (tp_btf pointer).
static __always_inline bool task_allowed(const struct config *cfg, struct task_struct *t)
{
	if (cfg->filter_pids) {
		__u32 tgid = t->tgid;
		if (!bpf_map_lookup_elem(&pid_filter, &tgid))
			return false;
	}
	if (cfg->filter_cgroups) {
		__u64 cg = task_cgroup_id(t);
		if (!bpf_map_lookup_elem(&cgroup_filter, &cg))
			return false;
	}
	return true;
}

#include "span_hooks.h"

// fill_futex fills a futex_event for current (id) from the wait's state:
// shared by futex syscalls and Go mutex waits (lock_order.h).
static __always_inline void fill_futex(struct futex_event *e, __u64 id, const struct futex_start *st,
				       __u64 dur, __u64 now, __s64 ret)
{
	e->kind = EVENT_FUTEX_WAIT;
	e->tid = (__u32)id;
	e->pid = id >> 32;
	e->waker_tid = st->waker_tid;
	e->waker_pid = st->waker_pid;
	e->op = st->op;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->uaddr = st->uaddr;
	e->duration_ns = dur;
	e->end_ns = now;
	e->ret = ret;
	e->syscall = st->syscall;
	e->_pad = 0;
	stamp_current(&e->span);
}

#include "lock_order.h"

/* ---- futex waits ---- */

static __always_inline int futex_enter(__u64 uaddr, __u32 op, __u32 syscall, __u32 nr)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (!current_allowed(cfg, id >> 32))
		return 0;
	struct futex_start *st = bpf_task_storage_get(&futex_starts, bpf_get_current_task_btf(), 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(COUNTER_STATE_MISSED);
		return 0;
	}
	st->ts = bpf_ktime_get_ns();
	st->uaddr = uaddr;
	st->op = op;
	st->syscall = syscall;
	st->nr = nr;
	st->waker_tid = 0;
	st->waker_pid = 0;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_futex")
int futex_enter_futex(struct trace_event_raw_sys_enter *ctx)
{
	__u32 op = (__u32)ctx->args[1];
	switch (op & FUTEX_CMD_MASK) {
	case FUTEX_WAIT:
	case FUTEX_WAIT_BITSET:
	case FUTEX_LOCK_PI:
	case FUTEX_LOCK_PI2:
	case FUTEX_WAIT_REQUEUE_PI:
		return futex_enter(ctx->args[0], op, SYSCALL_FUTEX, 0);
	default:
		return 0;
	}
}

// futex_wait(uaddr, val, mask, flags, timeout, clockid)
SEC("tracepoint/syscalls/sys_enter_futex_wait")
int futex_enter_wait(struct trace_event_raw_sys_enter *ctx)
{
	return futex_enter(ctx->args[0], (__u32)ctx->args[3], SYSCALL_FUTEX_WAIT, 0);
}

// futex_waitv(waiters, nr_futexes, flags, timeout, clockid)
SEC("tracepoint/syscalls/sys_enter_futex_waitv")
int futex_enter_waitv(struct trace_event_raw_sys_enter *ctx)
{
	return futex_enter(ctx->args[0], (__u32)ctx->args[2], SYSCALL_FUTEX_WAITV,
			   (__u32)ctx->args[1]);
}

// Shared by sys_exit_futex, sys_exit_futex_wait and sys_exit_futex_waitv.
SEC("tracepoint/syscalls/sys_exit_futex")
int futex_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct futex_start *st = bpf_task_storage_get(&futex_starts, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->ts)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u64 now = bpf_ktime_get_ns();
	__u64 dur = now - st->ts;
	struct config *cfg = get_config();
	if (!cfg || dur < cfg->futex_threshold_ns) {
		st->ts = 0;
		return 0;
	}
	struct futex_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_FUTEX_DROPS);
		st->ts = 0;
		return 0;
	}
	fill_futex(e, id, st, dur, now, ctx->ret);
	if (st->syscall == SYSCALL_FUTEX_WAITV) {
		// The return value is the index of the futex that woke us.
		__u64 idx = ctx->ret >= 0 && (__u64)ctx->ret < st->nr ? ctx->ret : 0;
		__u64 a = 0;
		if (bpf_probe_read_user(&a, sizeof(a),
					(void *)(st->uaddr + idx * sizeof(struct futex_waitv) +
						 offsetof(struct futex_waitv, uaddr))))
			a = 0;
		e->uaddr = a;
	}
	st->ts = 0;
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_FUTEX_EVENTS);
	return 0;
}

// The waker of a futex sleeper is current at sched_waking: the thread that
// called FUTEX_WAKE (for a pthread mutex, the releasing holder). The lookup
// is the filter: only threads with a wait in progress are in futex_starts.
SEC("tp_btf/sched_waking")
int BPF_PROG(futex_waking, struct task_struct *p)
{
	struct futex_start *st = bpf_task_storage_get(&futex_starts, p, 0, 0);
	if (!st || !st->ts)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	st->waker_tid = (__u32)id;
	st->waker_pid = id >> 32;
	return 0;
}

/* ---- run-queue delay ---- */

static __always_inline void runq_enqueue(struct task_struct *p, __u32 preempted)
{
	struct config *cfg = get_config();
	if (!cfg)
		return;
	__u32 tid = p->pid;
	if (!tid) // idle
		return;
	if (!task_allowed(cfg, p))
		return;
	struct runq_start *st = bpf_task_storage_get(&runq_starts, p, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(COUNTER_STATE_MISSED);
		return;
	}
	st->ts = bpf_ktime_get_ns();
	st->preempted = preempted;
	// Preempted: p is current (sched_switch's prev), whose goroutine can
	// be read; woken: only p's thread-keyed span is reachable.
	if (preempted)
		stamp_current(&st->span);
	else
		stamp_task(p, &st->span);
}

SEC("tp_btf/sched_wakeup")
int BPF_PROG(runq_wakeup, struct task_struct *p)
{
	runq_enqueue(p, 0);
	return 0;
}

SEC("tp_btf/sched_wakeup_new")
int BPF_PROG(runq_wakeup_new, struct task_struct *p)
{
	runq_enqueue(p, 0);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(runq_switch, bool preempt, struct task_struct *prev, struct task_struct *next,
	     unsigned int prev_state)
{
	// prev stays on the run queue when preempted or still TASK_RUNNING
	// (yield, time slice over): it is runnable from now on.
	if (preempt || prev_state == TASK_RUNNING)
		runq_enqueue(prev, 1);

	struct runq_start *st = bpf_task_storage_get(&runq_starts, next, 0, 0);
	if (!st || !st->ts)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 delay = now - st->ts;
	__u32 preempted = st->preempted;
	struct span_ref span = st->span;
	__u32 tid = next->pid;
	st->ts = 0;
	struct config *cfg = get_config();
	if (!cfg || delay < cfg->runq_threshold_ns)
		return 0;
	struct runq_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_RUNQ_DROPS);
		return 0;
	}
	e->kind = EVENT_RUNQUEUE_DELAY;
	e->tid = tid;
	e->pid = next->tgid;
	e->preempted = preempted;
	e->cgroup_id = task_cgroup_id(next);
	e->delay_ns = delay;
	e->end_ns = now;
	e->cpu = bpf_get_smp_processor_id();
	e->prev_tid = prev->pid;
	e->span = span;
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_RUNQ_EVENTS);
	return 0;
}

/* ---- TCP retransmits ---- */

// The socket's cgroup v2 id: set when the socket was created (by the
// creating task's cgroup) and cloned to accepted sockets from the listener.
static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	struct cgroup *cg = sk->sk_cgrp_data.cgroup;
	if (!cg)
		return 0;
	return cg->kn->id;
}

// connect(): current is the connecting process. Record it as the socket's
// owner, for sockets whose creator passes the filters. Runs on every TCP
// state change on the node, and returns after two loads for all but
// SYN_SENT.
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	if (newstate != TCP_SYN_SENT || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tgid = id >> 32;
	if (cfg->filter_pids && !bpf_map_lookup_elem(&pid_filter, &tgid))
		return 0;
	if (cfg->filter_cgroups) {
		__u64 cg = sock_cgroup_id(sk);
		if (!bpf_map_lookup_elem(&cgroup_filter, &cg))
			return 0;
	}
	struct tcp_sock_state *st = bpf_sk_storage_get(&tcp_socks, (struct sock *)sk, 0,
						       BPF_SK_STORAGE_GET_F_CREATE);
	if (!st) {
		count(COUNTER_STATE_MISSED);
		return 0;
	}
	st->pid = tgid;
	return 0;
}

// Usually fires from the retransmit timer in softirq, where current is
// unrelated: filters and attribution use the socket (its cgroup, the owner
// recorded at connect), never current.
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(tcp_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 cg = sock_cgroup_id(sk);
	if (cfg->filter_cgroups && !bpf_map_lookup_elem(&cgroup_filter, &cg))
		return 0;
	struct tcp_sock_state *st;
	if (cfg->filter_pids) {
		// Only sockets whose owner was recorded (and passed) at connect.
		st = bpf_sk_storage_get(&tcp_socks, (struct sock *)sk, 0, 0);
		if (!st || !st->pid || !bpf_map_lookup_elem(&pid_filter, &st->pid))
			return 0;
	} else {
		st = bpf_sk_storage_get(&tcp_socks, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!st) {
			count(COUNTER_STATE_MISSED);
			return 0;
		}
	}
	__u64 now = bpf_ktime_get_ns();
	__u64 n = __sync_add_and_fetch(&st->count, 1);
	if (cfg->tcp_interval_ns && st->last_emit_ns && now - st->last_emit_ns < cfg->tcp_interval_ns) {
		count(COUNTER_TCP_SUPPRESSED);
		return 0;
	}
	st->last_emit_ns = now;

	struct tcp_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_TCP_DROPS);
		return 0;
	}
	const struct sock_common *skc = &sk->__sk_common;
	e->kind = EVENT_TCP_RETRANSMIT;
	e->pid = st->pid;
	e->cgroup_id = cg;
	e->cookie = bpf_get_socket_cookie((void *)sk);
	e->ts_ns = now;
	e->count = n;
	e->family = skc->skc_family;
	e->sport = skc->skc_num;
	e->dport = bpf_ntohs(skc->skc_dport);
	e->state = skc->skc_state;
	e->_pad = 0;
	e->err = err;
	e->_pad2 = 0;
	__builtin_memset(e->saddr, 0, sizeof(e->saddr));
	__builtin_memset(e->daddr, 0, sizeof(e->daddr));
	if (e->family == AF_INET6) {
		__builtin_memcpy(e->saddr, &skc->skc_v6_rcv_saddr, 16);
		__builtin_memcpy(e->daddr, &skc->skc_v6_daddr, 16);
	} else {
		__builtin_memcpy(e->saddr, &skc->skc_rcv_saddr, 4);
		__builtin_memcpy(e->daddr, &skc->skc_daddr, 4);
	}
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_TCP_EVENTS);
	return 0;
}

/* ---- block I/O ---- */

// The request's device: the partition's dev_t when known, else the disk's
// (what the block tracepoints report).
static __always_inline __u32 rq_dev(struct request *rq)
{
	struct block_device *part = rq->part;
	if (part)
		return part->bd_dev;
	struct gendisk *disk = rq->q->disk;
	if (!disk)
		return 0;
	return ((__u32)disk->major << 20) | (__u32)disk->first_minor;
}

// Attributed to current at issue: the submitting task for direct I/O and
// fsync-driven write-back when the queue is run in its context; a kernel
// thread (flagged) when kblockd or a write-back worker issues it.
SEC("tp_btf/block_rq_issue")
int BPF_PROG(block_issue, struct request *rq)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (!current_allowed(cfg, id >> 32))
		return 0;
	struct task_struct *task = bpf_get_current_task_btf();
	struct block_start st = {
		.ts = bpf_ktime_get_ns(),
		.cgroup_id = task_cgroup_id(task),
		.sector = rq->__sector,
		.tid = (__u32)id,
		.pid = id >> 32,
		.dev = rq_dev(rq),
		.bytes = rq->__data_len,
		.cmd_flags = rq->cmd_flags,
		.flags = (task->flags & PF_KTHREAD) ? BLOCK_FLAG_KTHREAD : 0,
	};
	stamp_current(&st.span);
	__u64 key = (__u64)rq;
	if (bpf_map_update_elem(&block_starts, &key, &st, BPF_ANY))
		count(COUNTER_STATE_MISSED);
	return 0;
}

// Runs in irq context: the lookup is the filter.
SEC("tp_btf/block_rq_complete")
int BPF_PROG(block_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u64 key = (__u64)rq;
	struct block_start *st = bpf_map_lookup_elem(&block_starts, &key);
	if (!st)
		return 0;
	// A partial completion: the request goes on, wait for the rest.
	if (!error && nr_bytes < rq->__data_len)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	struct block_start s = *st;
	bpf_map_delete_elem(&block_starts, &key);
	__u64 lat = now - s.ts;
	struct config *cfg = get_config();
	if (!cfg || lat < cfg->block_threshold_ns)
		return 0;
	struct block_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_BLOCK_DROPS);
		return 0;
	}
	e->kind = EVENT_BLOCK_IO;
	e->tid = s.tid;
	e->pid = s.pid;
	e->dev = s.dev;
	e->cgroup_id = s.cgroup_id;
	e->sector = s.sector;
	e->latency_ns = lat;
	e->end_ns = now;
	e->bytes = s.bytes;
	e->cmd_flags = s.cmd_flags;
	e->error = error;
	e->flags = s.flags;
	e->span = s.span;
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_BLOCK_EVENTS);
	return 0;
}

/* ---- major page faults ---- */

// Attached to a PERF_COUNT_SW_PAGE_FAULTS_MAJ software event on every CPU:
// runs in the faulting task's context once the fault has been handled,
// every sample_period faults (Config.MajorFaultPeriod). Reads registers
// and the sample's address only, never user memory.
SEC("perf_event")
int page_fault_maj(struct bpf_perf_event_data *ctx)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u64 id = bpf_get_current_pid_tgid();
	if (!current_allowed(cfg, id >> 32))
		return 0;
	struct fault_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_FAULT_DROPS);
		return 0;
	}
	e->kind = EVENT_PAGE_FAULT_MAJ;
	e->tid = (__u32)id;
	e->pid = id >> 32;
	e->cpu = bpf_get_smp_processor_id();
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->addr = ctx->addr;
	e->ip = ctx->regs.ip; // x86_64 pt_regs, as vmlinux.h
	e->ts_ns = bpf_ktime_get_ns();
	stamp_current(&e->span);
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_FAULT_EVENTS);
	return 0;
}

/* ---- fsync ---- */

static __always_inline int fsync_enter(__s32 fd, __u32 syscall)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	if (!current_allowed(cfg, bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct fsync_start *st = bpf_task_storage_get(&fsync_starts, bpf_get_current_task_btf(), 0,
						     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!st) {
		count(COUNTER_STATE_MISSED);
		return 0;
	}
	st->ts = bpf_ktime_get_ns();
	st->fd = fd;
	st->syscall = syscall;
	stamp_current(&st->span);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_fsync")
int fsync_enter_fsync(struct trace_event_raw_sys_enter *ctx)
{
	return fsync_enter((__s32)ctx->args[0], SYSCALL_FSYNC);
}

SEC("tracepoint/syscalls/sys_enter_fdatasync")
int fsync_enter_fdatasync(struct trace_event_raw_sys_enter *ctx)
{
	return fsync_enter((__s32)ctx->args[0], SYSCALL_FDATASYNC);
}

SEC("tracepoint/syscalls/sys_enter_sync_file_range")
int fsync_enter_sync_file_range(struct trace_event_raw_sys_enter *ctx)
{
	return fsync_enter((__s32)ctx->args[0], SYSCALL_SYNC_FILE_RANGE);
}

// Shared by the three exits.
SEC("tracepoint/syscalls/sys_exit_fsync")
int fsync_exit(struct trace_event_raw_sys_exit *ctx)
{
	struct fsync_start *st = bpf_task_storage_get(&fsync_starts, bpf_get_current_task_btf(), 0, 0);
	if (!st || !st->ts)
		return 0;
	__u64 now = bpf_ktime_get_ns();
	__u64 dur = now - st->ts;
	st->ts = 0;
	struct config *cfg = get_config();
	if (!cfg || dur < cfg->fsync_threshold_ns)
		return 0;
	struct fsync_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(COUNTER_FSYNC_DROPS);
		return 0;
	}
	__u64 id = bpf_get_current_pid_tgid();
	e->kind = EVENT_FSYNC;
	e->tid = (__u32)id;
	e->pid = id >> 32;
	e->syscall = st->syscall;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->duration_ns = dur;
	e->end_ns = now;
	e->ret = ctx->ret;
	e->fd = st->fd;
	e->_pad = 0;
	e->span = st->span;
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_FSYNC_EVENTS);
	return 0;
}
