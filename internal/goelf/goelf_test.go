package goelf

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTableMatchesSymbols builds a program plainly, as PIE and with cgo,
// and checks that the function table places main.main where the symbol
// table does.
func TestTableMatchesSymbols(t *testing.T) {
	if _, err := exec.LookPath("cc"); err != nil {
		t.Fatalf("no C compiler for the cgo case: %v", err)
	}
	for _, tc := range []struct {
		name string
		env  []string
		args []string
	}{
		{"static", []string{"CGO_ENABLED=0"}, nil},
		{"pie", []string{"CGO_ENABLED=0"}, []string{"-buildmode=pie"}},
		{"cgo", []string{"CGO_ENABLED=1"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := filepath.Join(t.TempDir(), "hello")
			args := append(append([]string{"build", "-o", bin}, tc.args...), "./testdata/cgohello")
			if tc.name != "cgo" {
				args[len(args)-1] = "./testdata/plainhello"
			}
			cmd := exec.Command("go", args...)
			cmd.Env = append(cmd.Environ(), tc.env...)
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("go build: %v\n%s", err, out)
			}
			f, err := elf.Open(bin)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			tab, err := Table(f)
			if err != nil {
				t.Fatal(err)
			}
			fn := tab.LookupFunc("main.main")
			if fn == nil {
				t.Fatal("main.main not in the function table")
			}
			syms, err := f.Symbols()
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range syms {
				if s.Name == "main.main" && s.Value != fn.Entry {
					t.Errorf("function table puts main.main at %#x, the symbol table at %#x", fn.Entry, s.Value)
				}
			}
		})
	}
}

func TestNotGo(t *testing.T) {
	f, err := elf.Open("/bin/sh")
	if err != nil {
		t.Skipf("no /bin/sh to use as a non-Go binary: %v", err)
	}
	defer f.Close()
	if _, err := Table(f); err != ErrNotGo {
		t.Errorf("Table(/bin/sh) error %v, want ErrNotGo", err)
	}
}
