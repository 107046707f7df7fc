// Package hintelf finds debugai's span markers (package
// [github.com/debugai/debugai/hint] in Go, hint/c/debugai_hint.h in C) in an
// ELF executable or shared library, for the node collector and for tests.
//
// [Find] returns each marker's virtual address and its file offset, which is
// what a uprobe is attached at (cilium/ebpf: link.UprobeOptions.Address), and
// the calling convention that says where the probe reads the arguments. It
// looks in .symtab and .dynsym first and falls back to .gopclntab, which Go
// binaries keep when they are stripped (-ldflags=-s, go test binaries), and
// it only reports an address whose bytes are [hint.Signature].
//
// It is a separate package so that services importing hint do not link
// debug/elf.
package hintelf
