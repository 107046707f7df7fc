//go:build ignore

// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// debugai node collector probes: futex waits (with their waker) and
// run-queue delays. Every program filters first (cgroup v2 id set, tgid
// set), keeps per-thread state (in task storage, freed with the task) only
// for threads that pass the filter, and emits a ring-buffer record only
// above the thresholds in the config map.
// The record layouts below are decoded by DecodeRecord in event.go: change
// both together.

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define FUTEX_WAIT            0
#define FUTEX_LOCK_PI         6
#define FUTEX_WAIT_BITSET     9
#define FUTEX_WAIT_REQUEUE_PI 11
#define FUTEX_LOCK_PI2        13
#define FUTEX_CMD_MASK        0x7f /* ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME) */

#define TASK_RUNNING 0

#define MAX_FILTER  4096

enum event_kind {
	EVENT_FUTEX_WAIT     = 1,
	EVENT_RUNQUEUE_DELAY = 2,
};

// Which syscall a futex wait came through.
enum futex_syscall {
	SYSCALL_FUTEX       = 0,
	SYSCALL_FUTEX_WAIT  = 1,
	SYSCALL_FUTEX_WAITV = 2,
};

// Counter slots of the per-CPU counters array.
enum counter {
	COUNTER_FUTEX_EVENTS = 0, // futex records written
	COUNTER_FUTEX_DROPS  = 1, // futex records lost: ring buffer full
	COUNTER_RUNQ_EVENTS  = 2, // run-queue records written
	COUNTER_RUNQ_DROPS   = 3, // run-queue records lost: ring buffer full
	COUNTER_STATE_MISSED = 4, // per-task state not stored (no memory, or storage busy)
	COUNTER_MAX          = 5,
};

// Written by user space (Load); one entry.
struct config {
	__u64 futex_threshold_ns;
	__u64 runq_threshold_ns;
	__u64 wakeup_bytes;   // wake the reader once this much is pending; 0: every record
	__u32 filter_cgroups; // non-zero: only cgroup ids in cgroup_filter
	__u32 filter_pids;    // non-zero: only tgids in pid_filter
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

// Size is set by the loader (Config.RingBytes).
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 22);
} events SEC(".maps");

// Referenced so that their BTF reaches bpf2go (-type): the Go side decodes
// records and reads counters with the generated types and constants.
const struct futex_event *unused_futex_event __attribute__((unused));
const struct runq_event *unused_runq_event __attribute__((unused));
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
	__u32 tid = (__u32)id;
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
	e->kind = EVENT_FUTEX_WAIT;
	e->tid = tid;
	e->pid = id >> 32;
	e->waker_tid = st->waker_tid;
	e->waker_pid = st->waker_pid;
	e->op = st->op;
	e->cgroup_id = bpf_get_current_cgroup_id();
	e->uaddr = st->uaddr;
	e->duration_ns = dur;
	e->end_ns = now;
	e->ret = ctx->ret;
	e->syscall = st->syscall;
	e->_pad = 0;
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
	bpf_ringbuf_submit(e, submit_flags(cfg));
	count(COUNTER_RUNQ_EVENTS);
	return 0;
}
