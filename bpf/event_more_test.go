package bpf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"github.com/debugai/debugai/evidence"
)

func TestNewRecordSizesMatchGeneratedTypes(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    any
		want int
	}{
		{"tcp_event", collectorTcpEvent{}, tcpEventSize},
		{"block_event", collectorBlockEvent{}, blockEventSize},
		{"fault_event", collectorFaultEvent{}, faultEventSize},
	} {
		if n := binary.Size(tc.v); n != tc.want {
			t.Errorf("struct %s is %d bytes, DecodeRecord expects %d", tc.name, n, tc.want)
		}
	}
}

func tcpRecord(family uint16) collectorTcpEvent {
	e := collectorTcpEvent{
		Kind: uint32(collectorEventKindEVENT_TCP_RETRANSMIT), Pid: 30, CgroupId: 99, Cookie: 4242,
		TsNs: 555, Count: 3, Family: family, Sport: 40000, Dport: 443, State: 1, Err: -113,
	}
	if family == familyINET6 {
		e.Saddr = netip.MustParseAddr("fd00::1").As16()
		e.Daddr = netip.MustParseAddr("fd00::2").As16()
	} else {
		copy(e.Saddr[:], []byte{10, 0, 0, 1})
		copy(e.Daddr[:], []byte{10, 0, 0, 2})
	}
	return e
}

func TestDecodeTCPRetransmit(t *testing.T) {
	for _, tc := range []struct {
		family        uint16
		local, remote string
	}{
		{familyINET, "10.0.0.1", "10.0.0.2"},
		{familyINET6, "fd00::1", "fd00::2"},
	} {
		ev, err := DecodeRecord(encode(t, tcpRecord(tc.family)))
		if err != nil {
			t.Fatal(err)
		}
		want := TCPRetransmit{PID: 30, CgroupID: 99, Cookie: 4242, Family: tc.family,
			LocalAddr: netip.MustParseAddr(tc.local), RemoteAddr: netip.MustParseAddr(tc.remote),
			LocalPort: 40000, RemotePort: 443, State: 1, Count: 3, Err: -113, TimeNS: 555}
		if ev != want {
			t.Errorf("family %d: got %+v, want %+v", tc.family, ev, want)
		}
	}
	r := TCPRetransmit{PID: 30, CgroupID: 99, Cookie: 4242, State: 1, Count: 3, TimeNS: 555,
		LocalAddr: netip.MustParseAddr("10.0.0.1"), RemoteAddr: netip.MustParseAddr("10.0.0.2"), LocalPort: 40000, RemotePort: 443}
	k := r.KernelEvent(Clock{offset: 1000})
	if k.Type != evidence.KernelTCPRetransmit || k.TimeNS != 1555 || k.Value != 3 || k.PID != 30 || k.CgroupID != 99 {
		t.Errorf("KernelEvent: %+v", k)
	}
	if v, _ := k.Attrs.Get(AttrTCPState); v.Str != "ESTABLISHED" {
		t.Errorf("state attribute %v", v)
	}
	if v, _ := k.Attrs.Get(AttrTCPSocket); v.Int != 4242 {
		t.Errorf("socket attribute %v", v)
	}
	for _, a := range k.Attrs {
		if s := a.Value.String(); s == "10.0.0.1" || s == "10.0.0.2" {
			t.Errorf("raw address in attribute %s", a.Key)
		}
	}
	if s := TCPState(99).String(); s != "TCPState(99)" {
		t.Errorf("unknown state %q", s)
	}
}

