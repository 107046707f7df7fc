package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/bench/hist"
)

// RunConfig says where and how hard [Run] sends. Zero fields take the value
// of [DefaultRunConfig]; URL and Bodies are required, and so is at least one
// of Duration and MaxRequests, so that every run stops by itself.
type RunConfig struct {
	// URL is the full OTLP/HTTP traces endpoint, e.g.
	// http://127.0.0.1:4318/v1/traces. Run sends to it and nowhere else.
	URL string
	// Bodies are the request bodies, as [Generate] returns them; Run sends
	// them round-robin. A body starting with the gzip magic number is sent
	// with Content-Encoding: gzip.
	Bodies [][]byte
	// Concurrency is the number of workers, each with at most one request in
	// flight over a keep-alive connection (default 4).
	Concurrency int
	// Duration stops the issuing of new requests after this long. Requests
	// in flight then complete; a body waiting to be retried is abandoned.
	Duration time.Duration
	// MaxRequests stops after this many bodies have been sent to completion
	// (acknowledged, or given up on). Throttled bodies are retried until
	// acknowledged, so with MaxRequests alone nothing is lost.
	MaxRequests int64
	// RequestTimeout bounds each attempt (default 30s).
	RequestTimeout time.Duration
	// MaxAttempts bounds the attempts per body, the first included
	// (default 100); after that the body counts as an error.
	MaxAttempts int
	// MaxBackoff caps every wait between attempts, a server's Retry-After
	// included (default 10s).
	MaxBackoff time.Duration
	// Header holds extra headers for every request (e.g. authorisation).
	Header http.Header
	// Client sends the requests. Nil means a client of Run's own with
	// Concurrency keep-alive connections and no proxy, closed when Run
	// returns. Whatever the Client's CheckRedirect, Run follows no redirect.
	Client *http.Client
}

// DefaultRunConfig returns the defaults for everything but URL, Bodies and
// the stop condition.
func DefaultRunConfig() RunConfig {
	return RunConfig{
		Concurrency:    4,
		RequestTimeout: 30 * time.Second,
		MaxAttempts:    100,
		MaxBackoff:     10 * time.Second,
	}
}

func (c RunConfig) withDefaults() RunConfig {
	d := DefaultRunConfig()
	if c.Concurrency == 0 {
		c.Concurrency = d.Concurrency
	}
	if c.RequestTimeout == 0 {
		c.RequestTimeout = d.RequestTimeout
	}
	if c.MaxAttempts == 0 {
		c.MaxAttempts = d.MaxAttempts
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = d.MaxBackoff
	}
	return c
}

// Validate reports the first problem with c, after defaults are applied.
func (c RunConfig) Validate() error {
	c = c.withDefaults()
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("url %q: %w: %w", c.URL, ErrInvalidConfig, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("url %q: want an absolute http or https URL: %w", c.URL, ErrInvalidConfig)
	case len(c.Bodies) == 0:
		return fmt.Errorf("no bodies: %w", ErrInvalidConfig)
	case c.Concurrency < 1 || c.Concurrency > 4096:
		return fmt.Errorf("concurrency %d: want 1..4096: %w", c.Concurrency, ErrInvalidConfig)
	case c.Duration < 0 || c.MaxRequests < 0:
		return fmt.Errorf("duration %v, max requests %d: want no negative limit: %w",
			c.Duration, c.MaxRequests, ErrInvalidConfig)
	case c.Duration == 0 && c.MaxRequests == 0:
		return fmt.Errorf("neither duration nor max requests set: the run would not stop: %w", ErrInvalidConfig)
	case c.RequestTimeout < 0 || c.MaxAttempts < 1 || c.MaxBackoff < 0:
		return fmt.Errorf("request timeout %v, max attempts %d, max backoff %v: %w",
			c.RequestTimeout, c.MaxAttempts, c.MaxBackoff, ErrInvalidConfig)
	}
	for i, b := range c.Bodies {
		if len(b) == 0 {
			return fmt.Errorf("body %d is empty: %w", i, ErrInvalidConfig)
		}
	}
	return nil
}

