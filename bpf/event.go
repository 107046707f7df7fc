package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Record decoding errors.
var (
	// ErrRecordSize reports a record whose length does not match its kind.
	ErrRecordSize = errors.New("ring-buffer record has the wrong size")
	// ErrRecordKind reports a record of an unknown kind.
	ErrRecordKind = errors.New("ring-buffer record of unknown kind")
	// ErrRecordField reports a record with a field out of range.
	ErrRecordField = errors.New("ring-buffer record field out of range")
)

// Record sizes: struct futex_event, runq_event, tcp_event, block_event and
// fault_event in collector.c.
const (
	futexEventSize    = 96
	runqEventSize     = 72
	tcpEventSize      = 88
	blockEventSize    = 88
	faultEventSize    = 72
	fsyncEventSize    = 80
	lockEdgeEventSize = 112
	spanRefSize       = 24 // struct span_ref, the last field of the records that carry one
)

// SpanRef is the span that was active on the task a record is attributed
// to, as the span hooks saw it (AttachSpanHooks); the zero value means no
// span was known.
type SpanRef struct {
	TraceID evidence.TraceID
	SpanID  evidence.SpanID
}

// IsZero reports whether no span was known.
func (s SpanRef) IsZero() bool { return s.SpanID == evidence.SpanID{} }

// decodeSpanRef reads struct span_ref: the trace id's halves and the span
// id as big-endian integers stored in native (little-endian) order.
func decodeSpanRef(b []byte) SpanRef {
	le, be := binary.LittleEndian, binary.BigEndian
	var s SpanRef
	be.PutUint64(s.TraceID[0:8], le.Uint64(b[0:]))
	be.PutUint64(s.TraceID[8:16], le.Uint64(b[8:]))
	be.PutUint64(s.SpanID[:], le.Uint64(b[16:]))
	return s
}

// stamp copies s onto a kernel event.
func (s SpanRef) stamp(ev *evidence.KernelEvent) {
	if !s.IsZero() {
		ev.TraceID, ev.SpanID = s.TraceID, s.SpanID
	}
}

// Event is a decoded ring-buffer record: FutexWait, RunqueueDelay,
// TCPRetransmit, BlockIO or PageFaultMajor.
type Event interface {
	// Type is the evidence type the event is exported as.
	Type() evidence.KernelEventType
}

var (
	_ Event = FutexWait{}
	_ Event = RunqueueDelay{}
	_ Event = TCPRetransmit{}
	_ Event = BlockIO{}
	_ Event = PageFaultMajor{}
	_ Event = Fsync{}
	_ Event = LockEdge{}
)

// FutexSyscall says which system call a futex wait came through.
type FutexSyscall uint32

// Futex system calls.
const (
	SyscallFutex      FutexSyscall = FutexSyscall(collectorFutexSyscallSYSCALL_FUTEX)
	SyscallFutexWait  FutexSyscall = FutexSyscall(collectorFutexSyscallSYSCALL_FUTEX_WAIT)
	SyscallFutexWaitv FutexSyscall = FutexSyscall(collectorFutexSyscallSYSCALL_FUTEX_WAITV)
	// SyscallGoSema is not a system call: a contended Go sync.Mutex wait,
	// seen by uprobes on runtime_SemacquireMutex (Collector.AttachGoLockWaits).
	// Addr is then &mutex.sema, the mutex's address + 4.
	SyscallGoSema FutexSyscall = FutexSyscall(collectorFutexSyscallSYSCALL_GO_SEMA)
)

// goSemaOffset is the offset of sema in sync.Mutex (internal/sync.Mutex
// since Go 1.24): struct { state int32; sema uint32 }.
const goSemaOffset = 4

// String names the system call.
func (s FutexSyscall) String() string {
	switch s {
	case SyscallFutex:
		return "futex"
	case SyscallFutexWait:
		return "futex_wait"
	case SyscallFutexWaitv:
		return "futex_waitv"
	case SyscallGoSema:
		return "go_sema"
	default:
		return fmt.Sprintf("FutexSyscall(%d)", uint32(s))
	}
}

// FutexWait is one futex wait at or above Config.FutexThreshold.
type FutexWait struct {
	TID, PID uint32
	CgroupID uint64
	// Addr is the futex's user address: for a pthread mutex, the mutex.
	// For futex_waitv it is the futex that woke the thread, else the first.
	Addr uint64
	// Op is the futex op as passed to futex(2), flags included (Cmd masks
	// them off); for futex_wait and futex_waitv it is the flags argument.
	Op       uint32
	Syscall  FutexSyscall
	Duration time.Duration
	// EndNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the syscall's exit;
	// Clock.UnixNano converts it to wall time.
	EndNS uint64
	// WakerTID and WakerPID are the thread that woke the waiter (current
	// at sched_waking: for a pthread mutex the releasing holder); zero when
	// no wake-up was seen (timeout, signal, or the wait never slept).
	WakerTID, WakerPID uint32
	// Ret is the syscall's return value (0, or -errno such as -ETIMEDOUT).
	Ret int64
	// Span is the waiting thread's (or goroutine's) active span.
	Span SpanRef
}

// Type implements Event.
func (FutexWait) Type() evidence.KernelEventType { return evidence.KernelFutexWait }

// futexCmdMask is FUTEX_CMD_MASK: the op without PRIVATE and CLOCK_REALTIME.
const futexCmdMask = 0x7f

// Cmd is the futex command (FUTEX_WAIT = 0, FUTEX_LOCK_PI = 6, ...) for
// waits through futex(2), -1 otherwise.
func (e FutexWait) Cmd() int {
	if e.Syscall != SyscallFutex {
		return -1
	}
	return int(e.Op & futexCmdMask)
}

