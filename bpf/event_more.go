package bpf

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strconv"
	"time"

	"github.com/debugai/debugai/evidence"
)

// Attribute keys of the TCP and block events' evidence.KernelEvent.Attrs
// (the amounts go to KernelEvent.Value, see docs/kernel-events.md).
const (
	AttrTCPSocket     = "debugai.tcp.socket"      // int: socket cookie
	AttrTCPState      = "debugai.tcp.state"       // string: TCP state name
	AttrTCPLocalPort  = "debugai.tcp.local_port"  // int
	AttrTCPRemotePort = "debugai.tcp.remote_port" // int
	AttrBlockDev      = "debugai.block.dev"       // string: "major:minor"
	AttrBlockOp       = "debugai.block.op"        // string: BlockOp name
	AttrBlockError    = "debugai.block.error"     // int: blk_status_t, only when not 0
	AttrBlockKthread  = "debugai.block.kthread"   // bool: issued by a kernel thread, only when set
)

// Address families of TCPRetransmit.Family.
const (
	familyINET  = 2
	familyINET6 = 10
)

// TCPState is a Linux TCP socket state (include/net/tcp_states.h).
type TCPState uint8

var tcpStateNames = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
	6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING",
	12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE",
}

// String names the state as ss(8) does, upper case.
func (s TCPState) String() string {
	if int(s) < len(tcpStateNames) && tcpStateNames[s] != "" {
		return tcpStateNames[s]
	}
	return "TCPState(" + strconv.Itoa(int(s)) + ")"
}

// TCPRetransmit is one retransmitted TCP segment (tp_btf/tcp_retransmit_skb),
// or with Config.TCPRetransmitInterval the last of several. It usually
// fires from the retransmit timer in softirq, so it is attributed to the
// socket, not to the task that happened to be running.
//
// LocalAddr and RemoteAddr are raw addresses: they must be tokenized
// (privacy) before anything leaves the node; KernelEvent leaves them out.
type TCPRetransmit struct {
	// PID is the process that connect()ed the socket while the probes were
	// loaded; 0 when unknown (accepted sockets, older connections).
	PID uint32
	// CgroupID is the socket's cgroup v2 id: the creating task's cgroup
	// (for accepted sockets, the listener's).
	CgroupID uint64
	// Cookie is the socket cookie (getsockopt SO_COOKIE): a stable key of
	// the socket for as long as the kernel runs.
	Cookie                uint64
	Family                uint16 // AF_INET (2) or AF_INET6 (10)
	LocalAddr, RemoteAddr netip.Addr
	LocalPort, RemotePort uint16
	State                 TCPState
	// Count is the socket's running number of retransmits seen by the probe,
	// this one included.
	Count uint64
	// Err is the retransmit's result: 0, or -errno when the segment could
	// not be sent (for example -EHOSTUNREACH without a route).
	Err int32
	// TimeNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) at the retransmit.
	TimeNS uint64
}

// Type implements Event.
func (TCPRetransmit) Type() evidence.KernelEventType { return evidence.KernelTCPRetransmit }

// BlockOp is a request's operation (REQ_OP_* of include/linux/blk_types.h).
type BlockOp uint8

// Block operations.
const (
	BlockRead        BlockOp = 0
	BlockWrite       BlockOp = 1
	BlockFlush       BlockOp = 2
	BlockDiscard     BlockOp = 3
	BlockSecureErase BlockOp = 5
	BlockZoneAppend  BlockOp = 7
	BlockWriteZeroes BlockOp = 9
)

// String names the operation.
func (o BlockOp) String() string {
	switch o {
	case BlockRead:
		return "read"
	case BlockWrite:
		return "write"
	case BlockFlush:
		return "flush"
	case BlockDiscard:
		return "discard"
	case BlockSecureErase:
		return "secure_erase"
	case BlockZoneAppend:
		return "zone_append"
	case BlockWriteZeroes:
		return "write_zeroes"
	default:
		return "op" + strconv.Itoa(int(o))
	}
}

// Request flag bits of BlockIO.CmdFlags (enum req_flag_bits, Linux 6.18;
// the op is in the low 8 bits).
const (
	BlockFlagSync     = 1 << 11 // REQ_SYNC
	BlockFlagMeta     = 1 << 12 // REQ_META: file-system metadata (journal, ext4 fast commit)
	BlockFlagFUA      = 1 << 17 // REQ_FUA
	BlockFlagPreflush = 1 << 18 // REQ_PREFLUSH
)

