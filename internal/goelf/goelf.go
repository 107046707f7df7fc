// Package goelf reads the Go function table (.gopclntab) of an ELF
// binary with the right text start: the runtime.text symbol when the
// binary has one (cgo and externally linked binaries put C code before
// Go's), else the .text section's address.
package goelf

import (
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrNotGo means the file has no Go function table.
var ErrNotGo = errors.New("no Go function table")

// TextStart is the address Go's function table counts from: the
// table's own textStart field (Go 1.18 and later) when the file holds it,
// else the runtime.text symbol, else the .text section's address.
func TextStart(f *elf.File) (uint64, error) {
	if sec := f.Section(".gopclntab"); sec != nil {
		hdr := make([]byte, 8+3*8)
		if _, err := sec.ReadAt(hdr, 0); err == nil {
			if start, ok := headerTextStart(hdr); ok {
				return start, nil
			}
		}
	}
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" {
				return s.Value, nil
			}
		}
	}
	text := f.Section(".text")
	if text == nil {
		return 0, fmt.Errorf("%w: no .text section", ErrNotGo)
	}
	return text.Addr, nil
}

// Table parses f's .gopclntab.
func Table(f *elf.File) (*gosym.Table, error) {
	sec := f.Section(".gopclntab")
	if sec == nil {
		return nil, ErrNotGo
	}
	pcln, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("reading .gopclntab: %w", err)
	}
	start, err := TextStart(f)
	if err != nil {
		return nil, err
	}
	tab, err := gosym.NewTable(nil, gosym.NewLineTable(pcln, start))
	if err != nil {
		return nil, fmt.Errorf("parsing .gopclntab: %w", err)
	}
	return tab, nil
}

// headerTextStart reads textStart from a Go 1.18+ pclntab header: magic
// (4 bytes), 2 pad bytes, minLC, ptrSize, nfunc, nfiles, textStart. In
// position-independent binaries the field is filled by a relocation and
// reads 0 in the file: then ok is false.
func headerTextStart(hdr []byte) (uint64, bool) {
	magic := binary.LittleEndian.Uint32(hdr)
	if magic != 0xfffffff0 && magic != 0xfffffff1 || hdr[7] != 8 {
		return 0, false
	}
	start := binary.LittleEndian.Uint64(hdr[8+2*8:])
	return start, start != 0
}

// DefaultGOffset is where a statically linked Go binary on linux/amd64
// keeps the current g: 8 bytes below the thread pointer (fsbase).
const DefaultGOffset = -8

// GOffset is the offset of the current g from the thread pointer (fsbase)
// in the Go executable f on linux/amd64. Externally linked (cgo) binaries
// share the executable's TLS block with C thread-locals: g sits at
// runtime.tlsg within the block, which ends at the thread pointer
// (x86-64 TLS variant II). Without a TLS segment or runtime.tlsg it is
// DefaultGOffset.
func GOffset(f *elf.File) int64 {
	var tls *elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_TLS {
			tls = p
		}
	}
	if tls == nil {
		return DefaultGOffset
	}
	syms, err := f.Symbols()
	if err != nil {
		return DefaultGOffset
	}
	for _, s := range syms {
		if s.Name == "runtime.tlsg" && elf.ST_TYPE(s.Info) == elf.STT_TLS {
			align := max(tls.Align, 1)
			size := (tls.Memsz + align - 1) / align * align
			return int64(s.Value) - int64(size)
		}
	}
	return DefaultGOffset
}
