package bpf

import (
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"

	"github.com/debugai/debugai/internal/goelf"
	"golang.org/x/arch/x86/x86asm"
)

// Go runtime functions behind contended sync.Mutex waits, newest names
// first (internal/sync since Go 1.24, sync before).
var (
	goSemacquireSymbols = []string{"internal/sync.runtime_SemacquireMutex", "sync.runtime_SemacquireMutex"}
	goSemreleaseSymbols = []string{"internal/sync.runtime_Semrelease", "sync.runtime_Semrelease"}
)

// AttachGoLockWaits puts uprobes on the contended path of sync.Mutex in the
// Go executable at path: the entry and every RET of runtime_SemacquireMutex
// (a wait and its end; a uretprobe would corrupt Go's movable stacks) and
// the entry of runtime_Semrelease (the holder handing over). Waits at or
// above Config.FutexThreshold are reported as FutexWait records with
// Syscall SyscallGoSema. The functions are never inlined, so this works in
// normally built binaries.
func (c *Collector) AttachGoLockWaits(path string) (Probed, error) {
	acq, acqName, err := goFunc(path, goSemacquireSymbols)
	if err != nil {
		return Probed{}, err
	}
	rel, relName, err := goFunc(path, goSemreleaseSymbols)
	if err != nil {
		return Probed{}, err
	}
	p := Probed{Path: path, Symbols: map[string]uint64{acqName: acq.offset, relName: rel.offset}}
	probes := []uprobeAt{{acq.body, c.objs.GoSemaAcquire}, {rel.body, c.objs.GoSemaRelease}}
	for _, r := range acq.rets {
		probes = append(probes, uprobeAt{r, c.objs.GoSemaAcquired})
	}
	return p, c.attachSet("go-waits", path, 0, probes)
}

// funcCode is a function's file offset, the file offset of its first
// instruction past the stack-split check (where entry probes go), and the
// file offsets of its RET instructions.
type funcCode struct {
	offset uint64
	body   uint64
	rets   []uint64
}

// goFunc finds the first of names in the Go binary at path and its RETs.
func goFunc(path string, names []string) (fc funcCode, name string, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return funcCode{}, "", fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() {
		if r := recover(); r != nil {
			fc, err = funcCode{}, fmt.Errorf("%s: malformed ELF file: %v", path, r)
		}
		err = errors.Join(err, f.Close())
	}()
	tab := goSymTable(f)
	if tab == nil {
		return funcCode{}, "", fmt.Errorf("%s: no Go function table (not a Go binary): %w", path, ErrNoSymbols)
	}
	for _, name := range names {
		fn := tab.LookupFunc(name)
		if fn == nil {
			continue
		}
		code, off, err := funcBytes(f, fn.Entry, fn.End)
		if err != nil {
			return funcCode{}, "", fmt.Errorf("%s: %s: %w", path, name, err)
		}
		rets := retOffsets(code, off)
		if len(rets) == 0 {
			return funcCode{}, "", fmt.Errorf("%s: %s has no RET instruction", path, name)
		}
		return funcCode{offset: off, body: off + uint64(stackCheckEnd(code)), rets: rets}, name, nil
	}
	return funcCode{}, "", fmt.Errorf("%s: none of %v: %w", path, names, ErrNoSymbols)
}

func goSymTable(f *elf.File) *gosym.Table {
	tab, err := goelf.Table(f)
	if err != nil {
		return nil
	}
	return tab
}

// funcBytes reads the code of [entry, end) and returns its file offset.
func funcBytes(f *elf.File, entry, end uint64) ([]byte, uint64, error) {
	off, ok := fileOffset(f, entry)
	if !ok || end <= entry || end-entry > 1<<20 {
		return nil, 0, fmt.Errorf("function at %#x..%#x not in an executable segment", entry, end)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && entry >= p.Vaddr && end <= p.Vaddr+p.Filesz {
			code := make([]byte, end-entry)
			if _, err := p.ReadAt(code, int64(entry-p.Vaddr)); err != nil {
				return nil, 0, fmt.Errorf("reading code: %w", err)
			}
			return code, off, nil
		}
	}
	return nil, 0, fmt.Errorf("function at %#x..%#x crosses segments", entry, end)
}

// retOffsets decodes x86-64 code starting at file offset base and returns
// the file offsets of its RET instructions. Decoding stops at the first
// undecodable byte (padding after the function's last instruction).
func retOffsets(code []byte, base uint64) []uint64 {
	var rets []uint64
	for pc := 0; pc < len(code); {
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			break
		}
		if inst.Op == x86asm.RET {
			rets = append(rets, base+uint64(pc))
		}
		pc += inst.Len
	}
	return rets
}

// stackCheckEnd returns the length of the stack-split check a Go function
// starts with (amd64, ABIInternal, g in R14), or 0 when it has none (a
// NOSPLIT leaf, assembly):
//
//	CMPQ SP, 16(R14); JBE morestack                          small frames
//	LEAQ -n(SP), R12; CMPQ R12, 16(R14); JBE morestack       larger frames
//	MOVQ SP, R12; SUBQ $n, R12; JB morestack;
//	CMPQ R12, 16(R14); JBE morestack                         huge frames
//
// When the check fails (the stack must grow, or the scheduler asked for a
// preemption through stackguard0), the function calls runtime.morestack
// and jumps back to its first instruction, so a uprobe there fires twice
// for one call. Entry probes go past the check instead: the check only
// reads SP and g and writes R12, so the arguments, g and the return
// address at the top of the stack are still those of the entry.
func stackCheckEnd(code []byte) int {
	pc := 0
	for range 5 {
		if pc >= len(code) {
			return 0
		}
		inst, err := x86asm.Decode(code[pc:], 64)
		if err != nil || inst.Len == 0 {
			return 0
		}
		pc += inst.Len
		switch {
		case inst.Op == x86asm.CMP && isStackGuard(inst.Args[1]) && (inst.Args[0] == x86asm.RSP || inst.Args[0] == x86asm.R12):
			next, err := x86asm.Decode(code[pc:], 64)
			if err != nil || next.Op != x86asm.JBE {
				return 0
			}
			return pc + next.Len
		case inst.Op == x86asm.JB:
			// huge frames: SP - n underflowed
		case (inst.Op == x86asm.LEA || inst.Op == x86asm.MOV || inst.Op == x86asm.SUB) && inst.Args[0] == x86asm.R12:
		default:
			return 0
		}
	}
	return 0
}

// isStackGuard reports whether a is g.stackguard0: 16(R14).
func isStackGuard(a x86asm.Arg) bool {
	m, ok := a.(x86asm.Mem)
	return ok && m.Base == x86asm.R14 && m.Disp == 16 && m.Index == 0 && m.Segment == 0
}
