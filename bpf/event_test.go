package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
	"time"
)

// The hand-written decoder must agree with the generated record types.
func TestRecordSizesMatchGeneratedTypes(t *testing.T) {
	if n := binary.Size(collectorFutexEvent{}); n != futexEventSize {
		t.Errorf("struct futex_event is %d bytes, DecodeRecord expects %d", n, futexEventSize)
	}
	if n := binary.Size(collectorRunqEvent{}); n != runqEventSize {
		t.Errorf("struct runq_event is %d bytes, DecodeRecord expects %d", n, runqEventSize)
	}
}

func encode(t testing.TB, v any) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeRecord(t *testing.T) {
	futex := collectorFutexEvent{
		Kind: uint32(collectorEventKindEVENT_FUTEX_WAIT), Tid: 11, Pid: 10, WakerTid: 12, WakerPid: 10,
		Op: 128, CgroupId: 77, Uaddr: 0x7f00dead0000, DurationNs: 250000, EndNs: 123456789,
		Ret: -110, Syscall: uint32(collectorFutexSyscallSYSCALL_FUTEX),
	}
	ev, err := DecodeRecord(encode(t, futex))
	if err != nil {
		t.Fatal(err)
	}
	wantF := FutexWait{TID: 11, PID: 10, CgroupID: 77, Addr: 0x7f00dead0000, Op: 128, Syscall: SyscallFutex,
		Duration: 250 * time.Microsecond, EndNS: 123456789, WakerTID: 12, WakerPID: 10, Ret: -110}
	if ev != wantF {
		t.Errorf("futex: got %+v, want %+v", ev, wantF)
	}
	if got := ev.(FutexWait).Cmd(); got != 0 {
		t.Errorf("Cmd() = %d, want 0 (FUTEX_WAIT)", got)
	}

	runq := collectorRunqEvent{
		Kind: uint32(collectorEventKindEVENT_RUNQUEUE_DELAY), Tid: 21, Pid: 20, Preempted: 1,
		CgroupId: 88, DelayNs: 3000000, EndNs: 987654321, Cpu: 1, PrevTid: 22,
	}
	ev, err = DecodeRecord(encode(t, runq))
	if err != nil {
		t.Fatal(err)
	}
	wantR := RunqueueDelay{TID: 21, PID: 20, CgroupID: 88, Delay: 3 * time.Millisecond, EndNS: 987654321,
		CPU: 1, PrevTID: 22, Preempted: true}
	if ev != wantR {
		t.Errorf("runq: got %+v, want %+v", ev, wantR)
	}

	clk := Clock{offset: 1000}
	if k := wantF.KernelEvent(clk); k.TimeNS != 123457789 || k.DurationNS != 250000 || k.WakerTID != 12 || k.Addr != 0x7f00dead0000 {
		t.Errorf("futex KernelEvent: %+v", k)
	}
	if k := wantR.KernelEvent(clk); k.TimeNS != 987655321 || k.DurationNS != 3000000 || k.CgroupID != 88 {
		t.Errorf("runq KernelEvent: %+v", k)
	}
}

func TestDecodeRecordErrors(t *testing.T) {
	good := encode(t, collectorRunqEvent{Kind: uint32(collectorEventKindEVENT_RUNQUEUE_DELAY)})
	badPreempt := bytes.Clone(good)
	badPreempt[12] = 2
	badSyscall := encode(t, collectorFutexEvent{Kind: uint32(collectorEventKindEVENT_FUTEX_WAIT), Syscall: 4})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"empty", nil, ErrRecordSize},
		{"short header", []byte{1, 0}, ErrRecordSize},
		{"short futex", []byte{1, 0, 0, 0, 5}, ErrRecordSize},
		{"long runq", append(bytes.Clone(good), 0), ErrRecordSize},
		{"unknown kind", []byte{9, 0, 0, 0}, ErrRecordKind},
		{"kind zero", make([]byte, 48), ErrRecordKind},
		{"preempted flag", badPreempt, ErrRecordField},
		{"futex syscall", badSyscall, ErrRecordField},
	} {
		if _, err := DecodeRecord(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(encode(f, collectorFutexEvent{Kind: uint32(collectorEventKindEVENT_FUTEX_WAIT), Tid: 1}))
	f.Add(encode(f, collectorRunqEvent{Kind: uint32(collectorEventKindEVENT_RUNQUEUE_DELAY), Tid: 1}))
	f.Add(encode(f, tcpRecord(familyINET)))
	f.Add(encode(f, tcpRecord(familyINET6)))
	f.Add(encode(f, collectorBlockEvent{Kind: uint32(collectorEventKindEVENT_BLOCK_IO), Bytes: 4096, CmdFlags: 1}))
	f.Add(encode(f, collectorFaultEvent{Kind: uint32(collectorEventKindEVENT_PAGE_FAULT_MAJ), Tid: 1, Addr: 0x1000}))
	f.Add(encode(f, fsyncRecord()))
	f.Add(encode(f, lockEdgeRecord()))
	f.Add([]byte{})
	f.Add([]byte{1, 0, 0})
	f.Add([]byte{2, 0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := DecodeRecord(b)
		if (ev == nil) == (err == nil) {
			t.Fatalf("DecodeRecord(%x) = %v, %v: want exactly one of event and error", b, ev, err)
		}
		switch e := ev.(type) {
		case FutexWait:
			if len(b) != futexEventSize {
				t.Fatalf("decoded a futex event from %d bytes", len(b))
			}
		case RunqueueDelay:
			if len(b) != runqEventSize {
				t.Fatalf("decoded a run-queue event from %d bytes", len(b))
			}
		case TCPRetransmit:
			if len(b) != tcpEventSize || !e.LocalAddr.IsValid() || !e.RemoteAddr.IsValid() {
				t.Fatalf("decoded a TCP event from %d bytes with addresses %v, %v", len(b), e.LocalAddr, e.RemoteAddr)
			}
		case BlockIO:
			if len(b) != blockEventSize {
				t.Fatalf("decoded a block event from %d bytes", len(b))
			}
		case Fsync:
			if len(b) != fsyncEventSize || e.Duration < 0 {
				t.Fatalf("decoded an fsync event from %d bytes, duration %v", len(b), e.Duration)
			}
		case LockEdge:
			if len(b) != lockEdgeEventSize || e.Count == 0 || e.Held == e.Acquiring {
				t.Fatalf("decoded a lock edge from %d bytes: %+v", len(b), e)
			}
		case PageFaultMajor:
			if len(b) != faultEventSize || e.Period != 1 {
				t.Fatalf("decoded a fault event from %d bytes, period %d", len(b), e.Period)
			}
		}
	})
}