// Result is what a run achieved. Spans and Requests count only what the
// server acknowledged with a 2xx response.
type Result struct {
	Requests      int64 // bodies acknowledged
	Spans         int64 // spans acknowledged: sent minus partial-success rejections
	RejectedSpans int64 // spans a 2xx partial-success response said it rejected
	Attempts      int64 // HTTP requests made, retries included
	Retries       int64 // attempts that re-sent a body after a throttle or failure
	Throttled     int64 // 429 and 503 responses
	// TransportErrors counts attempts that got no HTTP response (connection
	// refused or reset, timeout); they are retried like 502/504.
	TransportErrors int64
	Errors          int64 // bodies given up on: non-retryable status or MaxAttempts reached
	ErrorSpans      int64 // spans in those bodies
	Abandoned       int64 // bodies awaiting a retry when the run stopped
	AbandonedSpans  int64 // spans in those bodies
	// FirstError describes the first body given up on, if any.
	FirstError error

	Elapsed        time.Duration // from the first request to the last response
	SpansPerSecond float64       // Spans / Elapsed
	LatencyP50     time.Duration // of acknowledged attempts, within ~3 %
	LatencyP99     time.Duration
	LatencyMax     time.Duration
}

// StatusError reports a response with a status Run does not retry, or the
// last status of a body that ran out of attempts.
type StatusError struct {
	Status int
	Body   string // the start of the response body
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("http status %d: %q", e.Status, e.Body)
}

// Run sends cfg.Bodies to cfg.URL until cfg.Duration has passed or
// cfg.MaxRequests bodies are done, whichever comes first. It returns an error
// only for a bad configuration or body, or when ctx ends first (then with the
// Result so far); failed requests are counted in the Result.
func Run(ctx context.Context, cfg RunConfig) (Result, error) {
	r, err := newRunner(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("load run: %w", err)
	}
	return r.run(ctx)
}

type runner struct {
	cfg    RunConfig
	spans  []int64 // spans per body
	gzip   []bool
	client *http.Client
	// wait pauses for d unless ctx ends first; tests replace it to record
	// back-offs without sleeping.
	wait func(ctx context.Context, d time.Duration) error
}

func newRunner(cfg RunConfig) (*runner, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &runner{cfg: cfg, spans: make([]int64, len(cfg.Bodies)), gzip: make([]bool, len(cfg.Bodies)), wait: sleepCtx}
	for i, b := range cfg.Bodies {
		n, err := CountSpans(b)
		if err != nil {
			return nil, fmt.Errorf("body %d: %w", i, err)
		}
		r.spans[i], r.gzip[i] = int64(n), isGzip(b)
	}
	r.client = cfg.Client
	if r.client == nil {
		r.client = &http.Client{Transport: &http.Transport{
			MaxIdleConns:        cfg.Concurrency,
			MaxIdleConnsPerHost: cfg.Concurrency,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		}}
	}
	// Never follow a redirect: Run targets cfg.URL and nothing else.
	c := *r.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r.client = &c
	return r, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// workerStats are one worker's counters, merged when the run ends.
type workerStats struct {
	res  Result
	hist hist.Histogram
}

func (r *runner) run(ctx context.Context) (Result, error) {
	if r.cfg.Client == nil {
		defer r.client.CloseIdleConnections()
	}
	// issue ends the issuing of new bodies (and retry waits); requests in
	// flight keep ctx, so they complete and are counted.
	issue, stop := context.WithCancel(ctx)
	defer stop()
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		issue, cancel = context.WithTimeout(issue, r.cfg.Duration)
		defer cancel()
	}
	var next atomic.Int64
	stats := make([]workerStats, r.cfg.Concurrency)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range stats {
		ws := &stats[w]
		wg.Go(func() {
			for issue.Err() == nil {
				n := next.Add(1) - 1
				if r.cfg.MaxRequests > 0 && n >= r.cfg.MaxRequests {
					return
				}
				r.send(ctx, issue, int(n%int64(len(r.cfg.Bodies))), ws)
			}
		})
	}
	wg.Wait()
	res := Result{Elapsed: time.Since(start)}
	var h hist.Histogram
	for i := range stats {
		s := &stats[i].res
		res.Requests += s.Requests
		res.Spans += s.Spans
		res.RejectedSpans += s.RejectedSpans
		res.Attempts += s.Attempts
		res.Retries += s.Retries
		res.Throttled += s.Throttled
		res.TransportErrors += s.TransportErrors
		res.Errors += s.Errors
		res.ErrorSpans += s.ErrorSpans
		res.Abandoned += s.Abandoned
		res.AbandonedSpans += s.AbandonedSpans
		res.LatencyMax = max(res.LatencyMax, s.LatencyMax)
		if res.FirstError == nil {
			res.FirstError = s.FirstError
		}
		h.Merge(&stats[i].hist)
	}
	if secs := res.Elapsed.Seconds(); secs > 0 {
		res.SpansPerSecond = float64(res.Spans) / secs
	}
	res.LatencyP50, res.LatencyP99 = h.Quantile(0.50), h.Quantile(0.99)
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load run: %w", err)
	}
	return res, nil
}