func TestDecodeBlockIO(t *testing.T) {
	rec := collectorBlockEvent{
		Kind: uint32(collectorEventKindEVENT_BLOCK_IO), Tid: 41, Pid: 40, Dev: 254<<20 | 3, CgroupId: 7,
		Sector: 2048, LatencyNs: 150000, EndNs: 777, Bytes: 65536, CmdFlags: uint32(BlockWrite) | BlockFlagSync,
		Flags: uint32(collectorBlockFlagBLOCK_FLAG_KTHREAD),
	}
	ev, err := DecodeRecord(encode(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	want := BlockIO{TID: 41, PID: 40, CgroupID: 7, Dev: 254<<20 | 3, Sector: 2048, Bytes: 65536,
		CmdFlags: 1 | BlockFlagSync, Latency: 150 * time.Microsecond, EndNS: 777, Kthread: true}
	if ev != want {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
	b := ev.(BlockIO)
	if b.Op() != BlockWrite || b.Major() != 254 || b.Minor() != 3 || b.Op().String() != "write" {
		t.Errorf("op %v, dev %d:%d", b.Op(), b.Major(), b.Minor())
	}
	k := b.KernelEvent(Clock{offset: 1000})
	if k.Type != evidence.KernelBlockIO || k.TimeNS != 1777 || k.DurationNS != 150000 || k.Value != 65536 || k.TID != 41 {
		t.Errorf("KernelEvent: %+v", k)
	}
	if v, _ := k.Attrs.Get(AttrBlockDev); v.Str != "254:3" {
		t.Errorf("dev attribute %v", v)
	}
	if v, ok := k.Attrs.Get(AttrBlockKthread); !ok || !v.Bool {
		t.Errorf("kthread attribute %v %v", v, ok)
	}
	if _, ok := k.Attrs.Get(AttrBlockError); ok {
		t.Error("error attribute on a successful request")
	}
}

func TestDecodePageFaultMajor(t *testing.T) {
	rec := collectorFaultEvent{Kind: uint32(collectorEventKindEVENT_PAGE_FAULT_MAJ), Tid: 51, Pid: 50, Cpu: 1,
		CgroupId: 8, Addr: 0x7f0000001000, Ip: 0x401000, TsNs: 888}
	ev, err := DecodeRecord(encode(t, rec))
	if err != nil {
		t.Fatal(err)
	}
	want := PageFaultMajor{TID: 51, PID: 50, CgroupID: 8, Addr: 0x7f0000001000, IP: 0x401000, CPU: 1, TimeNS: 888, Period: 1}
	if ev != want {
		t.Fatalf("got %+v, want %+v", ev, want)
	}
	want.Period = 16
	k := want.KernelEvent(Clock{offset: 1000})
	if k.Type != evidence.KernelPageFaultMaj || k.TimeNS != 1888 || k.Addr != 0x7f0000001000 || k.Value != 16 || k.PID != 50 {
		t.Errorf("KernelEvent: %+v", k)
	}
}

func TestDecodeNewRecordErrors(t *testing.T) {
	badFamily := encode(t, tcpRecord(1))
	zeroCount := tcpRecord(familyINET)
	zeroCount.Count = 0
	tcpPad := encode(t, tcpRecord(familyINET))
	tcpPad[79] = 1
	blockFlags := encode(t, collectorBlockEvent{Kind: uint32(collectorEventKindEVENT_BLOCK_IO), Flags: 2})
	blockErr := encode(t, collectorBlockEvent{Kind: uint32(collectorEventKindEVENT_BLOCK_IO), Error: 256})
	for _, tc := range []struct {
		name string
		in   []byte
		want error
	}{
		{"short tcp", encode(t, tcpRecord(familyINET))[:80], ErrRecordSize},
		{"long block", append(encode(t, collectorBlockEvent{Kind: uint32(collectorEventKindEVENT_BLOCK_IO)}), 0), ErrRecordSize},
		{"short fault", []byte{5, 0, 0, 0}, ErrRecordSize},
		{"tcp family", badFamily, ErrRecordField},
		{"tcp count 0", encode(t, zeroCount), ErrRecordField},
		{"tcp padding", tcpPad, ErrRecordField},
		{"block flags", blockFlags, ErrRecordField},
		{"block status", blockErr, ErrRecordField},
	} {
		if _, err := DecodeRecord(tc.in); !errors.Is(err, tc.want) {
			t.Errorf("%s: err %v, want %v", tc.name, err, tc.want)
		}
	}
}

func TestParseCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5,7-8")
	if err != nil || !bytes.Equal(cpuBytes(got), cpuBytes([]int{0, 1, 2, 5, 7, 8})) {
		t.Errorf("parseCPUList = %v, %v", got, err)
	}
	for _, bad := range []string{"", "a", "3-1", "-1", "0-"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("parseCPUList(%q) accepted", bad)
		}
	}
}

func cpuBytes(cpus []int) []byte {
	b := make([]byte, len(cpus))
	for i, c := range cpus {
		b[i] = byte(c)
	}
	return b
}
