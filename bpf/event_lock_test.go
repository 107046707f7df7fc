package bpf

import (
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

func TestLockRecordSizesMatchGeneratedTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"futex_event", collectorFutexEvent{}, futexEventSize},
		{"runq_event", collectorRunqEvent{}, runqEventSize},
		{"fsync_event", collectorFsyncEvent{}, fsyncEventSize},
		{"lock_edge_event", collectorLockEdgeEvent{}, lockEdgeEventSize},
		{"span_ref", collectorSpanRef{}, spanRefSize},
	} {
		if n := binary.Size(tc.v); n != tc.want {
			t.Errorf("struct %s is %d bytes, DecodeRecord expects %d", tc.name, n, tc.want)
		}
	}
}

// spanRecord is the kernel's struct span_ref for a W3C trace and span.
func spanRecord(trace evidence.TraceID, span evidence.SpanID) collectorSpanRef {
	be := binary.BigEndian
	return collectorSpanRef{TraceHi: be.Uint64(trace[:8]), TraceLo: be.Uint64(trace[8:]), SpanId: be.Uint64(span[:])}
}

var (
	testTrace = evidence.TraceID{0xde, 0xb0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14}
	testSpan  = evidence.SpanID{0x5a, 1, 2, 3, 4, 5, 6, 7}
)

func fsyncRecord() collectorFsyncEvent {
	return collectorFsyncEvent{
		Kind: uint32(collectorEventKindEVENT_FSYNC), Tid: 11, Pid: 10, Syscall: uint32(SyscallFdatasync),
		CgroupId: 7, DurationNs: 2500000, EndNs: 99, Ret: 0, Fd: 5, Span: spanRecord(testTrace, testSpan),
	}
}

func lockEdgeRecord() collectorLockEdgeEvent {
	return collectorLockEdgeEvent{
		Kind: uint32(collectorEventKindEVENT_LOCK_EDGE), Tid: 11, Pid: 10, Flavor: uint32(LockGoMutex),
		CgroupId: 7, Goroutine: 0xc000001000, Held: 0x1000, Acquiring: 0x2000, HeldSite: 0x401000,
		AcquiringSite: 0x401010, Count: 4, TsNs: 55, HeldFlavor: uint32(LockGoRWMutexR),
	}
}

func TestDecodeFsync(t *testing.T) {
	ev, err := DecodeRecord(encode(t, fsyncRecord()))
	if err != nil {
		t.Fatal(err)
	}
	want := Fsync{TID: 11, PID: 10, CgroupID: 7, Syscall: SyscallFdatasync, FD: 5,
		Duration: 2500 * time.Microsecond, EndNS: 99, Span: SpanRef{testTrace, testSpan}}
	if ev != want {
		t.Fatalf("decoded %+v, want %+v", ev, want)
	}
	kev := want.KernelEvent(Clock{})
	if kev.Type != evidence.KernelFsync || kev.TraceID != testTrace || kev.SpanID != testSpan || kev.DurationNS != 2500000 {
		t.Errorf("kernel event %+v", kev)
	}
	if kev.Type.Line() != evidence.LineKernelBlock {
		t.Errorf("fsync on line %s, want %s", kev.Type.Line(), evidence.LineKernelBlock)
	}
}

func TestDecodeLockEdge(t *testing.T) {
	ev, err := DecodeRecord(encode(t, lockEdgeRecord()))
	if err != nil {
		t.Fatal(err)
	}
	want := LockEdge{TID: 11, PID: 10, CgroupID: 7, Goroutine: 0xc000001000, Held: 0x1000, Acquiring: 0x2000,
		HeldSite: 0x401000, AcquiringSite: 0x401010, Flavor: LockGoMutex, HeldFlavor: LockGoRWMutexR, Count: 4, TimeNS: 55}
	if ev != want {
		t.Fatalf("decoded %+v, want %+v", ev, want)
	}
	if LockGoRWMutexR.String() != "go_rwmutex_read" || SyscallSyncFileRange.String() != "sync_file_range" {
		t.Error("flavor or syscall names changed")
	}
}

func TestDecodeLockRecordErrors(t *testing.T) {
	self := lockEdgeRecord()
	self.Acquiring = self.Held
	zero := lockEdgeRecord()
	zero.Count = 0
	flavor := lockEdgeRecord()
	flavor.Flavor = 9
	sys := fsyncRecord()
	sys.Syscall = 3
	for name, b := range map[string][]byte{
		"self edge":     encode(t, self),
		"zero count":    encode(t, zero),
		"bad flavor":    encode(t, flavor),
		"bad syscall":   encode(t, sys),
		"short fsync":   encode(t, fsyncRecord())[:fsyncEventSize-1],
		"long lockedge": append(encode(t, lockEdgeRecord()), 0),
	} {
		if _, err := DecodeRecord(b); !errors.Is(err, ErrRecordField) && !errors.Is(err, ErrRecordSize) {
			t.Errorf("%s: error %v, want a field or size error", name, err)
		}
	}
}
