package bpf

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// maxFilterEntries is the capacity of the cgroup and pid filter maps
// (MAX_FILTER in collector.c).
const maxFilterEntries = 4096

// Config selects what the probes report. The zero value is not valid:
// start from DefaultConfig.
type Config struct {
	// CgroupIDs restricts events to tasks in these cgroup v2 ids: the inode
	// number of the cgroup's directory under the v2 mount (CgroupID finds
	// it). Empty: every cgroup. Children are not included: list each.
	CgroupIDs []uint64
	// PIDs restricts events to these processes (tgids). Empty: every
	// process. With both filters set a task must pass both.
	PIDs []uint32
	// FilterPIDs turns the pid filter on even when PIDs is empty: nothing
	// is reported until Collector.AddPIDs names processes (targets found
	// later, e.g. by executable).
	FilterPIDs bool
	// FutexThreshold: futex waits shorter than this are not reported.
	FutexThreshold time.Duration
	// RunqueueThreshold: run-queue delays shorter than this are not
	// reported.
	RunqueueThreshold time.Duration
	// BlockThreshold: block requests whose issue-to-completion latency is
	// shorter than this are not reported.
	BlockThreshold time.Duration
	// FsyncThreshold: fsync, fdatasync and sync_file_range calls shorter
	// than this are not reported.
	FsyncThreshold time.Duration
	// TCPRetransmitInterval aggregates retransmit storms in the kernel: a
	// socket writes at most one record per interval, and the record's Count
	// includes the retransmits folded into it. 0 reports every retransmit.
	TCPRetransmitInterval time.Duration
	// MajorFaultPeriod samples major page faults: one record per this many
	// major faults on a CPU (the perf event's sample period; a record
	// stands for that many faults). 1 reports every major fault.
	MajorFaultPeriod int
	// RingBytes is the ring buffer's size: a power of two and a multiple of
	// the page size. Records that do not fit are counted as drops.
	RingBytes int
	// WakeupBytes batches reader wake-ups: the probes wake a blocked Read
	// only once this many bytes are pending (each wake-up is a self-IPI,
	// microseconds on a VM), and Read polls every FlushInterval for the
	// rest. 0 wakes the reader for every record it is waiting for. At most
	// half of RingBytes.
	WakeupBytes int
	// FlushInterval bounds how long a record can wait in the ring buffer
	// when fewer than WakeupBytes are pending. Needed when WakeupBytes > 0.
	FlushInterval time.Duration
	// DisableFutex, DisableRunqueue, DisableTCP (retransmits), DisableBlock
	// (block I/O) and DisablePageFault (major faults) leave those probes
	// detached.
	DisableFutex     bool
	DisableRunqueue  bool
	DisableTCP       bool
	DisableBlock     bool
	DisablePageFault bool
	// DisableFsync leaves the fsync probes detached. Span hooks and lock
	// probes are attached per binary (Collector.AttachSpanHooks, ...).
	DisableFsync bool
	// MountTracefs lets Load mount tracefs at /sys/kernel/tracing when no
	// tracefs is mounted: the syscall tracepoints (futex probes) need it to
	// resolve tracepoint ids. The mount is left in place on Close.
	MountTracefs bool
}

// DefaultConfig reports waits and delays of 50 µs and more, block I/O of
// 1 ms and more, every TCP retransmit and every major page fault from
// every process, through a 4 MiB ring buffer whose reader is woken per
// 64 KiB of records (about 900) or every 100 ms.
func DefaultConfig() Config {
	return Config{
		FutexThreshold:    50 * time.Microsecond,
		RunqueueThreshold: 50 * time.Microsecond,
		BlockThreshold:    time.Millisecond,
		FsyncThreshold:    time.Millisecond,
		MajorFaultPeriod:  1,
		RingBytes:         4 << 20,
		WakeupBytes:       64 << 10,
		FlushInterval:     100 * time.Millisecond,
		MountTracefs:      true,
	}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	if c.DisableFutex && c.DisableRunqueue && c.DisableTCP && c.DisableBlock && c.DisablePageFault && c.DisableFsync {
		return errors.New("config: every probe is disabled")
	}
	if c.FsyncThreshold < 0 {
		return fmt.Errorf("config: fsync threshold %v is negative", c.FsyncThreshold)
	}
	if c.FutexThreshold < 0 {
		return fmt.Errorf("config: futex threshold %v is negative", c.FutexThreshold)
	}
	if c.RunqueueThreshold < 0 {
		return fmt.Errorf("config: run-queue threshold %v is negative", c.RunqueueThreshold)
	}
	if c.BlockThreshold < 0 {
		return fmt.Errorf("config: block threshold %v is negative", c.BlockThreshold)
	}
	if c.TCPRetransmitInterval < 0 {
		return fmt.Errorf("config: TCP retransmit interval %v is negative", c.TCPRetransmitInterval)
	}
	if !c.DisablePageFault && c.MajorFaultPeriod < 1 {
		return fmt.Errorf("config: major fault period %d is not positive", c.MajorFaultPeriod)
	}
	page := os.Getpagesize()
	if c.RingBytes < page || c.RingBytes&(c.RingBytes-1) != 0 || c.RingBytes > 1<<30 {
		return fmt.Errorf("config: ring size %d is not a power of two between the page size (%d) and 1 GiB", c.RingBytes, page)
	}
	if c.WakeupBytes < 0 || c.WakeupBytes > c.RingBytes/2 {
		return fmt.Errorf("config: wake-up size %d is not between 0 and half the ring (%d)", c.WakeupBytes, c.RingBytes/2)
	}
	if c.WakeupBytes > 0 && (c.FlushInterval <= 0 || c.FlushInterval > time.Minute) {
		return fmt.Errorf("config: flush interval %v is not in (0, 1m]", c.FlushInterval)
	}
	if len(c.CgroupIDs) > maxFilterEntries {
		return fmt.Errorf("config: %d cgroup ids, at most %d", len(c.CgroupIDs), maxFilterEntries)
	}
	if len(c.PIDs) > maxFilterEntries {
		return fmt.Errorf("config: %d pids, at most %d", len(c.PIDs), maxFilterEntries)
	}
	for _, id := range c.CgroupIDs {
		if id == 0 {
			return errors.New("config: cgroup id 0")
		}
	}
	for _, pid := range c.PIDs {
		if pid == 0 {
			return errors.New("config: pid 0")
		}
	}
	return nil
}
