package hintelf_test

import (
	"bytes"
	"debug/elf"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/debugai/debugai/hint"
	"github.com/debugai/debugai/hint/hintelf"
)

func requireAMD64(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skip("markers are located in linux/amd64 binaries")
	}
}

// TestFindTestBinary finds the markers in this test binary, which has no
// .symtab, through .gopclntab.
func TestFindTestBinary(t *testing.T) {
	requireAMD64(t)
	hint.SpanEnter(0, 0, 0) // link the markers in
	hint.SpanExit(0, 0, 0)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := hintelf.Find(exe)
	if err != nil {
		t.Fatal(err)
	}
	if m.Source != ".gopclntab" || m.ABI != hintelf.ABIGo || m.Enter.Symbol != hint.EnterSymbol || m.Exit.Symbol != hint.ExitSymbol {
		t.Errorf("Find = %+v", m)
	}
	if m.Enter.Addr == m.Exit.Addr || m.Enter.Offset == 0 {
		t.Errorf("implausible addresses: %+v", m)
	}
}

// buildC compiles src with cc into an executable and returns its path.
func buildC(t *testing.T, src string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler: %v", err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "main.c"), filepath.Join(dir, "prog")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(cc, "-O2", "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, b)
	}
	return out
}

func TestFindErrors(t *testing.T) {
	requireAMD64(t)
	cases := []struct {
		name, src string
		want      error
	}{
		{"no markers", "int main(void) { return 0; }\n", hintelf.ErrNoMarkers},
		{"ret first", `#include <stdint.h>
__attribute__((noinline)) void debugai_span_enter(uint64_t a, uint64_t b, uint64_t c) {}
__attribute__((noinline)) void debugai_span_exit(uint64_t a, uint64_t b, uint64_t c) {}
int main(void) { debugai_span_enter(1, 2, 3); debugai_span_exit(1, 2, 3); return 0; }
`, hintelf.ErrSignature},
		{"enter only", `.text
.globl debugai_span_enter
.type debugai_span_enter, @function
debugai_span_enter:
	.byte 0x0f, 0x1f, 0x44, 0x00, 0x00
	ret
.globl main
.type main, @function
main:
	xorl %eax, %eax
	ret
.section .note.GNU-stack,"",@progbits
`, hintelf.ErrNoMarkers},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin := buildCOrAsm(t, c.src)
			if m, err := hintelf.Find(bin); !errors.Is(err, c.want) {
				t.Errorf("Find = %+v, %v; want %v", m, err, c.want)
			}
		})
	}
}

// buildCOrAsm builds src as assembly when it starts with a directive.
func buildCOrAsm(t *testing.T, src string) string {
	t.Helper()
	if src[0] != '.' {
		return buildC(t, src)
	}
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skipf("no C compiler: %v", err)
	}
	dir := t.TempDir()
	in, out := filepath.Join(dir, "main.s"), filepath.Join(dir, "prog")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(cc, "-o", out, in).CombinedOutput(); err != nil {
		t.Fatalf("cc: %v\n%s", err, b)
	}
	return out
}

func TestFindNotAMD64(t *testing.T) {
	requireAMD64(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	b[18], b[19] = byte(elf.EM_AARCH64), 0 // e_machine, little-endian
	f, err := elf.NewFile(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hintelf.FindFile(f); !errors.Is(err, hintelf.ErrNotAMD64) {
		t.Errorf("FindFile(arm64) error = %v, want ErrNotAMD64", err)
	}
}

func TestFindMissingFile(t *testing.T) {
	if _, err := hintelf.Find(filepath.Join(t.TempDir(), "absent")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Find(absent) error = %v, want fs.ErrNotExist", err)
	}
}

func TestABIString(t *testing.T) {
	for abi, want := range map[hintelf.ABI]string{hintelf.ABIGo: "go", hintelf.ABISysV: "sysv", 0: "ABI(0)"} {
		if got := abi.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", int(abi), got, want)
		}
	}
}

// FuzzFindFile feeds corrupted copies of a small ELF file to FindFile: it
// must return markers or an error, never panic.
func FuzzFindFile(f *testing.F) {
	seed, err := os.ReadFile("/proc/self/exe")
	if err == nil && len(seed) > 4096 {
		f.Add(seed[:4096], uint16(0), byte(0))
	}
	f.Add([]byte("\x7fELF\x02\x01\x01"), uint16(5), byte(0xff))
	f.Fuzz(func(t *testing.T, data []byte, at uint16, val byte) {
		if int(at) < len(data) {
			data[at] = val
		}
		ef, err := elf.NewFile(bytes.NewReader(data))
		if err != nil {
			return
		}
		_, _ = hintelf.FindFile(ef)
	})
}
