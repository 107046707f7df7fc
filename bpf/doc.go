// Package bpf is the kernel side of debugai's node collector: CO-RE eBPF
// programs (collector.c, compiled by bpf2go into the committed
// collector_bpfel.o) and the Go loader that attaches them and turns their
// ring-buffer records into typed events.
//
// # Probes
//
//   - Futex waits: tracepoints syscalls/sys_{enter,exit}_futex (and
//     futex_wait, futex_waitv when the kernel has them) time every
//     FUTEX_WAIT-family call (WAIT, WAIT_BITSET, LOCK_PI, LOCK_PI2,
//     WAIT_REQUEUE_PI) of a thread that passes the filters; tp_btf
//     sched_waking stores current as the sleeper's waker (for a pthread
//     mutex, the releasing holder). Waits of FutexThreshold and more
//     become FutexWait events.
//   - Run-queue delay: tp_btf sched_wakeup and sched_wakeup_new, and
//     sched_switch for tasks switched out while still runnable
//     (preemption), mark a task runnable; sched_switch measures the time
//     until it runs. Delays of RunqueueThreshold and more become
//     RunqueueDelay events.
//   - TCP retransmits: tp_btf tcp_retransmit_skb (Linux 6.18 prototype
//     (sk, skb, err)). It usually fires from the retransmit timer in
//     softirq, so events are attributed to the socket: its cgroup
//     (sk->sk_cgrp_data, the creating task's cgroup v2) and the process
//     that connect()ed it, recorded in socket storage by tp_btf
//     inet_sock_set_state at SYN_SENT (accepted sockets have no owner).
//     Socket storage also keeps a per-socket running count;
//     TCPRetransmitInterval folds retransmit storms into one record per
//     socket and interval. TCPRetransmit events carry the socket cookie,
//     ports, state and the raw local and remote addresses: those must be
//     tokenized before they leave the node (KernelEvent leaves them out).
//   - Block I/O: tp_btf block_rq_issue stores the request (keyed by its
//     pointer in an LRU hash) with current's ids; block_rq_complete (irq
//     context) measures the latency. Requests of BlockThreshold and more
//     become BlockIO events. Attribution is at issue: buffered write-back
//     and kblockd dispatch run in kernel threads (flagged Kthread) and
//     cannot be attributed here.
//   - Major page faults: a perf_event program on a
//     PERF_COUNT_SW_PAGE_FAULTS_MAJ software event on every online CPU,
//     sampling every MajorFaultPeriod faults, in the faulting task's
//     context. PageFaultMajor events carry the faulting address and the
//     instruction pointer (registers only, no user memory is read).
//
// Filters (cgroup v2 ids, process ids) are checked first; per-thread state
// lives in task storage (freed with the task), per-socket state in socket
// storage (freed with the socket), and only for what passes them. The TCP
// probe filters on the socket's cgroup and, with a pid filter, on the
// owner recorded at connect. Records go through one BPF ring buffer; per-CPU counters
// count records and drops (Collector.Counters). Reader wake-ups are
// batched (Config.WakeupBytes, FlushInterval): waking the reader for every
// record costs a self-IPI, about 4.5 µs per record on a VM.
//
// # Use
//
// Load attaches the probes, Read (or Drain) returns decoded events, Close
// detaches everything. DecodeRecord is the pure decoder. SampleClock
// converts the events' CLOCK_MONOTONIC times to wall time, and each
// event's KernelEvent method builds the exported evidence.KernelEvent.
//
// Loading needs root (CAP_BPF, CAP_PERFMON) and kernel BTF; Load mounts
// tracefs when none is mounted (Config.MountTracefs). sched_switch is
// attached with its Linux 5.18+ prototype (prev_state argument).
//
// # Generated code
//
// gen.go runs bpf2go (a go.mod tool); regen.sh regenerates and fails when
// the result differs from what is committed. vmlinux.h was dumped with
// bpftool from Linux 6.18.44 x86_64. Tests that load programs skip without
// root or BTF unless DEBUGAI_REQUIRE_EBPF=1, which makes them fail instead.
package bpf
