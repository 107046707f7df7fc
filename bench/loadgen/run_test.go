package loadgen

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/debugai/debugai/bench/loadgen/loadgentest"
)

func mustGenerate(t testing.TB, cfg BodyConfig) [][]byte {
	t.Helper()
	if cfg.Start.IsZero() {
		cfg.Start = testStart
	}
	bodies, err := Generate(cfg)
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	return bodies
}

// sinkServer serves sink on loopback for the test's lifetime.
func sinkServer(t *testing.T, sink *loadgentest.Sink) string {
	t.Helper()
	srv := httptest.NewServer(sink)
	t.Cleanup(srv.Close)
	return srv.URL + "/v1/traces"
}

// recordingWait replaces runner.wait: it returns at once and records what
// Run asked for, so back-off tests need no real sleeping.
type recordingWait struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *recordingWait) wait(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err()
}

func runWith(t *testing.T, cfg RunConfig, w *recordingWait) Result {
	t.Helper()
	r, err := newRunner(cfg)
	if err != nil {
		t.Fatalf("newRunner: %v", err)
	}
	if w != nil {
		r.wait = w.wait
	}
	res, err := r.run(t.Context())
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func TestRunExactTotals(t *testing.T) {
	tests := []struct {
		name        string
		body        BodyConfig
		concurrency int
		requests    int64
	}{
		{"one worker", BodyConfig{Bodies: 3, SpansPerBody: 100}, 1, 7},
		{"four workers, gzip", BodyConfig{Bodies: 5, SpansPerBody: 250, Gzip: true}, 4, 40},
		{"more workers than requests", BodyConfig{Bodies: 2, SpansPerBody: 10}, 16, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sink := &loadgentest.Sink{}
			res := runWith(t, RunConfig{
				URL:         sinkServer(t, sink),
				Bodies:      mustGenerate(t, tt.body),
				Concurrency: tt.concurrency,
				MaxRequests: tt.requests,
			}, nil)
			wantSpans := tt.requests * int64(tt.body.SpansPerBody)
			got := sink.Counts()
			if got.Spans != wantSpans || got.Accepted != tt.requests || got.Bad != 0 {
				t.Errorf("sink counts %+v, want %d spans in %d requests", got, wantSpans, tt.requests)
			}
			if res.Spans != wantSpans || res.Requests != tt.requests || res.Attempts != tt.requests {
				t.Errorf("result %+v, want %d spans, %d requests and attempts", res, wantSpans, tt.requests)
			}
			if res.Errors != 0 || res.Retries != 0 || res.FirstError != nil {
				t.Errorf("result has errors: %+v", res)
			}
			if res.SpansPerSecond <= 0 || res.LatencyP50 <= 0 || res.LatencyP99 < res.LatencyP50 || res.LatencyMax <= 0 {
				t.Errorf("result rates/latencies not set: %+v", res)
			}
		})
	}
}

func TestRunRetriesThrottled(t *testing.T) {
	// Every third request is throttled: 429 with Retry-After (seconds or an
	// HTTP date), or 503 without. Nothing may be lost or sent twice.
	answers := []loadgentest.Throttle{
		{Status: http.StatusTooManyRequests, RetryAfter: "2"},
		{Status: http.StatusServiceUnavailable},
		{Status: http.StatusTooManyRequests, RetryAfter: time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)},
	}
	sink := &loadgentest.Sink{
		TrackIDs: true,
		Throttle: func(n int64) loadgentest.Throttle {
			if n%3 != 0 {
				return loadgentest.Throttle{}
			}
			return answers[(n/3)%3]
		},
	}
	const requests = 12
	body := BodyConfig{Bodies: requests, SpansPerBody: 100}
	w := &recordingWait{}
	res := runWith(t, RunConfig{
		URL:         sinkServer(t, sink),
		Bodies:      mustGenerate(t, body),
		Concurrency: 3,
		MaxRequests: requests,
		MaxBackoff:  30 * time.Second,
	}, w)
	got := sink.Counts()
	if got.Spans != requests*100 || got.Duplicates != 0 || got.Accepted != requests {
		t.Fatalf("sink %+v: want %d spans, no duplicates", got, requests*100)
	}
	if res.Spans != got.Spans || res.Throttled != got.Throttled || res.Retries != got.Throttled ||
		res.Attempts != got.Requests || res.Errors != 0 || res.Abandoned != 0 {
		t.Errorf("result %+v does not match sink %+v", res, got)
	}
	if got.Throttled == 0 {
		t.Fatal("no request was throttled")
	}
	var secs, capped, short int
	for _, d := range w.waits {
		switch {
		case d == 2*time.Second:
			secs++
		case d == 30*time.Second: // an hour away, capped at MaxBackoff
			capped++
		case d > 0 && d < time.Second: // exponential back-off for 503
			short++
		default:
			t.Errorf("unexpected wait %v", d)
		}
	}
	if secs == 0 || capped == 0 || short == 0 || len(w.waits) != int(got.Throttled) {
		t.Errorf("waits %v: want Retry-After seconds, a capped date and a back-off for 503", w.waits)
	}
}

