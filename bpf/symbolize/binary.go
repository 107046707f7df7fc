package symbolize

import (
	"debug/dwarf"
	"debug/elf"
	"debug/gosym"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"

	"github.com/debugai/debugai/internal/goelf"
)

// symbol is a function or data object of a binary.
type symbol struct {
	name       string
	addr, size uint64
}

// lineRow is one DWARF line-table row: code from addr on is at file:line.
type lineRow struct {
	addr uint64
	file string
	line int
}

// binary is a parsed ELF file: what symbolizing needs of it. Code tables
// (the Go function table, DWARF lines: large for big binaries) load on the
// first code lookup, so naming locks by data symbol stays cheap.
type binary struct {
	path  string
	open  string // path to open it again
	progs []elf.ProgHeader
	funcs []symbol // sorted by addr
	objs  []symbol // data objects, sorted by addr

	codeOnce sync.Once
	gotab    *gosym.Table
	lines    []lineRow // sorted by addr; nil for Go binaries
}

// loadCode parses the code tables once.
func (b *binary) loadCode() {
	b.codeOnce.Do(func() {
		f, err := elf.Open(b.open)
		if err != nil {
			return
		}
		defer f.Close()
		defer func() { _ = recover() }() // a malformed table: no code lookups
		if b.gotab = goTable(f); b.gotab == nil {
			b.lines = dwarfLines(f)
		}
	})
}

// openBinary parses the file at path (display names it in errors).
func openBinary(path, display string) (b *binary, err error) {
	f, err := elf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", display, err)
	}
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("%s: malformed ELF file: %v", display, r)
		}
		err = errors.Join(err, f.Close())
	}()
	b = &binary{path: display, open: path}
	for _, p := range f.Progs {
		b.progs = append(b.progs, p.ProgHeader)
	}
	for _, load := range []func() ([]elf.Symbol, error){f.Symbols, f.DynamicSymbols} {
		syms, err := load()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return nil, fmt.Errorf("%s: reading symbols: %w", display, err)
		}
		for _, s := range syms {
			if s.Section == elf.SHN_UNDEF || s.Value == 0 {
				continue
			}
			switch elf.ST_TYPE(s.Info) {
			case elf.STT_FUNC:
				b.funcs = append(b.funcs, symbol{s.Name, s.Value, s.Size})
			case elf.STT_OBJECT, elf.STT_TLS:
				b.objs = append(b.objs, symbol{s.Name, s.Value, s.Size})
			}
		}
	}
	sortSymbols(b.funcs)
	sortSymbols(b.objs)
	return b, nil
}

func sortSymbols(s []symbol) {
	sort.Slice(s, func(i, j int) bool {
		if s[i].addr != s[j].addr {
			return s[i].addr < s[j].addr
		}
		return s[i].name < s[j].name
	})
}

// goTable parses .gopclntab, or returns nil for non-Go binaries.
func goTable(f *elf.File) *gosym.Table {
	tab, err := goelf.Table(f)
	if err != nil {
		return nil
	}
	return tab
}

// dwarfLines flattens the DWARF line tables; nil without DWARF.
func dwarfLines(f *elf.File) []lineRow {
	d, err := f.DWARF()
	if err != nil {
		return nil
	}
	var rows []lineRow
	r := d.Reader()
	for {
		cu, err := r.Next()
		if err != nil || cu == nil {
			break
		}
		if cu.Tag != dwarf.TagCompileUnit {
			r.SkipChildren()
			continue
		}
		lr, err := d.LineReader(cu)
		r.SkipChildren()
		if err != nil || lr == nil {
			continue
		}
		var e dwarf.LineEntry
		for lr.Next(&e) == nil {
			file := ""
			if e.File != nil {
				file = e.File.Name
			}
			if e.EndSequence {
				file = "" // a gap up to the next sequence
			}
			rows = append(rows, lineRow{e.Address, file, e.Line})
		}
	}
	sort.SliceStable(rows, func(i, j int) bool { return rows[i].addr < rows[j].addr })
	return rows
}

// bias is the load bias of the binary given its first mapping in a
// process: 0 for fixed-address executables, the base for PIE and
// libraries.
func (b *binary) bias(first mapping) (uint64, error) {
	page := uint64(os.Getpagesize())
	for _, p := range b.progs {
		if p.Type != elf.PT_LOAD {
			continue
		}
		if off := p.Off &^ (page - 1); off == first.offset {
			return first.start - (p.Vaddr - (p.Off - off)), nil
		}
	}
	return 0, fmt.Errorf("%s: no loadable segment at file offset %#x", b.path, first.offset)
}

// code symbolizes a code address (link-time).
func (b *binary) code(vaddr uint64) (Site, bool) {
	b.loadCode()
	if b.gotab != nil {
		file, line, fn := b.gotab.PCToLine(vaddr)
		if fn != nil {
			return Site{Func: fn.Name, File: file, Line: line}, true
		}
	}
	var site Site
	if s, ok := lookup(b.funcs, vaddr); ok {
		site.Func = s.name
	}
	if i := sort.Search(len(b.lines), func(i int) bool { return b.lines[i].addr > vaddr }) - 1; i >= 0 && b.lines[i].file != "" {
		site.File, site.Line = b.lines[i].file, b.lines[i].line
	}
	return site, site.Func != "" || site.File != ""
}

// data names the data symbol holding vaddr.
func (b *binary) data(vaddr uint64) (string, bool) {
	s, ok := lookup(b.objs, vaddr)
	if !ok {
		return "", false
	}
	if vaddr == s.addr {
		return s.name, true
	}
	return s.name + "+" + strconv.FormatUint(vaddr-s.addr, 10), true
}

// lookup finds the symbol whose [addr, addr+size) holds vaddr (size 0:
// only its address).
func lookup(syms []symbol, vaddr uint64) (symbol, bool) {
	i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > vaddr }) - 1
	// Several symbols may start at one address; take one that covers vaddr.
	for j := i; j >= 0 && syms[j].addr == syms[i].addr; j-- {
		if vaddr < syms[j].addr+max(syms[j].size, 1) {
			return syms[j], true
		}
	}
	return symbol{}, false
}
