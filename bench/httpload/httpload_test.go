package httpload

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
	}{
		{"default with a URL", func(*Config) {}, ""},
		{"no URL", func(c *Config) { c.URL = "" }, "absolute http"},
		{"relative URL", func(c *Config) { c.URL = "/x" }, "absolute http"},
		{"bad URL", func(c *Config) { c.URL = "http://a b/%zz" }, "invalid load configuration"},
		{"zero rate", func(c *Config) { c.Rate = 0 }, "rate 0"},
		{"huge rate", func(c *Config) { c.Rate = 2e6 }, "at most 1e6"},
		{"no duration", func(c *Config) { c.Duration = 0 }, "duration"},
		{"no request", func(c *Config) { c.Rate, c.Duration = 1, 100*time.Millisecond }, "offers no request"},
		{"no in-flight", func(c *Config) { c.MaxInFlight = 0 }, "max in flight"},
		{"no timeout", func(c *Config) { c.Timeout = 0 }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := DefaultConfig()
			c.URL = "http://127.0.0.1:1/"
			tt.edit(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate() = %v, want ErrInvalidConfig containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestRunRateAndLatency(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		time.Sleep(2 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = srv.URL, 400, time.Second
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Offered != 400 || res.Sent != 400 || res.OK != 400 || res.Errors != 0 || res.Shed != 0 || hits.Load() != 400 {
		t.Fatalf("result %+v (server saw %d), want 400 offered, sent and OK", res, hits.Load())
	}
	// Open loop: the run lasts the schedule (the last request is due at
	// 399/400 s) plus the last latency (at least 2 ms), not the latency
	// times the requests over the concurrency.
	lastDue := 399 * time.Second / 400
	if res.Elapsed < lastDue+2*time.Millisecond || res.Elapsed > 3*time.Second {
		t.Errorf("elapsed %v, want between %v and 3s", res.Elapsed, lastDue+2*time.Millisecond)
	}
	if res.AchievedPerSecond < 130 || res.AchievedPerSecond > 401 || res.OfferedPerSecond != 400 {
		t.Errorf("achieved %.0f/s offered %.0f/s, want about 400", res.AchievedPerSecond, res.OfferedPerSecond)
	}
	if res.P50 < 2*time.Millisecond || res.P99 < res.P50 || res.Max < res.P99 || res.P50 > time.Second {
		t.Errorf("latency p50 %v p99 %v max %v, want 2ms <= p50 <= p99 <= max", res.P50, res.P99, res.Max)
	}
	if res.LagMax < res.LagP99 {
		t.Errorf("lag p99 %v > max %v", res.LagP99, res.LagMax)
	}
}

func TestRunErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = srv.URL, 100, 200*time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var se *StatusError
	if res.Errors != 20 || res.OK != 0 || !errors.As(res.FirstError, &se) || se.Status != 503 {
		t.Fatalf("result %+v, want 20 errors with status 503", res)
	}
	if res.AchievedPerSecond != 0 || res.P99 != 0 {
		t.Errorf("achieved %v/s, p99 %v: want 0 without successes", res.AchievedPerSecond, res.P99)
	}
}

// A server that stops answering gets the offered load anyway, up to
// MaxInFlight; the rest is shed, and the stuck requests time out.
func TestRunShedsWhenServerStalls(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release)
	cfg := DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = srv.URL, 200, 300*time.Millisecond
	cfg.MaxInFlight, cfg.Timeout = 3, 150*time.Millisecond
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if res.Shed == 0 || res.Sent+res.Shed != res.Offered || res.Errors != res.Sent || res.OK != 0 {
		t.Fatalf("result %+v: want shed requests, every sent one timed out", res)
	}
}

func TestRunCancelled(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	cfg := DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = srv.URL, 100, time.Hour
	t0 := time.Now()
	res, err := Run(ctx, cfg)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(t0) > 5*time.Second {
		t.Fatalf("Run = %v after %v, want the context's error promptly", err, time.Since(t0))
	}
	if res.Sent == 0 || res.Sent >= res.Offered {
		t.Errorf("sent %d of %d, want some but not all", res.Sent, res.Offered)
	}
}

func TestRunInvalid(t *testing.T) {
	if _, err := Run(context.Background(), Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Run(zero config) = %v, want ErrInvalidConfig", err)
	}
}