// send delivers body i, retrying throttled and transient failures.
func (r *runner) send(ctx, issue context.Context, i int, ws *workerStats) {
	s := &ws.res
	spans := r.spans[i]
	for n := 1; ; n++ {
		t0 := time.Now()
		a, err := r.post(ctx, i)
		lat := time.Since(t0)
		s.Attempts++
		var backoff time.Duration
		switch {
		case err != nil && ctx.Err() != nil:
			s.Abandoned++
			s.AbandonedSpans += spans
			return
		case err != nil:
			s.TransportErrors++
			backoff = r.expBackoff(n)
		case a.status >= 200 && a.status < 300:
			ws.hist.Record(lat)
			s.LatencyMax = max(s.LatencyMax, lat)
			s.Requests++
			rejected := min(max(a.rejected, 0), spans)
			s.Spans += spans - rejected
			s.RejectedSpans += rejected
			return
		case a.status == http.StatusTooManyRequests || a.status == http.StatusServiceUnavailable:
			s.Throttled++
			err = &StatusError{Status: a.status, Body: a.body}
			backoff = r.expBackoff(n)
			if d, ok := parseRetryAfter(a.retryAfter, t0); ok {
				backoff = min(d, r.cfg.MaxBackoff)
			}
		case a.status == http.StatusBadGateway || a.status == http.StatusGatewayTimeout:
			err = &StatusError{Status: a.status, Body: a.body}
			backoff = r.expBackoff(n)
		default:
			r.giveUp(s, spans, fmt.Errorf("body %d: %w", i, &StatusError{Status: a.status, Body: a.body}))
			return
		}
		if n >= r.cfg.MaxAttempts {
			r.giveUp(s, spans, fmt.Errorf("body %d: giving up after %d attempts: %w", i, n, err))
			return
		}
		if r.wait(issue, backoff) != nil {
			s.Abandoned++
			s.AbandonedSpans += spans
			return
		}
		s.Retries++
	}
}

func (r *runner) giveUp(s *Result, spans int64, err error) {
	s.Errors++
	s.ErrorSpans += spans
	if s.FirstError == nil {
		s.FirstError = err
	}
}

// expBackoff is 50 ms doubling per attempt, capped at MaxBackoff, with up to
// 20 % jitter so throttled workers do not return in lock-step.
func (r *runner) expBackoff(n int) time.Duration {
	d := r.cfg.MaxBackoff
	if n < 20 {
		d = min(d, 50*time.Millisecond<<(n-1))
	}
	return d - time.Duration(rand.Int64N(int64(d)/5+1))
}

// parseRetryAfter reads a Retry-After value: delay-seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		return time.Duration(min(secs, 1<<30)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// attempt is what one POST got back.
type attempt struct {
	status     int
	retryAfter string // the Retry-After header
	body       string // the start of a non-2xx response body
	rejected   int64  // partial_success.rejected_spans of a 2xx response
}

// post makes one attempt; an error means no HTTP response was had.
func (r *runner) post(ctx context.Context, i int) (attempt, error) {
	if r.cfg.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, r.cfg.RequestTimeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.cfg.URL, bytes.NewReader(r.cfg.Bodies[i]))
	if err != nil {
		return attempt{}, fmt.Errorf("building request: %w", err)
	}
	for k, vs := range r.cfg.Header {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if r.gzip[i] {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return attempt{}, err
	}
	// Read the whole (small) response so that the connection is reused.
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	_, _ = io.Copy(io.Discard, resp.Body)
	if cerr := resp.Body.Close(); rerr == nil {
		rerr = cerr
	}
	if rerr != nil {
		return attempt{}, fmt.Errorf("reading response: %w", rerr)
	}
	a := attempt{status: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After")}
	if a.status >= 200 && a.status < 300 {
		a.rejected = partialRejected(resp.Header.Get("Content-Type"), body)
	} else {
		a.body = string(body[:min(len(body), 200)])
	}
	return a, nil
}

// partialRejected decodes an OTLP ExportTraceServiceResponse and returns its
// partial_success.rejected_spans; an empty or undecodable body rejects none.
func partialRejected(contentType string, body []byte) int64 {
	if len(body) == 0 {
		return 0
	}
	resp := ptraceotlp.NewExportResponse()
	var err error
	if strings.HasPrefix(contentType, "application/json") {
		err = resp.UnmarshalJSON(body)
	} else {
		err = resp.UnmarshalProto(body)
	}
	if err != nil {
		return 0
	}
	return resp.PartialSuccess().RejectedSpans()
}
