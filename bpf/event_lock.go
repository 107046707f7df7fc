package bpf

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Attribute keys of fsync records (docs/kernel-events.md).
const (
	AttrFsyncSyscall = "debugai.fsync.syscall" // string: fsync, fdatasync, sync_file_range
	AttrFsyncFD      = "debugai.fsync.fd"      // int: the file descriptor
	AttrFsyncRet     = "debugai.fsync.ret"     // int: return value, only when not 0
)

// FsyncSyscall says which system call an fsync wait came through.
type FsyncSyscall uint32

// Fsync system calls.
const (
	SyscallFsync         = FsyncSyscall(collectorFsyncSyscallSYSCALL_FSYNC)
	SyscallFdatasync     = FsyncSyscall(collectorFsyncSyscallSYSCALL_FDATASYNC)
	SyscallSyncFileRange = FsyncSyscall(collectorFsyncSyscallSYSCALL_SYNC_FILE_RANGE)
)

// String names the system call.
func (s FsyncSyscall) String() string {
	switch s {
	case SyscallFsync:
		return "fsync"
	case SyscallFdatasync:
		return "fdatasync"
	case SyscallSyncFileRange:
		return "sync_file_range"
	default:
		return fmt.Sprintf("FsyncSyscall(%d)", uint32(s))
	}
}

// Fsync is one fsync, fdatasync or sync_file_range call that took at least
// Config.FsyncThreshold. Buffered writes reach the disk from kernel
// write-back threads, whose block requests cannot be attributed to the
// writer (BlockIO.Kthread); the writer pays for them here, when it waits
// for them to be durable.
type Fsync struct {
	TID, PID uint32
	CgroupID uint64
	Syscall  FsyncSyscall
	FD       int32
	Duration time.Duration
	// EndNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the syscall's exit.
	EndNS uint64
	Ret   int64
	// Span is the caller's active span.
	Span SpanRef
}

// Type implements Event.
func (Fsync) Type() evidence.KernelEventType { return evidence.KernelFsync }

func decodeFsync(b []byte) (Event, error) {
	if len(b) != fsyncEventSize {
		return nil, fmt.Errorf("fsync record of %d bytes, want %d: %w", len(b), fsyncEventSize, ErrRecordSize)
	}
	le := binary.LittleEndian
	e := Fsync{
		TID:      le.Uint32(b[4:]),
		PID:      le.Uint32(b[8:]),
		Syscall:  FsyncSyscall(le.Uint32(b[12:])),
		CgroupID: le.Uint64(b[16:]),
		Duration: time.Duration(le.Uint64(b[24:])),
		EndNS:    le.Uint64(b[32:]),
		Ret:      int64(le.Uint64(b[40:])),
		FD:       int32(le.Uint32(b[48:])),
		Span:     decodeSpanRef(b[56:]),
	}
	if e.Syscall > SyscallSyncFileRange || le.Uint32(b[52:]) != 0 || e.Duration < 0 {
		return nil, fmt.Errorf("fsync record: %w", ErrRecordField)
	}
	return e, nil
}

// KernelEvent converts e to the exported form, with wall time from clk.
func (e Fsync) KernelEvent(clk Clock) evidence.KernelEvent {
	attrs := evidence.Attrs{
		{Key: AttrFsyncSyscall, Value: evidence.StringValue(e.Syscall.String())},
		{Key: AttrFsyncFD, Value: evidence.IntValue(int64(e.FD))},
	}
	if e.Ret != 0 {
		attrs = append(attrs, evidence.Attr{Key: AttrFsyncRet, Value: evidence.IntValue(e.Ret)})
	}
	ev := evidence.KernelEvent{
		Type:       evidence.KernelFsync,
		TimeNS:     clk.UnixNano(e.EndNS),
		DurationNS: int64(e.Duration),
		PID:        int64(e.PID),
		TID:        int64(e.TID),
		CgroupID:   e.CgroupID,
		Attrs:      attrs,
	}
	e.Span.stamp(&ev)
	return ev
}

// LockFlavor says which kind of lock an acquisition took.
type LockFlavor uint32