// BlockIO is one block request, from issue to the device
// (tp_btf/block_rq_issue) to its completion, at or above
// Config.BlockThreshold. It is attributed to the task current at issue:
// the submitter for direct I/O and for fsync-driven write-back when the
// queue ran in its context, but a kernel thread (Kthread) for buffered
// write-back and for requests dispatched by kblockd. Those are
// unattributable here.
type BlockIO struct {
	TID, PID uint32
	CgroupID uint64
	// Dev is the kernel dev_t (major << 20 | minor) of the partition, or of
	// the disk when the request has none.
	Dev      uint32
	Sector   uint64
	Bytes    uint32 // the request's size at issue
	CmdFlags uint32 // REQ_OP_* | REQ_* flags
	Latency  time.Duration
	// EndNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) at completion.
	EndNS uint64
	// Error is the blk_status_t at completion (0: success).
	Error int32
	// Kthread: the request was issued by a kernel thread.
	Kthread bool
	// Span is the issuing task's active span.
	Span SpanRef
}

// Type implements Event.
func (BlockIO) Type() evidence.KernelEventType { return evidence.KernelBlockIO }

// Op is the request's operation.
func (e BlockIO) Op() BlockOp { return BlockOp(e.CmdFlags & 0xff) }

// Major and Minor split Dev.
func (e BlockIO) Major() uint32 { return e.Dev >> 20 }

// Minor is the minor number of Dev.
func (e BlockIO) Minor() uint32 { return e.Dev & (1<<20 - 1) }

// PageFaultMajor is a sampled major page fault: one every
// Config.MajorFaultPeriod major faults on a CPU.
type PageFaultMajor struct {
	TID, PID uint32
	CgroupID uint64
	// Addr is the faulting virtual address; IP the instruction pointer
	// (a kernel address when the fault was taken in the kernel, copying
	// from or to user memory).
	Addr, IP uint64
	CPU      uint32
	// TimeNS is bpf_ktime_get_ns (CLOCK_MONOTONIC) when the fault was
	// accounted, after it was handled.
	TimeNS uint64
	// Period is the number of faults the record stands for
	// (Config.MajorFaultPeriod); DecodeRecord sets 1, Collector.Read the
	// configured period.
	Period uint64
	// Span is the faulting task's active span.
	Span SpanRef
}

// Type implements Event.
func (PageFaultMajor) Type() evidence.KernelEventType { return evidence.KernelPageFaultMaj }

func decodeTCP(b []byte) (Event, error) {
	if len(b) != tcpEventSize {
		return nil, fmt.Errorf("TCP record of %d bytes, want %d: %w", len(b), tcpEventSize, ErrRecordSize)
	}
	le := binary.LittleEndian
	e := TCPRetransmit{
		PID:        le.Uint32(b[4:]),
		CgroupID:   le.Uint64(b[8:]),
		Cookie:     le.Uint64(b[16:]),
		TimeNS:     le.Uint64(b[24:]),
		Count:      le.Uint64(b[32:]),
		Family:     le.Uint16(b[72:]),
		LocalPort:  le.Uint16(b[74:]),
		RemotePort: le.Uint16(b[76:]),
		State:      TCPState(b[78]),
		Err:        int32(le.Uint32(b[80:])),
	}
	saddr, daddr := [16]byte(b[40:56]), [16]byte(b[56:72])
	switch e.Family {
	case familyINET:
		e.LocalAddr = netip.AddrFrom4([4]byte(saddr[:4]))
		e.RemoteAddr = netip.AddrFrom4([4]byte(daddr[:4]))
	case familyINET6:
		e.LocalAddr = netip.AddrFrom16(saddr)
		e.RemoteAddr = netip.AddrFrom16(daddr)
	default:
		return nil, fmt.Errorf("TCP record: address family %d: %w", e.Family, ErrRecordField)
	}
	if b[79] != 0 || le.Uint32(b[84:]) != 0 || e.Count == 0 {
		return nil, fmt.Errorf("TCP record: %w", ErrRecordField)
	}
	return e, nil
}

