package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/debugai/debugai/internal/testenv"
)

// requireEBPF skips t when the machine cannot load the probes, or fails it
// when DEBUGAI_REQUIRE_EBPF=1 says it must (as node/node_test.go does).
func requireEBPF(t testing.TB) {
	t.Helper()
	testenv.RequireEBPF(t)
}

// TestBenchNode runs a tiny bench node: the children are copies of this
// test binary, re-executed as debugai (DEBUGAI_TEST_MAIN=1).
func TestBenchNode(t *testing.T) {
	requireEBPF(t)
	if testing.Short() {
		t.Skip("builds debugai-node and runs the collector: not in -short")
	}
	nodeBin := filepath.Join(t.TempDir(), "debugai-node")
	build := exec.Command("go", "build", "-o", nodeBin, "../debugai-node")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building debugai-node: %v\n%s", err, out)
	}
	t.Setenv("DEBUGAI_TEST_MAIN", "1")
	out, errOut, err := runCLI(t, "bench", "node", "--rounds", "1", "--duration", "1500ms", "--warmup", "300ms",
		"--rate", "200", "--node-bin", nodeBin)
	if err != nil {
		t.Fatalf("bench node: %v\nstderr:\n%s", err, errOut)
	}
	rows := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[0] == "1" {
			rows[f[1]] = f
		}
	}
	without, with := rows["without"], rows["with"]
	if len(without) != 15 || len(with) != 15 {
		t.Fatalf("want a row per mode of 15 columns, got without=%q with=%q in\n%s", without, with, out)
	}
	num := func(f []string, i int) float64 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			t.Fatalf("column %d of %q: %v", i, f, err)
		}
		return v
	}
	for _, f := range [][]string{without, with} {
		if rps := num(f, 2); rps < 150 || rps > 210 {
			t.Errorf("%s: %v req/s, want about 200", f[1], rps)
		}
		if p50, p99 := num(f, 3), num(f, 4); p50 <= 0 || p99 < p50 || p99 > 1000 {
			t.Errorf("%s: p50 %v p99 %v ms: not sane", f[1], p50, p99)
		}
		if errs, shed := num(f, 7), num(f, 8); errs != 0 || shed != 0 {
			t.Errorf("%s: %v errors, %v shed", f[1], errs, shed)
		}
		if cpu := num(f, 9); cpu < 50 || cpu > 20000 {
			t.Errorf("%s: service CPU %v ms per 1000 requests: not sane (the work alone is 150)", f[1], cpu)
		}
	}
	// Node CPU is read in clock ticks (10 ms): a quiet 1.5 s run may use none.
	if cpu, rss, events := num(with, 10), num(with, 11), num(with, 12); cpu < 0 || rss < 1 || rss > 4096 || events <= 0 {
		t.Errorf("node CPU %v s, peak RSS %v MB, %v events: not sane", cpu, rss, events)
	}
	for _, want := range []string{"ratio of medians", "node collector (medians per run)"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestBenchNodeFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"zero rounds", []string{"--rounds", "0"}, 2, "--rounds 0"},
		{"zero rate", []string{"--rate", "0"}, 2, "rate 0"},
		{"negative duration", []string{"--duration", "-1s"}, 2, "duration"},
		{"negative work", []string{"--critical", "-1ms"}, 2, "must not be negative"},
		{"argument", []string{"extra"}, 2, "takes no arguments"},
		{"unknown flag", []string{"--frob"}, 2, "frob"},
		{"missing node binary", []string{"--node-bin", "/nonexistent/debugai-node"}, 1, "CGO_ENABLED=0 go build -o /nonexistent/debugai-node ./cmd/debugai-node"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, err := runCLI(t, append([]string{"bench", "node"}, tt.args...)...)
			if code := exitCode(err, &bytes.Buffer{}); code != tt.wantCode || err == nil ||
				!strings.Contains(err.Error()+errOut, tt.wantErr) {
				t.Fatalf("exit %d err %v, want exit %d and %q", code, err, tt.wantCode, tt.wantErr)
			}
		})
	}
}

func TestBenchNodeNeedsRoot(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("running as root")
	}
	_, _, err := runCLI(t, "bench", "node", "--node-bin", os.Args[0])
	if err == nil || !strings.Contains(err.Error(), "needs root") || exitCode(err, &bytes.Buffer{}) != 1 {
		t.Fatalf("bench node as non-root = %v, want a 'needs root' error", err)
	}
}

func TestParseMetrics(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    map[string]float64
		wantErr string
	}{
		{"labels summed", "# HELP x y\n# TYPE x counter\nx{type=\"a\"} 2\nx{type=\"b\"} 3\ny 1.5e+06\n\n",
			map[string]float64{"x": 5, "y": 1.5e6}, ""},
		{"label value with a space", "x{a=\"b c\"} 4\n", map[string]float64{"x": 4}, ""},
		{"no value", "x\n", nil, "malformed"},
		{"bad value", "x abc\n", nil, "abc"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMetrics(strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(got) != len(tt.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s = %v, want %v", k, got[k], v)
				}
			}
		})
	}
}

// TestWorkloadMutex serves the workload as a separate process, as bench
// node does: it prints its address, serves, and exits 0 on SIGTERM.
func TestWorkloadMutex(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	var errb bytes.Buffer
	c, line, err := startChild(t.Context(), &errb, []string{"DEBUGAI_TEST_MAIN=1"}, 30*time.Second, exe,
		"workload", "mutex", "--listen", "127.0.0.1:0", "--iters-per-us", "100")
	if err != nil {
		t.Fatal(err)
	}
	url, ok := strings.CutPrefix(line, "listening on http://")
	if !ok {
		_ = c.stop("workload")
		t.Fatalf("first line %q", line)
	}
	for path, want := range map[string]string{"/healthz": "ok\n", "/work": "ok 1"} {
		resp, err := http.Get("http://" + url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(body) != want {
			t.Errorf("GET %s = %d %q, want %q", path, resp.StatusCode, body, want)
		}
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-c.done
	if c.err != nil || !strings.Contains(errb.String(), "served 1 requests") {
		t.Fatalf("exit %v, stderr %q", c.err, errb.String())
	}
}

func TestWorkloadFlags(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string
	}{
		{"no workload", nil, 2, "want a workload name"},
		{"unknown workload", []string{"disk"}, 2, "want a workload name"},
		{"negative work", []string{"mutex", "--work", "-1ms"}, 2, "must not be negative"},
		{"bad calibration", []string{"mutex", "--iters-per-us", "-3"}, 2, "iterations per microsecond"},
		{"argument", []string{"mutex", "x"}, 2, "takes no arguments"},
		{"bad listen address", []string{"mutex", "--listen", "nope"}, 1, "listener"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := runCLI(t, append([]string{"workload"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || exitCode(err, &bytes.Buffer{}) != tt.wantCode {
				t.Fatalf("err %v, want exit %d with %q", err, tt.wantCode, tt.wantErr)
			}
		})
	}
}
