package hintelf

import (
	"bytes"
	"debug/elf"
	"errors"
	"fmt"

	"github.com/debugai/debugai/hint"
	"github.com/debugai/debugai/internal/goelf"
)

// Symbol names of the C markers (hint/c/debugai_hint.h).
const (
	CEnterSymbol = "debugai_span_enter"
	CExitSymbol  = "debugai_span_exit"
)

var (
	// ErrNoMarkers means the binary does not contain the markers (it does
	// not use hint, or the linker dropped them as unused).
	ErrNoMarkers = errors.New("no debugai span markers")
	// ErrSignature means a marker was found but does not start with
	// [hint.Signature]; attaching there would be slow or wrong.
	ErrSignature = errors.New("marker does not start with the 5-byte NOP and RET")
	// ErrNotAMD64 means the binary is for another architecture.
	ErrNotAMD64 = errors.New("not an x86-64 binary")
	// ErrMalformed means the ELF parsers gave up on the file.
	ErrMalformed = errors.New("malformed ELF file")
)

// ABI says where a probe at a marker's first byte finds the arguments
// (traceHi, traceLo, spanID).
type ABI int

const (
	// ABIGo is Go's ABI0: on the stack at SP+8, SP+16, SP+24; the
	// current goroutine in R14.
	ABIGo ABI = iota + 1
	// ABISysV is the C calling convention: RDI, RSI, RDX.
	ABISysV
)

// String returns "go" or "sysv".
func (a ABI) String() string {
	switch a {
	case ABIGo:
		return "go"
	case ABISysV:
		return "sysv"
	}
	return fmt.Sprintf("ABI(%d)", int(a))
}

// Marker is one marker function in a binary.
type Marker struct {
	Symbol string // name it was found under
	Addr   uint64 // virtual address (unrelocated)
	Offset uint64 // file offset: where a uprobe attaches
}

// Markers are the enter and exit markers of one binary.
type Markers struct {
	Enter, Exit Marker
	ABI         ABI
	// Source is the table the addresses came from: ".symtab", ".dynsym"
	// or ".gopclntab".
	Source string
}

// Find opens the ELF file at path and locates its markers.
func Find(path string) (m Markers, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return Markers{}, fmt.Errorf("opening %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	m, err = FindFile(f)
	if err != nil {
		return Markers{}, fmt.Errorf("%s: %w", path, err)
	}
	return m, nil
}

// FindFile locates the markers in an open ELF file. It returns an error,
// not a panic, on malformed input: debug/elf and debug/gosym do not promise
// to survive every file.
func FindFile(f *elf.File) (m Markers, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = Markers{}, fmt.Errorf("%w: %v", ErrMalformed, r)
		}
	}()
	if f.Machine != elf.EM_X86_64 {
		return Markers{}, fmt.Errorf("%w: %v", ErrNotAMD64, f.Machine)
	}
	tables := []struct {
		source string
		load   func() ([]elf.Symbol, error)
	}{{".symtab", f.Symbols}, {".dynsym", f.DynamicSymbols}}
	for _, tab := range tables {
		syms, err := tab.load()
		if errors.Is(err, elf.ErrNoSymbols) {
			continue
		} else if err != nil {
			return Markers{}, fmt.Errorf("reading %s: %w", tab.source, err)
		}
		if m, ok, err := fromSymbols(f, syms); err != nil || ok {
			m.Source = tab.source
			return m, err
		}
	}
	return fromPCLN(f)
}

// namePairs are the (enter, exit) names to try, with their ABI.
var namePairs = []struct {
	enter, exit string
	abi         ABI
}{
	{hint.EnterSymbol + ".abi0", hint.ExitSymbol + ".abi0", ABIGo},
	{hint.EnterSymbol, hint.ExitSymbol, ABIGo},
	{CEnterSymbol, CExitSymbol, ABISysV},
}

func fromSymbols(f *elf.File, syms []elf.Symbol) (Markers, bool, error) {
	addrs := make(map[string]uint64)
	for _, s := range syms {
		if elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Section != elf.SHN_UNDEF {
			addrs[s.Name] = s.Value
		}
	}
	for _, p := range namePairs {
		ea, eok := addrs[p.enter]
		xa, xok := addrs[p.exit]
		if !eok && !xok {
			continue
		}
		if !eok || !xok {
			return Markers{}, false, fmt.Errorf("%w: only one of %s and %s", ErrNoMarkers, p.enter, p.exit)
		}
		enter, err := marker(f, p.enter, ea)
		if err != nil {
			return Markers{}, false, err
		}
		exit, err := marker(f, p.exit, xa)
		if err != nil {
			return Markers{}, false, err
		}
		return Markers{Enter: enter, Exit: exit, ABI: p.abi}, true, nil
	}
	return Markers{}, false, nil
}

// fromPCLN looks the Go markers up in the Go function table. A marker may be
// listed twice under one name (the assembly body and its Go-ABI wrapper);
// the one that starts with the signature is the marker.
func fromPCLN(f *elf.File) (Markers, error) {
	tab, err := goelf.Table(f)
	if errors.Is(err, goelf.ErrNotGo) {
		return Markers{}, ErrNoMarkers
	} else if err != nil {
		return Markers{}, err
	}
	found := map[string]*Marker{}
	var firstErr error
	for _, fn := range tab.Funcs {
		if fn.Name != hint.EnterSymbol && fn.Name != hint.ExitSymbol || found[fn.Name] != nil {
			continue
		}
		m, err := marker(f, fn.Name, fn.Entry)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		found[fn.Name] = &m
	}
	enter, exit := found[hint.EnterSymbol], found[hint.ExitSymbol]
	switch {
	case enter != nil && exit != nil:
		return Markers{Enter: *enter, Exit: *exit, ABI: ABIGo, Source: ".gopclntab"}, nil
	case firstErr != nil:
		return Markers{}, firstErr
	}
	return Markers{}, ErrNoMarkers
}

// marker converts addr to a file offset through the executable PT_LOAD
// segment that holds it and checks the signature there.
func marker(f *elf.File, name string, addr uint64) (Marker, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 || addr < p.Vaddr || addr+uint64(len(hint.Signature)) > p.Vaddr+p.Filesz {
			continue
		}
		got := make([]byte, len(hint.Signature))
		if _, err := p.ReadAt(got, int64(addr-p.Vaddr)); err != nil {
			return Marker{}, fmt.Errorf("reading %s at %#x: %w", name, addr, err)
		}
		if !bytes.Equal(got, []byte(hint.Signature)) {
			return Marker{}, fmt.Errorf("%s at %#x starts with % x: %w", name, addr, got, ErrSignature)
		}
		return Marker{Symbol: name, Addr: addr, Offset: addr - p.Vaddr + p.Off}, nil
	}
	return Marker{}, fmt.Errorf("%s at %#x: not in an executable segment: %w", name, addr, ErrNoMarkers)
}