func decodeBlock(b []byte) (Event, error) {
	if len(b) != blockEventSize {
		return nil, fmt.Errorf("block record of %d bytes, want %d: %w", len(b), blockEventSize, ErrRecordSize)
	}
	le := binary.LittleEndian
	flags := le.Uint32(b[60:])
	e := BlockIO{
		TID:      le.Uint32(b[4:]),
		PID:      le.Uint32(b[8:]),
		Dev:      le.Uint32(b[12:]),
		CgroupID: le.Uint64(b[16:]),
		Sector:   le.Uint64(b[24:]),
		Latency:  time.Duration(le.Uint64(b[32:])),
		EndNS:    le.Uint64(b[40:]),
		Bytes:    le.Uint32(b[48:]),
		CmdFlags: le.Uint32(b[52:]),
		Error:    int32(le.Uint32(b[56:])),
		Kthread:  flags&uint32(collectorBlockFlagBLOCK_FLAG_KTHREAD) != 0,
		Span:     decodeSpanRef(b[64:]),
	}
	if flags&^uint32(collectorBlockFlagBLOCK_FLAG_KTHREAD) != 0 || e.Latency < 0 || e.Error < 0 || e.Error > 255 {
		return nil, fmt.Errorf("block record: %w", ErrRecordField)
	}
	return e, nil
}

func decodeFault(b []byte) (Event, error) {
	if len(b) != faultEventSize {
		return nil, fmt.Errorf("major-fault record of %d bytes, want %d: %w", len(b), faultEventSize, ErrRecordSize)
	}
	le := binary.LittleEndian
	return PageFaultMajor{
		TID:      le.Uint32(b[4:]),
		PID:      le.Uint32(b[8:]),
		CPU:      le.Uint32(b[12:]),
		CgroupID: le.Uint64(b[16:]),
		Addr:     le.Uint64(b[24:]),
		IP:       le.Uint64(b[32:]),
		TimeNS:   le.Uint64(b[40:]),
		Period:   1,
		Span:     decodeSpanRef(b[48:]),
	}, nil
}

// KernelEvent converts e to the exported form, with wall time from clk.
// Value is the socket's running retransmit count. The raw addresses are
// left out: the exporter adds them as privacy tokens. The socket cookie,
// ports and state go to Attrs.
func (e TCPRetransmit) KernelEvent(clk Clock) evidence.KernelEvent {
	return evidence.KernelEvent{
		Type:     evidence.KernelTCPRetransmit,
		TimeNS:   clk.UnixNano(e.TimeNS),
		PID:      int64(e.PID),
		CgroupID: e.CgroupID,
		Value:    int64(e.Count),
		Attrs: evidence.Attrs{
			{Key: AttrTCPSocket, Value: evidence.IntValue(int64(e.Cookie))},
			{Key: AttrTCPState, Value: evidence.StringValue(e.State.String())},
			{Key: AttrTCPLocalPort, Value: evidence.IntValue(int64(e.LocalPort))},
			{Key: AttrTCPRemotePort, Value: evidence.IntValue(int64(e.RemotePort))},
		},
	}
}

// KernelEvent converts e to the exported form, with wall time from clk
// (the completion). Value is the request's bytes.
func (e BlockIO) KernelEvent(clk Clock) evidence.KernelEvent {
	attrs := evidence.Attrs{
		{Key: AttrBlockDev, Value: evidence.StringValue(strconv.FormatUint(uint64(e.Major()), 10) + ":" + strconv.FormatUint(uint64(e.Minor()), 10))},
		{Key: AttrBlockOp, Value: evidence.StringValue(e.Op().String())},
	}
	if e.Error != 0 {
		attrs = append(attrs, evidence.Attr{Key: AttrBlockError, Value: evidence.IntValue(int64(e.Error))})
	}
	if e.Kthread {
		attrs = append(attrs, evidence.Attr{Key: AttrBlockKthread, Value: evidence.BoolValue(true)})
	}
	ev := evidence.KernelEvent{
		Type:       evidence.KernelBlockIO,
		TimeNS:     clk.UnixNano(e.EndNS),
		DurationNS: int64(e.Latency),
		PID:        int64(e.PID),
		TID:        int64(e.TID),
		CgroupID:   e.CgroupID,
		Value:      int64(e.Bytes),
		Attrs:      attrs,
	}
	e.Span.stamp(&ev)
	return ev
}

// KernelEvent converts e to the exported form, with wall time from clk.
// Addr is the faulting address; Value the faults the record stands for.
func (e PageFaultMajor) KernelEvent(clk Clock) evidence.KernelEvent {
	ev := evidence.KernelEvent{
		Type:     evidence.KernelPageFaultMaj,
		TimeNS:   clk.UnixNano(e.TimeNS),
		PID:      int64(e.PID),
		TID:      int64(e.TID),
		CgroupID: e.CgroupID,
		Addr:     e.Addr,
		Value:    int64(max(e.Period, 1)),
	}
	e.Span.stamp(&ev)
	return ev
}
