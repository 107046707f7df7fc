// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
//
// Span hooks: uprobes on the hint package's markers (hint.SpanEnter and
// hint.SpanExit in Go binaries, debugai_span_enter/exit in C ones) keep the
// active span of every thread (C: task storage) and goroutine (Go: keyed by
// (tgid, g), g being R14 at the marker). Kernel probes stamp their records
// with the active span of the task they attribute the record to.
//
// Included by collector.c after its maps and helpers.

#define SPAN_STACK_MAX 8

// Thread-local offset of the current g on linux/amd64 for statically
// linked Go binaries (runtime.tlsg): g is at fsbase - 8.
#define GO_TLS_G_OFFSET (-8)

// Nested spans of one thread or goroutine; s[depth-1] is the active one.
struct span_stack {
	__u32 depth;
	__u32 _pad;
	struct span_ref s[SPAN_STACK_MAX];
};

struct goroutine_key {
	__u32 tgid;
	__u32 _pad;
	__u64 g; // runtime.g pointer: R14 at a marker, *(fsbase-8) elsewhere
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct span_stack);
} thread_spans SEC(".maps");

// LRU: a goroutine that ends without closing its spans ages out.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct goroutine_key);
	__type(value, struct span_stack);
} goroutine_spans SEC(".maps");

// Go processes seen at a Go marker, with the offset of g from fsbase.
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, MAX_FILTER);
	__type(key, __u32);   // tgid
	__type(value, __s64); // TLS offset of g
} go_procs SEC(".maps");

static __always_inline void span_push(struct span_stack *st, __u64 hi, __u64 lo, __u64 span)
{
	__u32 d = st->depth;
	if (d >= SPAN_STACK_MAX) {
		// Too deep: the innermost spans share the last slot.
		count(COUNTER_SPAN_OVERFLOW);
		d = SPAN_STACK_MAX - 1;
	}
	st->s[d & (SPAN_STACK_MAX - 1)] = (struct span_ref){hi, lo, span};
	st->depth = d + 1;
}

// span_pop removes span (and any unclosed spans above it); a span not on
// the stack is ignored. Returns the new depth.
static __always_inline __u32 span_pop(struct span_stack *st, __u64 span)
{
	__u32 d = st->depth;
	if (d > SPAN_STACK_MAX)
		d = SPAN_STACK_MAX;
	for (int i = SPAN_STACK_MAX - 1; i >= 0; i--) {
		if ((__u32)i < d && st->s[i].span_id == span) {
			st->depth = i;
			return i;
		}
	}
	return st->depth;
}

static __always_inline void span_top(const struct span_stack *st, struct span_ref *out)
{
	__u32 d = st->depth;
	if (d == 0)
		return;
	if (d > SPAN_STACK_MAX)
		d = SPAN_STACK_MAX;
	*out = st->s[(d - 1) & (SPAN_STACK_MAX - 1)];
}

// current_g reads the running goroutine of current in a Go process (one
// 8-byte read of its own TLS), 0 when it is not a known Go process.
static __always_inline __u64 current_g(__u32 tgid)
{
	__s64 *off = bpf_map_lookup_elem(&go_procs, &tgid);
	if (!off)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 g = 0;
	if (bpf_probe_read_user(&g, sizeof(g), (void *)(t->thread.fsbase + *off)))
		return 0;
	return g;
}

// stamp_current fills out with the active span of current: its goroutine's
// in a Go process, its thread's otherwise; zero when there is none.
static __always_inline void stamp_current(struct span_ref *out)
{
	*out = (struct span_ref){};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 g = current_g(tgid);
	if (g) {
		struct goroutine_key k = {.tgid = tgid, .g = g};
		struct span_stack *st = bpf_map_lookup_elem(&goroutine_spans, &k);
		if (st)
			span_top(st, out);
		return;
	}
	struct span_stack *st = bpf_task_storage_get(&thread_spans, bpf_get_current_task_btf(), 0, 0);
	if (st)
		span_top(st, out);
}

