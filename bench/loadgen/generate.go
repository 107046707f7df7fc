// Package loadgen is an OTLP/HTTP trace load generator for benchmarking
// receivers such as `debugai serve` and the OpenTelemetry Collector.
//
// Encoding spans costs more than sending them (the OTel Go exporter tops out
// near 60k spans/s on the project's machines), so loadgen splits the work in
// two: [Generate] builds a set of distinct, realistic ExportTraceServiceRequest
// bodies once, and [Run] replays them round-robin over keep-alive connections,
// honouring 429/503 back-pressure, and reports acknowledged spans per second
// and latency percentiles.
//
// Run only ever sends to the URL it is given and never follows redirects.
package loadgen

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Limits that keep a mistyped configuration from exhausting memory.
const (
	maxBodies     = 1 << 20
	maxSpansTotal = 20_000_000
)

// Sentinel errors for configuration and body problems.
var (
	// ErrInvalidConfig reports a BodyConfig or RunConfig that fails Validate.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrBadBody reports a request body that does not decode as an OTLP
	// ExportTraceServiceRequest.
	ErrBadBody = errors.New("bad request body")
)

// BodyConfig says what [Generate] builds. Zero fields take the value of
// [DefaultBodyConfig].
type BodyConfig struct {
	// Bodies is how many distinct request bodies to build (default 16).
	Bodies int
	// SpansPerBody is the number of spans in each body (default 1000).
	SpansPerBody int
	// SpansPerTrace is the number of spans in each trace (default 10). A
	// trace never straddles two bodies; the last trace of a body is shorter
	// when SpansPerBody is not a multiple of it.
	SpansPerTrace int
	// Services is how many services (OTLP resources) the spans of one body
	// are spread over, 1 to 6 (default 4). Traces cross services the way
	// RPCs do: a client span in one, its server span in the next.
	Services int
	// EventEvery adds one span event to every EventEvery-th span of a body
	// (default 4). Negative means no events.
	EventEvery int
	// Seed determines every id and attribute value: the same Seed (and
	// Start) gives byte-identical bodies, and trace and span ids are unique
	// across all bodies of one Generate call.
	Seed uint64
	// Start is the start time of the first trace; later traces follow at a
	// few milliseconds each. Zero means the time Generate is called.
	Start time.Time
	// Gzip compresses each body; Run then sends it with Content-Encoding: gzip.
	Gzip bool
}

// DefaultBodyConfig returns the defaults: 16 bodies of 1000 spans, 10 spans
// per trace over 4 services, an event on every 4th span, seed 1, no gzip.
func DefaultBodyConfig() BodyConfig {
	return BodyConfig{
		Bodies:        16,
		SpansPerBody:  1000,
		SpansPerTrace: 10,
		Services:      4,
		EventEvery:    4,
		Seed:          1,
	}
}

func (c BodyConfig) withDefaults() BodyConfig {
	d := DefaultBodyConfig()
	if c.Bodies == 0 {
		c.Bodies = d.Bodies
	}
	if c.SpansPerBody == 0 {
		c.SpansPerBody = d.SpansPerBody
	}
	if c.SpansPerTrace == 0 {
		c.SpansPerTrace = d.SpansPerTrace
	}
	if c.Services == 0 {
		c.Services = d.Services
	}
	if c.EventEvery == 0 {
		c.EventEvery = d.EventEvery
	}
	return c
}

// Validate reports the first field out of range, after defaults are applied.
func (c BodyConfig) Validate() error {
	c = c.withDefaults()
	switch {
	case c.Bodies < 1 || c.Bodies > maxBodies:
		return fmt.Errorf("bodies %d: want 1..%d: %w", c.Bodies, maxBodies, ErrInvalidConfig)
	case c.SpansPerBody < 1:
		return fmt.Errorf("spans per body %d: want at least 1: %w", c.SpansPerBody, ErrInvalidConfig)
	case int64(c.Bodies)*int64(c.SpansPerBody) > maxSpansTotal:
		return fmt.Errorf("%d bodies × %d spans: more than %d spans in all: %w",
			c.Bodies, c.SpansPerBody, maxSpansTotal, ErrInvalidConfig)
	case c.SpansPerTrace < 1:
		return fmt.Errorf("spans per trace %d: want at least 1: %w", c.SpansPerTrace, ErrInvalidConfig)
	case c.Services < 1 || c.Services > len(services):
		return fmt.Errorf("services %d: want 1..%d: %w", c.Services, len(services), ErrInvalidConfig)
	}
	return nil
}

