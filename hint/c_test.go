package hint_test

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/debugai/debugai/hint/hintelf"
)

const cProgram = `#define DEBUGAI_HINT_IMPLEMENTATION
#include "debugai_hint.h"
#include <stdio.h>

int main(void)
{
	static const uint8_t trace_id[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
					     0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
	static const uint8_t span_id[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};

	debugai_hint_enter(trace_id, span_id);
	debugai_span_enter(1, 2, 3);
	debugai_span_exit(1, 2, 3);
	debugai_hint_exit(trace_id, span_id);
	printf("%016llx%016llx\n", (unsigned long long)debugai_hint_be64(trace_id),
	       (unsigned long long)debugai_hint_be64(trace_id + 8));
	return 0;
}
`

const cLibrary = `#define DEBUGAI_HINT_IMPLEMENTATION
#include "debugai_hint.h"

void handle(void) { debugai_span_enter(1, 2, 3); debugai_span_exit(1, 2, 3); }
`

// requireCC returns the path of the C compiler (cc, or $CC) or skips t.
func requireCC(t *testing.T, name string) string {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("the C marker layout is checked on linux/amd64")
	}
	p, err := exec.LookPath(name)
	if err != nil {
		t.Skipf("no C compiler %q: %v", name, err)
	}
	return p
}

// TestCHeader compiles hint/c/debugai_hint.h into programs with several
// compilers and flags, runs them, and checks that each marker starts with
// the 5-byte NOP and RET and is called from main.
func TestCHeader(t *testing.T) {
	include, err := filepath.Abs("c")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, compiler string
		flags          []string
	}{
		{"cc-O2", "cc", []string{"-O2"}},
		{"cc-O0", "cc", []string{"-O0"}},
		{"cc-O2-cet-lto", "cc", []string{"-O2", "-fcf-protection=full", "-flto"}},
		{"cc-O2-stripped", "cc", []string{"-O2", "-s"}}, // markers absent: expect an error
		{"clang-O2", "clang", []string{"-O2", "-fcf-protection=full"}},
		{"c++-O2", "c++", []string{"-O2", "-x", "c++"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cc := requireCC(t, c.compiler)
			dir := t.TempDir()
			src := writeFile(t, dir, "main.c", cProgram)
			bin := filepath.Join(dir, "prog")
			args := append(append([]string{"-Wall", "-Wextra", "-Werror", "-I", include}, c.flags...), "-o", bin, src)
			run(t, dir, cc, args...)
			if out := run(t, dir, bin); out != "4bf92f3577b34da6a3ce929d0e0e4736\n" {
				t.Errorf("program printed %q", out)
			}
			m, err := hintelf.Find(bin)
			if c.name == "cc-O2-stripped" {
				// A stripped C executable keeps no names for its own
				// functions; the collector needs a symbol table
				// (or the library build below, whose .dynsym survives).
				if err == nil {
					t.Errorf("found markers %+v in a stripped C executable", m)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if m.ABI != hintelf.ABISysV || m.Source != ".symtab" || m.Enter.Symbol != hintelf.CEnterSymbol {
				t.Errorf("found %+v, want ABI sysv in .symtab", m)
			}
			assertSignature(t, bin, m.Enter.Offset)
			assertSignature(t, bin, m.Exit.Offset)
			assertCCalls(t, bin)
		})
	}
}

// TestCSharedLibrary builds the header into a stripped shared library with
// hidden default visibility: the markers stay exported in .dynsym.
func TestCSharedLibrary(t *testing.T) {
	cc := requireCC(t, "cc")
	include, err := filepath.Abs("c")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := writeFile(t, dir, "lib.c", cLibrary)
	lib := filepath.Join(dir, "libhinted.so")
	run(t, dir, cc, "-Wall", "-Werror", "-O2", "-fPIC", "-shared", "-s", "-fvisibility=hidden", "-I", include, "-o", lib, src)
	m, err := hintelf.Find(lib)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != ".dynsym" || m.ABI != hintelf.ABISysV {
		t.Errorf("found %+v, want ABI sysv in .dynsym", m)
	}
	assertSignature(t, lib, m.Enter.Offset)
	assertSignature(t, lib, m.Exit.Offset)
}

// assertCCalls disassembles bin with binutils objdump, when installed, and
// checks that main calls both markers (twice each in cProgram).
func assertCCalls(t *testing.T, bin string) {
	t.Helper()
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Logf("no objdump, call sites not checked: %v", err)
		return
	}
	dis := run(t, ".", objdump, "-d", "--no-show-raw-insn", bin)
	for _, name := range []string{hintelf.CEnterSymbol, hintelf.CExitSymbol} {
		calls := regexp.MustCompile(`call\s+[0-9a-f]+ <`+name+`>`).FindAllString(dis, -1)
		if len(calls) < 2 {
			t.Errorf("%d calls to %s in %s, want 2", len(calls), name, filepath.Base(bin))
		}
		body := regexp.MustCompile(`<` + name + `>:\n\s+[0-9a-f]+:\s+nopl\s+0x0\(%rax,%rax,1\)\n\s+[0-9a-f]+:\s+ret`)
		if !body.MatchString(dis) {
			t.Errorf("objdump does not show %s as nopl; ret", name)
		}
	}
}