func TestRunGivesUp(t *testing.T) {
	tests := []struct {
		name         string
		status       int
		maxAttempts  int
		wantAttempts int64
		wantTransp   int64
	}{
		{"non-retryable status", http.StatusBadRequest, 5, 4, 0},
		{"always throttled", http.StatusTooManyRequests, 3, 12, 0},
		{"bad gateway", http.StatusBadGateway, 2, 8, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "no thanks", tt.status)
			}))
			defer srv.Close()
			res := runWith(t, RunConfig{
				URL:         srv.URL,
				Bodies:      mustGenerate(t, BodyConfig{Bodies: 2, SpansPerBody: 10}),
				Concurrency: 2,
				MaxRequests: 4,
				MaxAttempts: tt.maxAttempts,
			}, &recordingWait{})
			if res.Errors != 4 || res.ErrorSpans != 40 || res.Spans != 0 || res.Attempts != tt.wantAttempts {
				t.Errorf("result %+v: want 4 errors of 10 spans after %d attempts", res, tt.wantAttempts)
			}
			var se *StatusError
			if !errors.As(res.FirstError, &se) || se.Status != tt.status {
				t.Errorf("FirstError = %v, want a StatusError with %d", res.FirstError, tt.status)
			}
		})
	}
}

func TestRunTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens any more
	res := runWith(t, RunConfig{
		URL:         url,
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 1, SpansPerBody: 10}),
		MaxRequests: 3,
		MaxAttempts: 2,
	}, &recordingWait{})
	if res.TransportErrors != 6 || res.Errors != 3 || res.Retries != 3 || res.FirstError == nil {
		t.Errorf("result %+v: want 6 transport errors, 3 bodies given up", res)
	}
}

func TestRunPartialSuccess(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp := ptraceotlp.NewExportResponse()
		resp.PartialSuccess().SetRejectedSpans(3)
		out, _ := resp.MarshalProto()
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	defer srv.Close()
	res := runWith(t, RunConfig{
		URL:         srv.URL,
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 1, SpansPerBody: 10}),
		MaxRequests: 5,
	}, nil)
	if res.Requests != 5 || res.Spans != 35 || res.RejectedSpans != 15 {
		t.Errorf("result %+v: want 35 spans acknowledged, 15 rejected", res)
	}
}

func TestRunDuration(t *testing.T) {
	sink := &loadgentest.Sink{}
	const d = 300 * time.Millisecond
	res, err := Run(t.Context(), RunConfig{
		URL:         sinkServer(t, sink),
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 4, SpansPerBody: 100}),
		Concurrency: 2,
		Duration:    d,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	got := sink.Counts()
	if res.Elapsed < d || res.Requests == 0 || res.Spans != got.Spans || res.Requests != got.Accepted {
		t.Errorf("result %+v, sink %+v: want a run of at least %v whose totals match", res, got, d)
	}
}

func TestRunAbandonsRetryAtDeadline(t *testing.T) {
	// A server that always asks for an hour's pause: the run must still stop
	// at its deadline, counting the waiting bodies as abandoned.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "3600")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	res, err := Run(t.Context(), RunConfig{
		URL:         srv.URL,
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 1, SpansPerBody: 10}),
		Concurrency: 3,
		Duration:    100 * time.Millisecond,
		MaxBackoff:  time.Hour,
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.Abandoned != 3 || res.AbandonedSpans != 30 || res.Elapsed > 30*time.Second {
		t.Errorf("result %+v: want 3 abandoned bodies soon after the deadline", res)
	}
}

func TestRunCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	sink := &loadgentest.Sink{}
	_, err := Run(ctx, RunConfig{
		URL:         sinkServer(t, sink),
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 1, SpansPerBody: 10}),
		MaxRequests: 10,
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Run error = %v, want context.Canceled", err)
	}
}

func TestRunNeverFollowsRedirects(t *testing.T) {
	other := &loadgentest.Sink{}
	otherURL := sinkServer(t, other)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, otherURL, http.StatusTemporaryRedirect)
	}))
	defer srv.Close()
	res := runWith(t, RunConfig{
		URL:         srv.URL,
		Bodies:      mustGenerate(t, BodyConfig{Bodies: 1, SpansPerBody: 10}),
		MaxRequests: 2,
	}, nil)
	if got := other.Counts().Requests; got != 0 {
		t.Errorf("redirect target got %d requests, want 0", got)
	}
	if res.Errors != 2 {
		t.Errorf("result %+v: want the 2 redirected bodies as errors", res)
	}
}

func TestRunConfigValidate(t *testing.T) {
	bodies := [][]byte{{0x0a, 0x00}}
	tests := []struct {
		name    string
		cfg     RunConfig
		wantErr string
	}{
		{"ok", RunConfig{URL: "http://127.0.0.1:4318/v1/traces", Bodies: bodies, Duration: time.Second}, ""},
		{"relative url", RunConfig{URL: "/v1/traces", Bodies: bodies, MaxRequests: 1}, "want an absolute http or https URL"},
		{"other scheme", RunConfig{URL: "ftp://h/x", Bodies: bodies, MaxRequests: 1}, "want an absolute http or https URL"},
		{"no bodies", RunConfig{URL: "http://h/", MaxRequests: 1}, "no bodies"},
		{"empty body", RunConfig{URL: "http://h/", Bodies: [][]byte{{}}, MaxRequests: 1}, "body 0 is empty"},
		{"unbounded", RunConfig{URL: "http://h/", Bodies: bodies}, "the run would not stop"},
		{"negative duration", RunConfig{URL: "http://h/", Bodies: bodies, Duration: -1}, "want no negative limit"},
		{"bad concurrency", RunConfig{URL: "http://h/", Bodies: bodies, MaxRequests: 1, Concurrency: -2}, "concurrency -2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Validate error = %v, want containing %q and ErrInvalidConfig", err, tt.wantErr)
			}
		})
	}
	_, err := Run(t.Context(), RunConfig{URL: "http://127.0.0.1:1/", Bodies: [][]byte{{0x0a, 0xff}}, MaxRequests: 1})
	if !errors.Is(err, ErrBadBody) {
		t.Errorf("Run with an undecodable body: error = %v, want ErrBadBody", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}
