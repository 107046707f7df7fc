package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemo replays the embedded recorded incident: a verified root cause
// (the ledger's lock convoy on kernel and trace evidence) and the report's
// files where it says they went.
func TestDemo(t *testing.T) {
	out := filepath.Join(t.TempDir(), "demo")
	stdout, stderr, err := runCLI(t, "demo", "--out", out)
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, stderr)
	}
	for _, want := range []string{"**Status: root cause accepted**", "lock\\_convoy", "service `ledger`", "kernel.futex"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("demo report lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, "report in "+out) {
		t.Errorf("demo does not say where the report went: %s", stderr)
	}
	for _, f := range []string{"report.md", "report.json"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Error(err)
		}
	}
	if _, _, err := runCLI(t, "demo", "extra"); err == nil || !strings.Contains(err.Error(), "takes no arguments") {
		t.Errorf("demo extra: %v", err)
	}
}
