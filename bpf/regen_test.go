package bpf

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// generateArgs returns the bpf2go arguments of gen.go's go:generate line.
func generateArgs(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("gen.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(src), "\n") {
		if rest, ok := strings.CutPrefix(line, "//go:generate go tool bpf2go "); ok {
			return splitQuoted(rest)
		}
	}
	t.Fatal("gen.go has no bpf2go go:generate line")
	return nil
}

// splitQuoted splits on spaces, keeping "double-quoted" words together,
// as go generate does.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range s {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}

// TestGeneratedObjectsAreReproducible regenerates the bpf2go output twice
// and compares both runs with the committed files byte for byte.
func TestGeneratedObjectsAreReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("regenerating with clang is slow")
	}
	if _, err := exec.LookPath("clang"); err != nil {
		t.Skip("clang not installed: cannot regenerate the BPF objects (apt-get install clang llvm libbpf-dev)")
	}
	if _, err := os.Stat("/usr/include/bpf/bpf_helpers.h"); err != nil {
		t.Skip("libbpf headers not installed: cannot regenerate the BPF objects (apt-get install libbpf-dev)")
	}
	args := generateArgs(t)
	files := []string{"collector_bpfel.go", "collector_bpfel.o"}
	for run := range 2 {
		dir := t.TempDir()
		cmd := exec.Command("go", append([]string{"tool", "bpf2go", "-output-dir", dir}, args...)...)
		cmd.Env = append(os.Environ(), "GOPACKAGE=bpf", "GOFILE=gen.go")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("bpf2go run %d: %v\n%s", run, err, out)
		}
		for _, f := range files {
			want, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(filepath.Join(dir, f))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("run %d: regenerated %s (%d bytes) differs from the committed one (%d bytes): run ./regen.sh", run, f, len(got), len(want))
			}
		}
	}
}
