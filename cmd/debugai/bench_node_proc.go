package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// nodeBench holds what the runs of bench node share.
type nodeBench struct {
	cfg    benchNodeConfig
	dir    string  // temporary directory
	svcExe string  // the copy of this executable that serves the workload
	iters  float64 // work-loop calibration, the same for every run
	sink   *discardSink
	stderr io.Writer
	secret string // DEBUGAI_HMAC_KEY of the node
}

// child is a started process with its first stdout line read.
type child struct {
	cmd  *exec.Cmd
	done chan struct{} // closed when Wait returned
	err  error         // Wait's error, once done is closed
}

// startChild starts bin and returns it with the first line it prints,
// killing it when no line comes within limit.
func startChild(ctx context.Context, stderr io.Writer, env []string, limit time.Duration, bin string, args ...string) (*child, string, error) {
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	first := &firstLine{line: make(chan string, 1)}
	cmd.Stdout, cmd.Stderr = first, stderr
	if err := cmd.Start(); err != nil {
		return nil, "", fmt.Errorf("starting %s: %w", filepath.Base(bin), err)
	}
	c := &child{cmd: cmd, done: make(chan struct{})}
	go func() { c.err = cmd.Wait(); close(c.done) }()
	timer := time.NewTimer(limit)
	defer timer.Stop()
	var err error
	select {
	case line := <-first.line:
		return c, line, nil
	case <-c.done:
		return nil, "", fmt.Errorf("%s exited before it was ready (%v); see its messages above", filepath.Base(bin), c.err)
	case <-timer.C:
		err = fmt.Errorf("%s printed nothing within %v", filepath.Base(bin), limit)
	case <-ctx.Done():
		err = ctx.Err()
	}
	_ = cmd.Process.Kill()
	<-c.done
	return nil, "", err
}

// firstLine is a child's stdout: it sends the first line on line and
// discards the rest.
type firstLine struct {
	mu   sync.Mutex
	buf  []byte
	sent bool
	line chan string // buffered: one line
}

func (f *firstLine) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sent {
		return len(p), nil
	}
	f.buf = append(f.buf, p...)
	if i := bytes.IndexByte(f.buf, '\n'); i >= 0 || len(f.buf) > 4096 {
		if i < 0 {
			i = len(f.buf)
		}
		f.line <- string(f.buf[:i])
		f.sent, f.buf = true, nil
	}
	return len(p), nil
}

// stop ends the child with SIGTERM (SIGKILL after 10 s) and reports an
// unclean exit.
func (c *child) stop(what string) error {
	select {
	case <-c.done:
		return fmt.Errorf("%s exited early: %v", what, c.err)
	default:
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
		return fmt.Errorf("%s did not stop within 10s of SIGTERM; killed", what)
	}
	if c.err != nil {
		return fmt.Errorf("%s: %w", what, c.err)
	}
	return nil
}

// startService serves the workload from the executable's copy and returns
// its base URL.
func (b *nodeBench) startService(ctx context.Context) (*child, string, error) {
	c, line, err := startChild(ctx, b.stderr, nil, 30*time.Second, b.svcExe, "workload", "mutex",
		"--listen", "127.0.0.1:0", "--work", b.cfg.work.String(), "--critical", b.cfg.critical.String(),
		"--iters-per-us", strconv.FormatFloat(b.iters, 'g', -1, 64))
	if err != nil {
		return nil, "", fmt.Errorf("workload: %w", err)
	}
	url, ok := strings.CutPrefix(line, "listening on ")
	if !ok || !strings.HasPrefix(url, "http://") {
		return nil, "", errors.Join(fmt.Errorf("workload: unexpected first line %q", line), c.stop("workload"))
	}
	return c, url, nil
}

// startNode starts the node collector on the workload's executable and
// returns its metrics URL.
func (b *nodeBench) startNode(ctx context.Context) (*child, string, error) {
	args := append([]string{"--exe", b.svcExe, "--metrics-listen", "127.0.0.1:0", "--endpoint", b.sink.url,
		"--key-file", filepath.Join(b.dir, "hmac.key"), "--log-level", "warn"}, b.cfg.nodeArgs...)
	c, line, err := startChild(ctx, b.stderr, []string{"DEBUGAI_HMAC_KEY=" + b.secret}, time.Minute, b.cfg.nodeBin, args...)
	if err != nil {
		return nil, "", fmt.Errorf("node collector: %w", err)
	}
	_, url, ok := strings.Cut(line, "metrics ")
	if !ok || !strings.HasPrefix(url, "http://") {
		return nil, "", errors.Join(fmt.Errorf("node collector: no metrics URL in %q", line), c.stop("node collector"))
	}
	return c, strings.TrimSpace(url), nil
}

// waitTargets polls the node's /metrics until it observes a target
// process.
func waitTargets(ctx context.Context, metricsURL string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		m, err := scrapeMetrics(metricsURL)
		if err == nil && m["debugai_node_targets"] >= 1 {
			return nil
		}
		if time.Now().After(deadline) {
			if err == nil {
				err = errors.New("debugai_node_targets is 0")
			}
			return fmt.Errorf("node collector found no target within %v: %w", limit, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

var metricsClient = &http.Client{Timeout: 5 * time.Second}

// scrapeMetrics reads a Prometheus text page: each metric name with the
// sum of its samples (labels dropped).
func scrapeMetrics(url string) (map[string]float64, error) {
	resp, err := metricsClient.Get(url)
	if err != nil {
		return nil, fmt.Errorf("reading node metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("reading node metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body)
}

func parseMetrics(r io.Reader) (map[string]float64, error) {
	m := map[string]float64{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			return nil, fmt.Errorf("reading node metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			return nil, fmt.Errorf("reading node metrics: line %q: %w", line, err)
		}
		name, _, _ := strings.Cut(line[:i], "{")
		m[name] += v
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading node metrics: %w", err)
	}
	return m, nil
}

// discardSink is an OTLP/HTTP endpoint that acknowledges everything and
// counts what it was sent.
type discardSink struct {
	url             string
	srv             *http.Server
	requests, bytes atomic.Int64
}

func startDiscardSink() (*discardSink, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("discard sink: %w", err)
	}
	s := &discardSink{url: "http://" + l.Addr().String() + "/v1/logs"}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = s.srv.Serve(l) }()
	return s, nil
}

func (s *discardSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := io.Copy(io.Discard, r.Body)
	s.requests.Add(1)
	s.bytes.Add(n)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK) // an empty ExportLogsServiceResponse
}

func (s *discardSink) close() { _ = s.srv.Close() }

// syncWriter serializes writes from the benchmark and its children.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
