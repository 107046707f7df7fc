package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/debugai/debugai/bench/loadgen"
	"github.com/debugai/debugai/bench/procstat"
)

const benchHostileUsage = `bench hostile [flags]

Measures serve's peak memory (VmHWM) under two hostile loads, each against a
fresh serve child process on loopback:

  bombs:    --bombs concurrent gzip bombs (--bomb-mb MiB of zeros, about
            1/1000 of that compressed; each is refused with 413 or 429)
  overload: --senders concurrent senders, each posting --requests
            protobuf requests of --spans spans as fast as answered
            (429 answers are counted, not retried)

It prints the peak RSS of each load and the answers by status. --serve-binary
runs another debugai build (e.g. an older one, for comparison).`

func runBenchHostile(ctx context.Context, args []string, env *cmdEnv) error {
	fs := newFlagSet("bench hostile", benchHostileUsage, env)
	bombs := fs.Int("bombs", 16, "concurrent gzip bombs")
	bombMB := fs.Int("bomb-mb", 1024, "decompressed size of one bomb, MiB")
	senders := fs.Int("senders", 64, "concurrent senders of the overload")
	requests := fs.Int("requests", 4, "requests per sender")
	spans := fs.Int("spans", 8000, "spans per overload request")
	serveBin := fs.String("serve-binary", "", "debugai binary to run serve from (default: this one)")
	serveArgs := fs.String("serve-args", "", "extra flags for serve, space-separated")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *bombs < 1 || *bombMB < 1 || *senders < 1 || *requests < 1 || *spans < 1 {
		return usagef("bench hostile: every count must be positive")
	}
	exe := *serveBin
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return err
		}
	}
	fmt.Fprintf(env.stderr, "building a %d MiB gzip bomb and %d bodies of %d spans...\n", *bombMB, *senders, *spans)
	var zb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	zero := make([]byte, 1<<20)
	for range *bombMB {
		if _, err := zw.Write(zero); err != nil {
			return err
		}
	}
	if err := zw.Close(); err != nil {
		return err
	}
	bodies, err := loadgen.Generate(loadgen.BodyConfig{Bodies: *senders, SpansPerBody: *spans, Seed: 1})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "bench hostile: %s, %d CPUs; serve %s %s\n", cpuModel(), runtime.NumCPU(), filepath.Base(exe), *serveArgs)

	bomb := zb.Bytes()
	peak, codes, err := hostileRun(ctx, exe, strings.Fields(*serveArgs), func(url string) map[int]int {
		return fire(url, *bombs, func(int) ([]byte, string) { return bomb, "gzip" })
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "bombs:    %d x %d MiB (%d bytes gzipped): peak RSS %.0f MiB; answers %s\n", *bombs, *bombMB, len(bomb), peak, fmtCodes(codes))

	peak, codes, err = hostileRun(ctx, exe, strings.Fields(*serveArgs), func(url string) map[int]int {
		all := map[int]int{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range *senders {
			wg.Go(func() {
				for range *requests {
					c := post(url, bodies[i], "")
					mu.Lock()
					all[c]++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return all
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "overload: %d senders x %d requests of %d spans (%d bytes each): peak RSS %.0f MiB; answers %s\n",
		*senders, *requests, *spans, len(bodies[0]), peak, fmtCodes(codes))
	return nil
}

// hostileRun starts serve, resets its peak after start-up, runs load and
// returns the peak RSS (MiB) during it and the answers by status.
func hostileRun(ctx context.Context, exe string, extra []string, load func(url string) map[int]int) (float64, map[int]int, error) {
	dir, err := os.MkdirTemp("", "debugai-bench-hostile-")
	if err != nil {
		return 0, nil, err
	}
	defer os.RemoveAll(dir)
	args := append([]string{"serve", "--store", filepath.Join(dir, "bench.duckdb"),
		"--listen", "127.0.0.1:0", "--grpc-listen", "", "--mcp-listen", "", "--log-level", "error"}, extra...)
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.Env = append(os.Environ(), "DEBUGAI_HMAC_KEY=bench-hostile-0123456789abcdef")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return 0, nil, err
	}
	if err := cmd.Start(); err != nil {
		return 0, nil, fmt.Errorf("starting serve: %w", err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return 0, nil, fmt.Errorf("serve did not start: %w", err)
	}
	go io.Copy(io.Discard, out)
	base := serveBanner(line)
	if base == "" {
		return 0, nil, fmt.Errorf("unexpected serve banner %q", line)
	}
	_ = procstat.ResetPeak(cmd.Process.Pid)
	codes := load(base + "/v1/traces")
	mem, err := procstat.Read(cmd.Process.Pid)
	if err != nil {
		return 0, nil, err
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	return float64(mem.Peak) / (1 << 20), codes, nil
}

// fire sends n requests at once and counts the answers (0: no answer).
func fire(url string, n int, body func(i int) ([]byte, string)) map[int]int {
	codes := map[int]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			b, ce := body(i)
			c := post(url, b, ce)
			mu.Lock()
			codes[c]++
			mu.Unlock()
		})
	}
	wg.Wait()
	return codes
}

var hostileClient = &http.Client{Timeout: 5 * time.Minute}

func post(url string, body []byte, ce string) int {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if ce != "" {
		req.Header.Set("Content-Encoding", ce)
	}
	resp, err := hostileClient.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func fmtCodes(m map[int]int) string {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%s x%d", name, m[k]))
	}
	return strings.Join(parts, ", ")
}