// RunqueueDelay is the time a task spent runnable but not running, at or
// above Config.RunqueueThreshold.
type RunqueueDelay struct {
	TID, PID uint32
	CgroupID uint64
	Delay    time.Duration
	// EndNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) when the task ran.
	EndNS uint64
	CPU   uint32
	// PrevTID is the task that was switched out in favour of this one.
	PrevTID uint32
	// Preempted: the task became runnable by being preempted (or yielding),
	// not by a wake-up.
	Preempted bool
	// Span is the task's active span when it became runnable: its
	// goroutine's when preempted, else only a thread-keyed (C) span.
	Span SpanRef
}

// Type implements Event.
func (RunqueueDelay) Type() evidence.KernelEventType { return evidence.KernelRunqueueDelay }

// DecodeRecord decodes one ring-buffer record. It never panics: records of
// the wrong size or kind, or with out-of-range fields, give errors.
func DecodeRecord(b []byte) (Event, error) {
	if len(b) < 4 {
		return nil, fmt.Errorf("%d bytes: %w", len(b), ErrRecordSize)
	}
	le := binary.LittleEndian
	switch kind := collectorEventKind(le.Uint32(b)); kind {
	case collectorEventKindEVENT_FUTEX_WAIT:
		if len(b) != futexEventSize {
			return nil, fmt.Errorf("futex record of %d bytes, want %d: %w", len(b), futexEventSize, ErrRecordSize)
		}
		e := FutexWait{
			TID:      le.Uint32(b[4:]),
			PID:      le.Uint32(b[8:]),
			WakerTID: le.Uint32(b[12:]),
			WakerPID: le.Uint32(b[16:]),
			Op:       le.Uint32(b[20:]),
			CgroupID: le.Uint64(b[24:]),
			Addr:     le.Uint64(b[32:]),
			Duration: time.Duration(le.Uint64(b[40:])),
			EndNS:    le.Uint64(b[48:]),
			Ret:      int64(le.Uint64(b[56:])),
			Syscall:  FutexSyscall(le.Uint32(b[64:])),
			Span:     decodeSpanRef(b[72:]),
		}
		if e.Syscall > SyscallGoSema || le.Uint32(b[68:]) != 0 || e.Duration < 0 {
			return nil, fmt.Errorf("futex record: %w", ErrRecordField)
		}
		return e, nil
	case collectorEventKindEVENT_RUNQUEUE_DELAY:
		if len(b) != runqEventSize {
			return nil, fmt.Errorf("run-queue record of %d bytes, want %d: %w", len(b), runqEventSize, ErrRecordSize)
		}
		preempted := le.Uint32(b[12:])
		e := RunqueueDelay{
			TID:       le.Uint32(b[4:]),
			PID:       le.Uint32(b[8:]),
			Preempted: preempted == 1,
			CgroupID:  le.Uint64(b[16:]),
			Delay:     time.Duration(le.Uint64(b[24:])),
			EndNS:     le.Uint64(b[32:]),
			CPU:       le.Uint32(b[40:]),
			PrevTID:   le.Uint32(b[44:]),
			Span:      decodeSpanRef(b[48:]),
		}
		if preempted > 1 || e.Delay < 0 {
			return nil, fmt.Errorf("run-queue record: %w", ErrRecordField)
		}
		return e, nil
	case collectorEventKindEVENT_TCP_RETRANSMIT:
		return decodeTCP(b)
	case collectorEventKindEVENT_BLOCK_IO:
		return decodeBlock(b)
	case collectorEventKindEVENT_PAGE_FAULT_MAJ:
		return decodeFault(b)
	case collectorEventKindEVENT_FSYNC:
		return decodeFsync(b)
	case collectorEventKindEVENT_LOCK_EDGE:
		return decodeLockEdge(b)
	default:
		return nil, fmt.Errorf("kind %d: %w", uint32(kind), ErrRecordKind)
	}
}

// KernelEvent converts e to the exported form, with wall time from clk.
// Node, Stream, Seq, resource and trace fields are left to the exporter.
// A Go mutex wait (SyscallGoSema) is exported as a futex wait on the
// mutex's address, with AttrLockKind "go_mutex": the lock-convoy detector
// reads both kinds alike.
func (e FutexWait) KernelEvent(clk Clock) evidence.KernelEvent {
	ev := evidence.KernelEvent{
		Type:       evidence.KernelFutexWait,
		TimeNS:     clk.UnixNano(e.EndNS),
		DurationNS: int64(e.Duration),
		PID:        int64(e.PID),
		TID:        int64(e.TID),
		CgroupID:   e.CgroupID,
		Addr:       e.Addr,
		WakerTID:   int64(e.WakerTID),
	}
	if e.Syscall == SyscallGoSema {
		ev.Addr = e.Addr - goSemaOffset
		ev.Attrs = evidence.Attrs{{Key: AttrLockKind, Value: evidence.StringValue("go_mutex")}}
	}
	e.Span.stamp(&ev)
	return ev
}

// AttrLockKind marks futex-wait records that are Go mutex waits.
const AttrLockKind = "debugai.lock.kind"

// KernelEvent converts e to the exported form, with wall time from clk.
func (e RunqueueDelay) KernelEvent(clk Clock) evidence.KernelEvent {
	ev := evidence.KernelEvent{
		Type:       evidence.KernelRunqueueDelay,
		TimeNS:     clk.UnixNano(e.EndNS),
		DurationNS: int64(e.Delay),
		PID:        int64(e.PID),
		TID:        int64(e.TID),
		CgroupID:   e.CgroupID,
	}
	e.Span.stamp(&ev)
	return ev
}