// Lock flavors.
const (
	LockPthreadMutex = LockFlavor(collectorLockFlavorLOCK_PTHREAD_MUTEX)
	LockGoMutex      = LockFlavor(collectorLockFlavorLOCK_GO_MUTEX)
	LockGoRWMutex    = LockFlavor(collectorLockFlavorLOCK_GO_RWMUTEX)
	LockGoRWMutexR   = LockFlavor(collectorLockFlavorLOCK_GO_RWMUTEX_R)
	// LockGoMutexTry is a sync.Mutex.TryLock attempt while other locks
	// were held: an order edge whose acquisition may have failed.
	LockGoMutexTry = LockFlavor(collectorLockFlavorLOCK_GO_MUTEX_TRY)
	// LockPthreadMutexTry is a pthread_mutex_timedlock or trylock attempt
	// while other locks were held.
	LockPthreadMutexTry = LockFlavor(collectorLockFlavorLOCK_PTHREAD_MUTEX_TRY)
)

// String names the flavor.
func (f LockFlavor) String() string {
	switch f {
	case LockPthreadMutex:
		return "pthread_mutex"
	case LockGoMutex:
		return "go_mutex"
	case LockGoRWMutex:
		return "go_rwmutex"
	case LockGoRWMutexR:
		return "go_rwmutex_read"
	case LockGoMutexTry:
		return "go_mutex_try"
	case LockPthreadMutexTry:
		return "pthread_mutex_try"
	default:
		return fmt.Sprintf("LockFlavor(%d)", uint32(f))
	}
}

// LockEdge is a lock-order observation: Acquiring was requested while Held
// was held by the same thread (pthread) or goroutine (Go). The probes emit
// an edge of a process the first time it is seen and again at its 2nd, 4th,
// 8th, ... observation; Count is the observations since the previous
// record, so the records of an edge sum to its observations so far.
// Addresses and sites are raw: Symbolizer turns them into names.
type LockEdge struct {
	TID, PID  uint32
	CgroupID  uint64
	Goroutine uint64 // runtime.g pointer (Go); 0 for pthread
	Held      uint64 // lock addresses
	Acquiring uint64
	// HeldSite and AcquiringSite are the return addresses of the calls
	// that took (requested) the locks.
	HeldSite, AcquiringSite uint64
	HeldFlavor, Flavor      LockFlavor
	Count                   uint64
	// TimeNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the acquisition.
	TimeNS uint64
	Span   SpanRef
}

// Type implements Event: lock edges are exported as kernel.lock_edge
// records, not kernel events.
func (LockEdge) Type() evidence.KernelEventType { return "lock_edge" }

func decodeLockEdge(b []byte) (Event, error) {
	if len(b) != lockEdgeEventSize {
		return nil, fmt.Errorf("lock-edge record of %d bytes, want %d: %w", len(b), lockEdgeEventSize, ErrRecordSize)
	}
	le := binary.LittleEndian
	e := LockEdge{
		TID:           le.Uint32(b[4:]),
		PID:           le.Uint32(b[8:]),
		Flavor:        LockFlavor(le.Uint32(b[12:])),
		CgroupID:      le.Uint64(b[16:]),
		Goroutine:     le.Uint64(b[24:]),
		Held:          le.Uint64(b[32:]),
		Acquiring:     le.Uint64(b[40:]),
		HeldSite:      le.Uint64(b[48:]),
		AcquiringSite: le.Uint64(b[56:]),
		Count:         le.Uint64(b[64:]),
		TimeNS:        le.Uint64(b[72:]),
		HeldFlavor:    LockFlavor(le.Uint32(b[80:])),
		Span:          decodeSpanRef(b[88:]),
	}
	switch {
	case e.Flavor < LockPthreadMutex || e.Flavor > LockPthreadMutexTry,
		e.HeldFlavor < LockPthreadMutex || e.HeldFlavor > LockGoRWMutexR, // a TryLock is never held
		le.Uint32(b[84:]) != 0, e.Count == 0, e.Held == e.Acquiring:
		return nil, fmt.Errorf("lock-edge record: %w", ErrRecordField)
	}
	return e, nil
}
