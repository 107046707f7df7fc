// Package httpload is an open-loop, fixed-rate HTTP load generator: it
// sends GET requests on a fixed schedule whatever the server's latency (a
// slow server does not slow the offered load, unlike a closed loop of
// workers), up to a bound on requests in flight, and reports offered and
// achieved throughput, errors and latency quantiles. The node-collector
// overhead benchmark (debugai bench node) drives package
// workload/mutexsvc with it.
package httpload

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/debugai/debugai/bench/hist"
)

// ErrInvalidConfig is wrapped by every Validate error.
var ErrInvalidConfig = errors.New("invalid load configuration")

// Config says where and how hard Run sends. Start from DefaultConfig.
type Config struct {
	// URL is requested with GET; Run follows no redirect.
	URL string
	// Rate is the offered load in requests per second (at most 1e6).
	Rate float64
	// Duration is how long requests are issued; Run then waits for the
	// requests in flight.
	Duration time.Duration
	// MaxInFlight bounds concurrent requests. A request due while that
	// many are in flight is not sent and counts as shed: the server is
	// not keeping up.
	MaxInFlight int
	// Timeout bounds each request, body included.
	Timeout time.Duration
	// Client sends the requests; nil means one of Run's own with
	// MaxInFlight keep-alive connections, closed when Run returns.
	Client *http.Client
}

// DefaultConfig offers 1000 requests per second for 10 s.
func DefaultConfig() Config {
	return Config{Rate: 1000, Duration: 10 * time.Second, MaxInFlight: 512, Timeout: 5 * time.Second}
}

// Validate reports the first problem with c.
func (c *Config) Validate() error {
	u, err := url.Parse(c.URL)
	switch {
	case err != nil:
		return fmt.Errorf("url %q: %w: %w", c.URL, ErrInvalidConfig, err)
	case u.Scheme != "http" && u.Scheme != "https" || u.Host == "":
		return fmt.Errorf("url %q: want an absolute http or https URL: %w", c.URL, ErrInvalidConfig)
	case !(c.Rate > 0 && c.Rate <= 1e6):
		return fmt.Errorf("rate %v requests/s: want more than 0, at most 1e6: %w", c.Rate, ErrInvalidConfig)
	case c.Duration <= 0:
		return fmt.Errorf("duration %v: want positive: %w", c.Duration, ErrInvalidConfig)
	case c.Rate*c.Duration.Seconds() < 1:
		return fmt.Errorf("rate %v for %v offers no request: %w", c.Rate, c.Duration, ErrInvalidConfig)
	case c.MaxInFlight < 1 || c.MaxInFlight > 1<<16:
		return fmt.Errorf("max in flight %d: want 1..65536: %w", c.MaxInFlight, ErrInvalidConfig)
	case c.Timeout <= 0:
		return fmt.Errorf("request timeout %v: want positive: %w", c.Timeout, ErrInvalidConfig)
	}
	return nil
}

// Result is what a run offered and achieved. Latencies are of successful
// (2xx) requests, from the send to the end of the response body; Lag is
// how late the sends were against the schedule (the generator's own
// timing error, which a loaded machine increases).
type Result struct {
	Offered    int64 // requests the schedule called for
	Sent       int64 // requests sent (Offered minus Shed, or fewer when cancelled)
	OK         int64 // 2xx responses
	Errors     int64 // transport errors, timeouts and non-2xx responses
	Shed       int64 // due while MaxInFlight requests were in flight: not sent
	FirstError error
	// Elapsed runs from the first scheduled send to the last response.
	Elapsed time.Duration
	// OfferedPerSecond is the configured rate; AchievedPerSecond is OK
	// divided by Elapsed.
	OfferedPerSecond, AchievedPerSecond float64
	P50, P99, Max                       time.Duration
	LagP99, LagMax                      time.Duration
}

// StatusError is a non-2xx response.
type StatusError struct{ Status int }

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP status %d %s", e.Status, http.StatusText(e.Status))
}

// collector gathers the results of concurrent requests.
type collector struct {
	mu    sync.Mutex
	lat   hist.Histogram
	ok    int64
	errs  int64
	first error
}

func (c *collector) add(lat time.Duration, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.errs++
		if c.first == nil {
			c.first = err
		}
		return
	}
	c.ok++
	c.lat.Record(lat)
}

// Run offers cfg.Rate requests per second for cfg.Duration, then waits for
// the requests in flight. When ctx ends first it stops sending, cancels
// the requests in flight and returns what it has with ctx's error.
func Run(ctx context.Context, cfg Config) (Result, error) {
	if err := cfg.Validate(); err != nil {
		return Result{}, err
	}
	client := cfg.Client
	if client == nil {
		client = newClient(cfg)
		defer client.CloseIdleConnections()
	}
	total := int64(cfg.Rate * cfg.Duration.Seconds())
	res := Result{Offered: total, OfferedPerSecond: cfg.Rate}
	var col collector
	var lag hist.Histogram
	var wg sync.WaitGroup
	slots := make(chan struct{}, cfg.MaxInFlight)
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / cfg.Rate))
		if err := sleepUntil(ctx, due); err != nil {
			break
		}
		lag.Record(time.Since(due))
		select {
		case slots <- struct{}{}:
		default:
			res.Shed++
			continue
		}
		res.Sent++
		wg.Go(func() {
			defer func() { <-slots }()
			col.add(get(ctx, client, cfg.URL))
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	res.OK, res.Errors, res.FirstError = col.ok, col.errs, col.first
	res.AchievedPerSecond = float64(res.OK) / res.Elapsed.Seconds()
	res.P50, res.P99, res.Max = col.lat.Quantile(0.5), col.lat.Quantile(0.99), col.lat.Max()
	res.LagP99, res.LagMax = lag.Quantile(0.99), lag.Max()
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("load run: %w", err)
	}
	return res, nil
}

func newClient(cfg Config) *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: cfg.Timeout}).DialContext,
		MaxIdleConns:        cfg.MaxInFlight,
		MaxIdleConnsPerHost: cfg.MaxInFlight,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       cfg.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// get sends one request and reads the whole response.
func get(ctx context.Context, client *http.Client, u string) (time.Duration, error) {
	t0 := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	err = errors.Join(err, resp.Body.Close())
	lat := time.Since(t0)
	switch {
	case err != nil:
		return 0, fmt.Errorf("reading response: %w", err)
	case resp.StatusCode/100 != 2:
		return 0, &StatusError{Status: resp.StatusCode}
	}
	return lat, nil
}

// sleepUntil waits until t or until ctx ends.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