// stamp_task fills out with the active span of thread t (thread-keyed
// spans only: another task's goroutine cannot be read from here).
static __always_inline void stamp_task(struct task_struct *t, struct span_ref *out)
{
	*out = (struct span_ref){};
	struct span_stack *st = bpf_task_storage_get(&thread_spans, t, 0, 0);
	if (st)
		span_top(st, out);
}

static __always_inline struct span_stack *goroutine_stack(__u32 tgid, __u64 g, bool create)
{
	struct goroutine_key k = {.tgid = tgid, .g = g};
	struct span_stack *st = bpf_map_lookup_elem(&goroutine_spans, &k);
	if (st || !create)
		return st;
	struct span_stack zero = {};
	// EEXIST from a racing insert is fine: look up whichever won.
	bpf_map_update_elem(&goroutine_spans, &k, &zero, BPF_NOEXIST);
	st = bpf_map_lookup_elem(&goroutine_spans, &k);
	if (!st)
		count(COUNTER_STATE_MISSED);
	return st;
}

// Offset of g from fsbase per executable (by inode), for binaries where it
// is not GO_TLS_G_OFFSET: externally linked (cgo) ones put C thread-locals
// in the same TLS block. Filled by user space (Collector.AttachSpanHooks).
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u64);   // inode of the executable
	__type(value, __s64); // TLS offset of g
} go_tls_offsets SEC(".maps");

static __always_inline void go_proc_seen(__u32 tgid)
{
	if (bpf_map_lookup_elem(&go_procs, &tgid))
		return;
	struct task_struct *t = bpf_get_current_task_btf();
	__u64 ino = t->mm->exe_file->f_inode->i_ino;
	__s64 off = GO_TLS_G_OFFSET;
	__s64 *known = bpf_map_lookup_elem(&go_tls_offsets, &ino);
	if (known)
		off = *known;
	bpf_map_update_elem(&go_procs, &tgid, &off, BPF_ANY);
}

// Go ABI0 marker: traceHi, traceLo, spanID at SP+8, SP+16, SP+24; R14 = g.
static __always_inline int go_marker(struct pt_regs *ctx, bool enter)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	if (!current_allowed(cfg, tgid))
		return 0;
	__u64 args[3];
	if (bpf_probe_read_user(args, sizeof(args), (void *)(ctx->sp + 8)))
		return 0;
	__u64 g = ctx->r14;
	if (!g)
		return 0;
	go_proc_seen(tgid);
	struct span_stack *st = goroutine_stack(tgid, g, enter);
	if (!st)
		return 0;
	if (enter) {
		span_push(st, args[0], args[1], args[2]);
		count(COUNTER_SPAN_ENTERS);
	} else if (span_pop(st, args[2]) == 0) {
		struct goroutine_key k = {.tgid = tgid, .g = g};
		bpf_map_delete_elem(&goroutine_spans, &k);
	}
	return 0;
}

SEC("uprobe")
int span_enter_go(struct pt_regs *ctx)
{
	return go_marker(ctx, true);
}

SEC("uprobe")
int span_exit_go(struct pt_regs *ctx)
{
	return go_marker(ctx, false);
}

// C marker (SysV): trace_hi in RDI, trace_lo in RSI, span_id in RDX.
static __always_inline int c_marker(struct pt_regs *ctx, bool enter)
{
	struct config *cfg = get_config();
	if (!cfg)
		return 0;
	if (!current_allowed(cfg, bpf_get_current_pid_tgid() >> 32))
		return 0;
	struct span_stack *st = bpf_task_storage_get(&thread_spans, bpf_get_current_task_btf(), 0,
						    enter ? BPF_LOCAL_STORAGE_GET_F_CREATE : 0);
	if (!st) {
		if (enter)
			count(COUNTER_STATE_MISSED);
		return 0;
	}
	if (enter) {
		span_push(st, ctx->di, ctx->si, ctx->dx);
		count(COUNTER_SPAN_ENTERS);
	} else {
		span_pop(st, ctx->dx);
	}
	return 0;
}

SEC("uprobe")
int span_enter_c(struct pt_regs *ctx)
{
	return c_marker(ctx, true);
}

SEC("uprobe")
int span_exit_c(struct pt_regs *ctx)
{
	return c_marker(ctx, false);
}
