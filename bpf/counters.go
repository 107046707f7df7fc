package bpf

import (
	"fmt"
	"reflect"

	"github.com/cilium/ebpf"
)

// Counters are the in-kernel counters summed over CPUs since Load.
type Counters struct {
	FutexEvents    uint64 // futex records written
	FutexDrops     uint64 // futex records lost to a full ring buffer
	RunqueueEvents uint64 // run-queue records written
	RunqueueDrops  uint64 // run-queue records lost to a full ring buffer
	// StateMissed counts waits, runnable periods, sockets or block requests
	// not tracked because their per-task or per-socket storage (or the
	// request map entry) could not be had: out of memory, or the storage
	// was busy on that CPU in a nested probe.
	StateMissed uint64
	TCPEvents   uint64 // TCP retransmit records written
	TCPDrops    uint64 // TCP retransmit records lost to a full ring buffer
	// TCPSuppressed counts retransmits folded into a later record of their
	// socket by Config.TCPRetransmitInterval.
	TCPSuppressed uint64
	BlockEvents   uint64 // block I/O records written
	BlockDrops    uint64 // block I/O records lost to a full ring buffer
	FaultEvents   uint64 // major-fault records written
	FaultDrops    uint64 // major-fault records lost to a full ring buffer
	FsyncEvents   uint64 // fsync records written
	FsyncDrops    uint64 // fsync records lost to a full ring buffer
	SpanEnters    uint64 // span markers entered (span hooks)
	// SpanOverflow counts spans nested deeper than the per-thread stack
	// (8): the innermost ones share its last slot.
	SpanOverflow uint64
	LockAcquires uint64 // lock acquisitions recorded (lock-order uprobes)
	LockEvents   uint64 // lock-order edge records written
	LockDrops    uint64 // lock-order edge records lost to a full ring buffer
	// LockOverflow counts acquisitions while 8 locks were already held:
	// edges from those 8 are reported, the new lock is not tracked.
	LockOverflow uint64
}

// Drops sums the records lost to a full ring buffer.
func (c Counters) Drops() uint64 {
	return c.FutexDrops + c.RunqueueDrops + c.TCPDrops + c.BlockDrops + c.FaultDrops + c.FsyncDrops + c.LockDrops
}

// Events sums the records written.
func (c Counters) Events() uint64 {
	return c.FutexEvents + c.RunqueueEvents + c.TCPEvents + c.BlockEvents + c.FaultEvents + c.FsyncEvents + c.LockEvents
}

// RingFill is the fraction of the ring buffer holding records not yet
// read, in [0, 1].
func (c *Collector) RingFill() float64 {
	size := c.reader.BufferSize()
	if size <= 0 {
		return 0
	}
	return float64(c.reader.AvailableBytes()) / float64(size)
}

// Counters sums the per-CPU counters.
func (c *Collector) Counters() (Counters, error) {
	var out Counters
	for _, s := range []struct {
		slot collectorCounter
		dst  *uint64
	}{
		{collectorCounterCOUNTER_FUTEX_EVENTS, &out.FutexEvents},
		{collectorCounterCOUNTER_FUTEX_DROPS, &out.FutexDrops},
		{collectorCounterCOUNTER_RUNQ_EVENTS, &out.RunqueueEvents},
		{collectorCounterCOUNTER_RUNQ_DROPS, &out.RunqueueDrops},
		{collectorCounterCOUNTER_STATE_MISSED, &out.StateMissed},
		{collectorCounterCOUNTER_TCP_EVENTS, &out.TCPEvents},
		{collectorCounterCOUNTER_TCP_DROPS, &out.TCPDrops},
		{collectorCounterCOUNTER_TCP_SUPPRESSED, &out.TCPSuppressed},
		{collectorCounterCOUNTER_BLOCK_EVENTS, &out.BlockEvents},
		{collectorCounterCOUNTER_BLOCK_DROPS, &out.BlockDrops},
		{collectorCounterCOUNTER_FAULT_EVENTS, &out.FaultEvents},
		{collectorCounterCOUNTER_FAULT_DROPS, &out.FaultDrops},
		{collectorCounterCOUNTER_FSYNC_EVENTS, &out.FsyncEvents},
		{collectorCounterCOUNTER_FSYNC_DROPS, &out.FsyncDrops},
		{collectorCounterCOUNTER_SPAN_ENTERS, &out.SpanEnters},
		{collectorCounterCOUNTER_SPAN_OVERFLOW, &out.SpanOverflow},
		{collectorCounterCOUNTER_LOCK_ACQUIRES, &out.LockAcquires},
		{collectorCounterCOUNTER_LOCK_EVENTS, &out.LockEvents},
		{collectorCounterCOUNTER_LOCK_DROPS, &out.LockDrops},
		{collectorCounterCOUNTER_LOCK_OVERFLOW, &out.LockOverflow},
	} {
		var perCPU []uint64
		if err := c.objs.Counters.Lookup(uint32(s.slot), &perCPU); err != nil {
			return Counters{}, fmt.Errorf("reading counter %d: %w", s.slot, err)
		}
		for _, v := range perCPU {
			*s.dst += v
		}
	}
	return out, nil
}

// RecursionMisses sums, over every program, the runs the kernel skipped
// because another BPF program was running on that CPU (a uprobe program
// preempted by another task's uprobe, an interrupt during a probe). Those
// events are lost without a ring-buffer drop.
func (c *Collector) RecursionMisses() (uint64, error) {
	var total uint64
	v := reflect.ValueOf(c.objs.collectorPrograms)
	for i := range v.NumField() {
		p, ok := v.Field(i).Interface().(*ebpf.Program)
		if !ok || p == nil {
			continue
		}
		st, err := p.Stats()
		if err != nil {
			return 0, fmt.Errorf("reading program stats: %w", err)
		}
		total += st.RecursionMisses
	}
	return total, nil
}
