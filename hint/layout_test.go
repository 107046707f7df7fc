package hint_test

import (
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/debugai/debugai/hint"
	"github.com/debugai/debugai/hint/hintelf"
)

const program = `package main

import "github.com/debugai/debugai/hint"

func main() {
	tid, sid := [16]byte{1, 2, 3}, [8]byte{4, 5, 6}
	hint.Enter(tid, sid)
	hint.SpanEnter(1, 2, 3)
	hint.SpanExit(1, 2, 3)
	hint.Exit(tid, sid)
	println("ok")
}
`

// wrapperProgram takes SpanEnter's address, which makes the linker keep a
// Go-ABI wrapper named like the marker but not starting with the NOP.
const wrapperProgram = `package main

import "github.com/debugai/debugai/hint"

var sink func(traceHi, traceLo, spanID uint64)

func main() {
	sink = hint.SpanEnter
	sink(1, 2, 3)
	hint.SpanExit(1, 2, 3)
}
`

// buildProgram builds the Go program source with the extra go build flags
// and returns the binary's path. It builds from this package's directory so
// that the main module resolves the hint import to this checkout.
func buildProgram(t *testing.T, source string, flags ...string) string {
	t.Helper()
	dir := t.TempDir()
	src := writeFile(t, dir, "main.go", source)
	out := filepath.Join(dir, "prog")
	args := append(append([]string{"build", "-o", out}, flags...), src)
	run(t, ".", goTool(t), args...)
	return out
}

// TestLayout builds a program that imports hint, with and without a symbol
// table, and checks that the markers start with the 5-byte NOP and RET and
// are found where the package documentation says.
func TestLayout(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("the NOP layout is amd64-only")
	}
	stripped := []string{"-ldflags=-s -w"}
	cases := []struct {
		name, program, source string
		flags                 []string
		symbol                string
	}{
		{"symtab", program, ".symtab", nil, hint.EnterSymbol + ".abi0"},
		{"stripped", program, ".gopclntab", stripped, hint.EnterSymbol},
		{"wrapper/symtab", wrapperProgram, ".symtab", nil, hint.EnterSymbol + ".abi0"},
		{"wrapper/stripped", wrapperProgram, ".gopclntab", stripped, hint.EnterSymbol},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bin := buildProgram(t, c.program, c.flags...)
			if out := run(t, ".", bin); out != "" { // println writes to stderr
				t.Errorf("program wrote %q to stdout", out)
			}
			m, err := hintelf.Find(bin)
			if err != nil {
				t.Fatal(err)
			}
			if m.Source != c.source || m.Enter.Symbol != c.symbol || m.ABI != hintelf.ABIGo {
				t.Errorf("found %+v, want source %s, enter symbol %s, ABI go", m, c.source, c.symbol)
			}
			assertSignature(t, bin, m.Enter.Offset)
			assertSignature(t, bin, m.Exit.Offset)
		})
	}
}

// assertSignature reads the file at off directly, independently of hintelf.
func assertSignature(t *testing.T, path string, off uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := make([]byte, len(hint.Signature))
	if _, err := f.ReadAt(got, int64(off)); err != nil {
		t.Fatal(err)
	}
	if string(got) != hint.Signature {
		t.Errorf("%s at offset %#x: % x, want % x", filepath.Base(path), off, got, hint.Signature)
	}
}

// TestCallSitesRemain disassembles the program with go tool objdump: the
// markers are called, not inlined away or eliminated, and start with the
// NOP.
func TestCallSitesRemain(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 disassembly")
	}
	bin := buildProgram(t, program)
	dis := run(t, ".", goTool(t), "tool", "objdump", "-s", `^(main\.main|github\.com/debugai/debugai/hint\.(Enter|Exit|SpanEnter|SpanExit)(\.abi0)?)$`, bin)
	for _, c := range []struct {
		re   string
		min  int
		what string
	}{
		{`CALL github\.com/debugai/debugai/hint\.SpanEnter\.abi0\(SB\)`, 2, "calls to SpanEnter (direct and from Enter)"},
		{`CALL github\.com/debugai/debugai/hint\.SpanExit\.abi0\(SB\)`, 2, "calls to SpanExit (direct and from Exit)"},
		{`(?m)^TEXT github\.com/debugai/debugai/hint\.SpanEnter\.abi0\(SB\).*\n.*0f1f440000\s+NOPL.*\n.*c3\s+RET`, 1, "SpanEnter = NOPL; RET"},
		{`(?m)^TEXT github\.com/debugai/debugai/hint\.SpanExit\.abi0\(SB\).*\n.*0f1f440000\s+NOPL.*\n.*c3\s+RET`, 1, "SpanExit = NOPL; RET"},
	} {
		if n := len(regexp.MustCompile(c.re).FindAllString(dis, -1)); n < c.min {
			t.Errorf("%s: found %d, want at least %d\n%s", c.what, n, c.min, dis)
		}
	}
}

// TestTestBinaryMarkers checks the running test binary, which go test links
// without .symtab: the markers are found through .gopclntab.
func TestTestBinaryMarkers(t *testing.T) {
	if runtime.GOARCH != "amd64" {
		t.Skip("amd64 only")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := hintelf.Find(exe)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("test binary markers: %+v", m)
	assertSignature(t, exe, m.Enter.Offset)
	assertSignature(t, exe, m.Exit.Offset)
}
