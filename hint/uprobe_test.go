package hint_test

import (
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/debugai/debugai/internal/testenv"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/cilium/ebpf/link"

	"github.com/debugai/debugai/hint"
	"github.com/debugai/debugai/hint/hintelf"
)

// requireUprobes skips t unless uprobes can be attached here (amd64, root,
// a uprobe PMU), or fails it when DEBUGAI_REQUIRE_EBPF=1 says they must.
func requireUprobes(t testing.TB) {
	t.Helper()
	testenv.RequireUprobes(t)
}

// x86-64 struct pt_regs offsets.
const (
	ptRegsR14 = 8
	ptRegsDX  = 96
	ptRegsSI  = 104
	ptRegsDI  = 112
	ptRegsSP  = 152
)

// probeArgs is what the recording program stores per marker.
type probeArgs struct {
	TraceHi, TraceLo, SpanID, G uint64
}

// recorder is a BPF array map with one probeArgs slot per marker (0 enter,
// 1 exit) and programs that fill it.
type recorder struct {
	m *ebpf.Map
}

func newRecorder(t testing.TB) *recorder {
	t.Helper()
	m, err := ebpf.NewMap(&ebpf.MapSpec{Type: ebpf.Array, KeySize: 4, ValueSize: 32, MaxEntries: 2})
	if err != nil {
		t.Fatalf("creating map: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return &recorder{m: m}
}

// program returns a uprobe program that stores the marker's arguments in
// slot key: from the stack (Go ABI0) or from RDI, RSI, RDX (SysV), and R14.
func (r *recorder) program(t testing.TB, key int32, abi hintelf.ABI) *ebpf.Program {
	t.Helper()
	insns := asm.Instructions{asm.Mov.Reg(asm.R6, asm.R1)}
	switch abi {
	case hintelf.ABIGo: // bpf_probe_read_user(fp-32, 24, regs->sp+8)
		insns = append(insns,
			asm.LoadMem(asm.R3, asm.R6, ptRegsSP, asm.DWord),
			asm.Add.Imm(asm.R3, 8),
			asm.Mov.Reg(asm.R1, asm.RFP),
			asm.Add.Imm(asm.R1, -32),
			asm.Mov.Imm(asm.R2, 24),
			asm.FnProbeReadUser.Call(),
		)
	case hintelf.ABISysV:
		for i, off := range []int16{ptRegsDI, ptRegsSI, ptRegsDX} {
			insns = append(insns,
				asm.LoadMem(asm.R3, asm.R6, off, asm.DWord),
				asm.StoreMem(asm.RFP, int16(-32+8*i), asm.R3, asm.DWord))
		}
	}
	insns = append(insns,
		asm.LoadMem(asm.R7, asm.R6, ptRegsR14, asm.DWord),
		asm.StoreMem(asm.RFP, -8, asm.R7, asm.DWord),
		asm.StoreImm(asm.RFP, -36, int64(key), asm.Word),
		asm.LoadMapPtr(asm.R1, r.m.FD()),
		asm.Mov.Reg(asm.R2, asm.RFP),
		asm.Add.Imm(asm.R2, -36),
		asm.Mov.Reg(asm.R3, asm.RFP),
		asm.Add.Imm(asm.R3, -32),
		asm.Mov.Imm(asm.R4, 0),
		asm.FnMapUpdateElem.Call(),
		asm.Mov.Imm(asm.R0, 0),
		asm.Return(),
	)
	return loadProgram(t, insns)
}

// last returns the arguments of the last hit of slot key.
func (r *recorder) last(t testing.TB, key uint32) probeArgs {
	t.Helper()
	var v [32]byte
	if err := r.m.Lookup(key, &v); err != nil {
		t.Fatalf("reading slot %d: %v", key, err)
	}
	le := binary.LittleEndian
	return probeArgs{le.Uint64(v[0:]), le.Uint64(v[8:]), le.Uint64(v[16:]), le.Uint64(v[24:])}
}

// noopProgram returns a uprobe program that only returns 0: the probe cost
// without any work in it.
func noopProgram(t testing.TB) *ebpf.Program {
	return loadProgram(t, asm.Instructions{asm.Mov.Imm(asm.R0, 0), asm.Return()})
}

func loadProgram(t testing.TB, insns asm.Instructions) *ebpf.Program {
	t.Helper()
	p, err := ebpf.NewProgram(&ebpf.ProgramSpec{Type: ebpf.Kprobe, Instructions: insns, License: "Dual BSD/GPL"})
	if err != nil {
		t.Fatalf("loading program: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// attach puts prog at file offset off of the executable path, for process
// pid only when pid > 0.
func attach(t testing.TB, path string, off uint64, prog *ebpf.Program, pid int) {
	t.Helper()
	ex, err := link.OpenExecutable(path)
	if err != nil {
		t.Fatal(err)
	}
	l, err := ex.Uprobe("", prog, &link.UprobeOptions{Address: off, PID: pid})
	if err != nil {
		t.Fatalf("attaching uprobe at %s+%#x: %v", filepath.Base(path), off, err)
	}
	t.Cleanup(func() { l.Close() })
}

// selfMarkers finds the markers in the running test binary.
func selfMarkers(t testing.TB) (string, hintelf.Markers) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := hintelf.Find(exe)
	if err != nil {
		t.Fatal(err)
	}
	return exe, m
}

// TestUprobeArguments attaches recording uprobes to the markers of this
// test binary and checks the documented layout: ids at SP+8, SP+16, SP+24,
// the goroutine in R14. It repeats the calls because a kernel may run the
// first hit of a probe through a trap and later ones through an optimized
// path.
func TestUprobeArguments(t *testing.T) {
	requireUprobes(t)
	exe, m := selfMarkers(t)
	rec := newRecorder(t)
	attach(t, exe, m.Enter.Offset, rec.program(t, 0, m.ABI), os.Getpid())
	attach(t, exe, m.Exit.Offset, rec.program(t, 1, m.ABI), os.Getpid())

	runtime.LockOSThread() // one goroutine, so R14 must stay the same
	defer runtime.UnlockOSThread()
	var g uint64
	for i := range 5 {
		tid := [16]byte{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, byte(i), 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
		sid := [8]byte{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, byte(i)}
		hint.Enter(tid, sid)
		got := rec.last(t, 0)
		want := fmt.Sprintf("4bf92f3577b34d%02xa3ce929d0e0e4736/00f067aa0ba902%02x", i, i)
		if s := fmt.Sprintf("%016x%016x/%016x", got.TraceHi, got.TraceLo, got.SpanID); s != want {
			t.Errorf("call %d: enter probe read %s, want %s", i, s, want)
		}
		hint.SpanExit(uint64(i), 2, 3)
		if x := rec.last(t, 1); x.TraceHi != uint64(i) || x.TraceLo != 2 || x.SpanID != 3 {
			t.Errorf("call %d: exit probe read %+v, want %d, 2, 3", i, x, i)
		}
		switch {
		case got.G == 0:
			t.Errorf("call %d: R14 is 0", i)
		case g != 0 && got.G != g:
			t.Errorf("call %d: R14 %#x, earlier %#x on the same goroutine", i, got.G, g)
		}
		g = got.G
	}

	done := make(chan probeArgs)
	go func() {
		hint.SpanEnter(7, 8, 9)
		done <- rec.last(t, 0)
	}()
	if other := <-done; other.G == g || other.G == 0 {
		t.Errorf("R14 on another goroutine = %#x, main goroutine %#x", other.G, g)
	}
}

// TestUprobeCArguments runs a C program built with the header under
// recording uprobes: arguments in RDI, RSI, RDX.
func TestUprobeCArguments(t *testing.T) {
	requireUprobes(t)
	cc := requireCC(t, "cc")
	include, err := filepath.Abs("c")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "prog")
	run(t, dir, cc, "-O2", "-I", include, "-o", bin, writeFile(t, dir, "main.c", cProgram))
	m, err := hintelf.Find(bin)
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder(t)
	attach(t, bin, m.Enter.Offset, rec.program(t, 0, m.ABI), 0)
	attach(t, bin, m.Exit.Offset, rec.program(t, 1, m.ABI), 0)
	run(t, dir, bin)
	if e := rec.last(t, 0); e.TraceHi != 1 || e.TraceLo != 2 || e.SpanID != 3 {
		t.Errorf("last enter: %+v, want 1, 2, 3", e)
	}
	x := rec.last(t, 1)
	if s := fmt.Sprintf("%016x%016x/%016x", x.TraceHi, x.TraceLo, x.SpanID); s != "4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7" {
		t.Errorf("last exit: %s", s)
	}
}

// retFirst compiles to a lone RET: the hook shape the markers avoid.
//
//go:noinline
func retFirst(traceHi, traceLo, spanID uint64) {}

// retFirstOffset is retFirst's file offset in the test binary.
func retFirstOffset(t testing.TB, exe string) uint64 {
	t.Helper()
	addr := uint64(runtime.FuncForPC(reflect.ValueOf(retFirst).Pointer()).Entry())
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && p.Vaddr <= addr && addr < p.Vaddr+p.Filesz {
			b := make([]byte, 1)
			if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil || b[0] != 0xc3 {
				t.Fatalf("retFirst at %#x does not start with RET: % x %v", addr, b, err)
			}
			return addr - p.Vaddr + p.Off
		}
	}
	t.Fatal(errors.New("retFirst not in an executable segment"))
	return 0
}

// pairCost returns the mean time of n enter+exit pairs through f.
func pairCost(n int, f func(traceHi, traceLo, spanID uint64)) time.Duration {
	start := time.Now()
	for i := range n {
		f(uint64(i), 2, 3)
		f(uint64(i), 2, 3)
	}
	return time.Since(start) / time.Duration(n)
}

// TestUprobeCost checks that a probed marker pair is much cheaper than a
// probed RET-first function pair, the reason the markers exist.
func TestUprobeCost(t *testing.T) {
	requireUprobes(t)
	exe, m := selfMarkers(t)
	noop := noopProgram(t)
	attach(t, exe, m.Enter.Offset, noop, os.Getpid())
	attach(t, exe, retFirstOffset(t, exe), noop, os.Getpid())
	pairCost(50, hint.SpanEnter) // let the kernel optimize the probe
	pairCost(50, retFirst)
	nop := pairCost(2000, hint.SpanEnter)
	ret := pairCost(200, retFirst)
	t.Logf("per enter+exit pair with a uprobe: 5-byte NOP first %v, RET first %v", nop, ret)
	if nop*3 > ret {
		t.Errorf("NOP-first pair %v is not much cheaper than RET-first pair %v", nop, ret)
	}
}

// BenchmarkPairUprobe measures hint.Enter plus hint.Exit with a uprobe
// running an empty BPF program on each marker (nop5), and the same with
// the probes on a RET-first function for comparison (ret).
func BenchmarkPairUprobe(b *testing.B) {
	requireUprobes(b)
	exe, m := selfMarkers(b)
	noop := noopProgram(b)
	b.Run("nop5", func(b *testing.B) {
		attach(b, exe, m.Enter.Offset, noop, os.Getpid())
		attach(b, exe, m.Exit.Offset, noop, os.Getpid())
		tid, sid := [16]byte{1, 2, 3}, [8]byte{4, 5, 6}
		for b.Loop() {
			hint.Enter(tid, sid)
			hint.Exit(tid, sid)
		}
	})
	b.Run("ret", func(b *testing.B) {
		attach(b, exe, retFirstOffset(b, exe), noop, os.Getpid())
		for b.Loop() {
			retFirst(1, 2, 3)
			retFirst(1, 2, 3)
		}
	})
}

// BenchmarkPairNoProbe measures an enter+exit pair with nothing attached:
// through hint.Enter and hint.Exit (ids), and calling the markers directly
// (markers).
func BenchmarkPairNoProbe(b *testing.B) {
	b.Run("ids", func(b *testing.B) {
		tid, sid := [16]byte{1, 2, 3}, [8]byte{4, 5, 6}
		for b.Loop() {
			hint.Enter(tid, sid)
			hint.Exit(tid, sid)
		}
	})
	b.Run("markers", func(b *testing.B) {
		for b.Loop() {
			hint.SpanEnter(1, 2, 3)
			hint.SpanExit(1, 2, 3)
		}
	})
}