// Generate builds cfg.Bodies distinct protobuf-encoded OTLP
// ExportTraceServiceRequest bodies, gzip-compressed if cfg.Gzip. Bodies are
// built in parallel; the result does not depend on GOMAXPROCS.
func Generate(cfg BodyConfig) ([][]byte, error) {
	cfg = cfg.withDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("generating bodies: %w", err)
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	out := make([][]byte, cfg.Bodies)
	errs := make([]error, cfg.Bodies)
	workers := min(runtime.GOMAXPROCS(0), cfg.Bodies)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for b := range jobs {
				out[b], errs[b] = encodeBody(cfg, b)
			}
		})
	}
	for b := range cfg.Bodies {
		jobs <- b
	}
	close(jobs)
	wg.Wait()
	for b, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("generating body %d: %w", b, err)
		}
	}
	return out, nil
}

func encodeBody(cfg BodyConfig, b int) ([]byte, error) {
	td := buildTraces(cfg, b)
	raw, err := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	if err != nil {
		return nil, fmt.Errorf("encoding protobuf: %w", err)
	}
	if !cfg.Gzip {
		return raw, nil
	}
	var buf bytes.Buffer
	buf.Grow(len(raw) / 4)
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	return buf.Bytes(), nil
}

// buildTraces builds body b: its traces are numbered from b*tracesPerBody and
// its spans from b*SpansPerBody, which is what makes ids unique across bodies.
func buildTraces(cfg BodyConfig, b int) ptrace.Traces {
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(b)+1))
	ids := newIDSource(cfg.Seed)
	td := ptrace.NewTraces()
	res := make([]resourceScopes, cfg.Services)
	for s := range res {
		res[s] = newResource(td, services[s], b, cfg.Seed)
	}
	tracesPerBody := (cfg.SpansPerBody + cfg.SpansPerTrace - 1) / cfg.SpansPerTrace
	g := spanGen{
		rng:        rng,
		res:        res,
		eventEvery: cfg.EventEvery,
	}
	span := uint64(b) * uint64(cfg.SpansPerBody)
	left := cfg.SpansPerBody
	for t := range tracesPerBody {
		n := min(cfg.SpansPerTrace, left)
		trace := uint64(b)*uint64(tracesPerBody) + uint64(t)
		start := cfg.Start.Add(time.Duration(trace)*3*time.Millisecond +
			time.Duration(rng.IntN(2000))*time.Microsecond)
		g.trace(ids.traceID(trace), n, start, int(trace%uint64(cfg.Services)), &ids, span)
		span += uint64(n)
		left -= n
	}
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool { return ss.Spans().Len() == 0 })
		return rs.ScopeSpans().Len() == 0
	})
	return td
}

// CountSpans decodes one request body — protobuf, gzip-compressed or not —
// and returns the number of spans in it.
func CountSpans(body []byte) (int, error) {
	req, err := decode(body)
	if err != nil {
		return 0, err
	}
	return req.Traces().SpanCount(), nil
}

// Decode decodes one request body — protobuf, gzip-compressed or not — as
// [Generate] writes it and [Run] sends it.
func Decode(body []byte) (ptrace.Traces, error) {
	req, err := decode(body)
	if err != nil {
		return ptrace.Traces{}, err
	}
	return req.Traces(), nil
}

func decode(body []byte) (ptraceotlp.ExportRequest, error) {
	raw := body
	if isGzip(body) {
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return ptraceotlp.ExportRequest{}, fmt.Errorf("decompressing: %w: %w", ErrBadBody, err)
		}
		raw, err = io.ReadAll(zr)
		if err != nil {
			return ptraceotlp.ExportRequest{}, fmt.Errorf("decompressing: %w: %w", ErrBadBody, err)
		}
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		return ptraceotlp.ExportRequest{}, fmt.Errorf("decoding protobuf: %w: %w", ErrBadBody, err)
	}
	return req, nil
}

// isGzip reports whether body starts with the gzip magic number. An OTLP
// protobuf request never does: its first byte is field 1's tag, 0x0a.
func isGzip(body []byte) bool {
	return len(body) >= 2 && body[0] == 0x1f && body[1] == 0x8b
}
