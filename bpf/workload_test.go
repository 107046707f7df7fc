package bpf

import (
	"bufio"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// buildC compiles testdata/<name>.c with the system C compiler into a
// temporary directory.
func buildC(t testing.TB, name string) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Fatalf("no C compiler to build the %s workload: %v", name, err)
	}
	bin := filepath.Join(t.TempDir(), name)
	out, err := exec.Command(cc, "-O2", "-pthread", "-o", bin, filepath.Join("testdata", name+".c")).CombinedOutput()
	if err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// workload is a started test program that waits for a line on stdin.
type workload struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Scanner
}

func startWorkload(t testing.TB, bin string, args ...string) *workload {
	t.Helper()
	return startCmd(t, exec.Command(bin, args...))
}

// startCmd starts a prepared workload command.
func startCmd(t testing.TB, cmd *exec.Cmd) *workload {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	w := &workload{cmd: cmd, stdin: stdin, out: bufio.NewScanner(stdout)}
	t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	return w
}

// line reads the program's next output line.
func (w *workload) line(t testing.TB) string {
	t.Helper()
	if !w.out.Scan() {
		t.Fatalf("workload output ended early: %v", w.out.Err())
	}
	return strings.TrimSpace(w.out.Text())
}

// run releases the program and waits until it has printed "done" and
// exited: every probe on its threads has fired by then.
func (w *workload) run(t testing.TB) {
	t.Helper()
	if _, err := io.WriteString(w.stdin, "go\n"); err != nil {
		t.Fatalf("releasing workload: %v", err)
	}
	if got := w.line(t); got != "done" {
		t.Fatalf("workload printed %q, want done", got)
	}
	if err := w.cmd.Wait(); err != nil {
		t.Fatalf("workload: %v", err)
	}
}
