// Package loadgentest provides a fake OTLP/HTTP traces endpoint for tests of
// code that drives package loadgen: it decodes every request with ptraceotlp,
// counts the spans it accepted, and can throttle on demand.
package loadgentest

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// Throttle is a Sink's answer to request n (counting from 1, rejected
// requests included): a Status of 0 accepts the request; any other status is
// returned, with RetryAfter as the Retry-After header if set, and the request's
// spans are not counted.
type Throttle struct {
	Status     int
	RetryAfter string
}

// Sink is an http.Handler that accepts OTLP/HTTP protobuf trace exports.
// Serve it with httptest.NewServer. Its methods are safe for concurrent use.
type Sink struct {
	// Throttle, if set, is asked first about every request.
	Throttle func(n int64) Throttle
	// TrackIDs makes the sink remember every (trace id, span id) pair, so
	// that Duplicates can report spans accepted twice.
	TrackIDs bool

	mu         sync.Mutex
	requests   int64 // requests seen
	accepted   int64 // requests accepted
	spans      int64 // spans accepted
	throttled  int64
	bad        int64
	duplicates int64
	ids        map[spanKey]struct{}
}

type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

// Counts is a snapshot of what a Sink has seen.
type Counts struct {
	Requests   int64 // requests received
	Accepted   int64 // requests answered 200
	Spans      int64 // spans in accepted requests
	Throttled  int64 // requests answered by Throttle
	Bad        int64 // requests that did not decode (answered 400)
	Duplicates int64 // accepted spans seen before (only with TrackIDs)
}

// Counts returns what the sink has seen so far.
func (s *Sink) Counts() Counts {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Counts{s.requests, s.accepted, s.spans, s.throttled, s.bad, s.duplicates}
}

// ServeHTTP implements http.Handler.
func (s *Sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	n := s.requests
	s.mu.Unlock()

	if s.Throttle != nil {
		if t := s.Throttle(n); t.Status != 0 {
			_, _ = io.Copy(io.Discard, r.Body)
			s.mu.Lock()
			s.throttled++
			s.mu.Unlock()
			if t.RetryAfter != "" {
				w.Header().Set("Retry-After", t.RetryAfter)
			}
			http.Error(w, http.StatusText(t.Status), t.Status)
			return
		}
	}
	td, err := decode(r)
	if err != nil {
		s.mu.Lock()
		s.bad++
		s.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.count(td)
	out, err := ptraceotlp.NewExportResponse().MarshalProto()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	_, _ = w.Write(out)
}

func (s *Sink) count(td ptrace.Traces) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.accepted++
	s.spans += int64(td.SpanCount())
	if !s.TrackIDs {
		return
	}
	if s.ids == nil {
		s.ids = make(map[spanKey]struct{})
	}
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, sp := range ss.Spans().All() {
				k := spanKey{sp.TraceID(), sp.SpanID()}
				if _, dup := s.ids[k]; dup {
					s.duplicates++
				}
				s.ids[k] = struct{}{}
			}
		}
	}
}

func decode(r *http.Request) (ptrace.Traces, error) {
	if ct := r.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		return ptrace.Traces{}, fmt.Errorf("content type %q: want application/x-protobuf", ct)
	}
	var body io.Reader = r.Body
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "":
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return ptrace.Traces{}, fmt.Errorf("gzip: %w", err)
		}
		body = zr
	default:
		return ptrace.Traces{}, fmt.Errorf("content encoding %q not supported", enc)
	}
	raw, err := io.ReadAll(body)
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("reading body: %w", err)
	}
	req := ptraceotlp.NewExportRequest()
	if err := req.UnmarshalProto(raw); err != nil {
		return ptrace.Traces{}, fmt.Errorf("decoding protobuf: %w", err)
	}
	return req.Traces(), nil
}
