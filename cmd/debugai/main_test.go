package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets a test re-execute this binary as the debugai command itself
// (DEBUGAI_TEST_MAIN=1), for tests that need a separate process: crash
// recovery and the one-writer-per-file rule.
func TestMain(m *testing.M) {
	if os.Getenv("DEBUGAI_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const testKey = "debugai-test-master-secret-0123456789"

// sharedTestdata returns a path under ../shared/testdata, skipping the test
// when that folder is absent (it always exists in CI).
func sharedTestdata(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "testdata", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("shared test data %s not found (it lives beside the repository in CI): %v", p, err)
	}
	return p
}

// runCLI runs debugai in-process and returns stdout, stderr and the error.
func runCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return out.String(), errb.String(), err
}

// runChild runs debugai as a separate process (this test binary
// re-executed), as a user would from another terminal.
func runChild(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "DEBUGAI_TEST_MAIN=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.String(), errb.String(), err
}

func TestHelpAndUnknownCommand(t *testing.T) {
	out, _, err := runCLI(t, "help")
	if err != nil || !strings.Contains(out, "import") || !strings.Contains(out, "serve") {
		t.Fatalf("help: err=%v out=%q", err, out)
	}
	_, errOut, err := runCLI(t, "frobnicate")
	if err == nil || exitCode(err, &bytes.Buffer{}) != 2 || !strings.Contains(errOut, "Commands:") {
		t.Fatalf("unknown command: err=%v stderr=%q", err, errOut)
	}
	_, errOut, err = runCLI(t, "import", "--help")
	if exitCode(err, &bytes.Buffer{}) != 0 || !strings.Contains(errOut, "-store") {
		t.Fatalf("import --help: err=%v stderr=%q", err, errOut)
	}
}
