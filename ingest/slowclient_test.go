package ingest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"testing"
	"time"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
)

// trickle opens a connection to addr and sends the headers of a POST with a
// body of 1,000 bytes, then one byte of it, and nothing more: a sender that
// holds its request open. The connection closes when the test ends.
func trickle(t *testing.T, addr string) net.Conn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: 1000\r\n\r\n\n",
		TracesPath, addr, contentTypeProto)
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
// It waits for a state of the server, not for time to pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSlowSendersDoNotBlockIngest holds more trickling requests open than
// there are decoding slots; a real SDK exporter (no retries, 10 s timeout)
// still gets its batch committed while they trickle. Before, a request took
// its decoding slot before reading its body, and the tricklers held every
// slot until the 2-minute read timeout.
func TestSlowSendersDoNotBlockIngest(t *testing.T) {
	const slow = 8
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) { c.HTTP.MaxConcurrentDecodes = 2 })
	for range slow {
		trickle(t, s.HTTPAddr())
	}
	waitFor(t, "the trickling requests to reach the handler", func() bool { return s.Stats().HTTP.Requests == slow })

	exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint(s.HTTPAddr()), otlptracehttp.WithInsecure(),
		otlptracehttp.WithTimeout(10*time.Second), otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: false}))
	if err != nil {
		t.Fatal(err)
	}
	checkSpans(t, w, emitSpans(t, exp, "beside-slow", 20))
	st := s.Stats().HTTP
	if st.Accepted != 1 || st.Requests != slow+1 {
		t.Errorf("stats %+v: want the SDK's request accepted while %d trickle", st, slow)
	}
}

// TestSlowSendersCappedAndTimedOut checks the two bounds on slow senders:
// bodies in flight beyond MaxConcurrentReads are refused at once with 503
// and Retry-After, and a body not received within BodyReadTimeout gets 408.
func TestSlowSendersCappedAndTimedOut(t *testing.T) {
	t.Run("cap", func(t *testing.T) {
		const reads = 3
		w := &recordingWriter{}
		s := startTestServer(t, w, func(c *Config) { c.HTTP.MaxConcurrentReads = reads })
		for range reads {
			trickle(t, s.HTTPAddr())
		}
		waitFor(t, "the trickling requests to reach the handler", func() bool { return s.Stats().HTTP.Requests == reads })
		code, hdr, rb := postOTLP(t, nil, "http://"+s.HTTPAddr()+TracesPath, contentTypeProto, "", tracesBody(t, buildTraces("x", 1), encProto))
		if code != http.StatusServiceUnavailable || hdr.Get("Retry-After") == "" {
			t.Fatalf("status %d, Retry-After %q, want 503 with Retry-After (body %q)", code, hdr.Get("Retry-After"), rb)
		}
		if st := s.Stats().HTTP; st.Unavailable != 1 || w.writeCount() != 0 {
			t.Errorf("stats %+v, writes %d", st, w.writeCount())
		}
	})
	t.Run("deadline", func(t *testing.T) {
		w := &recordingWriter{}
		s := startTestServer(t, w, func(c *Config) { c.HTTP.BodyReadTimeout = 200 * time.Millisecond })
		conn := trickle(t, s.HTTPAddr())
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			t.Fatalf("reading the answer to a stalled body: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestTimeout {
			t.Fatalf("status %d, want 408", resp.StatusCode)
		}
		if st := s.Stats().HTTP; st.TimedOut != 1 || w.writeCount() != 0 {
			t.Errorf("stats %+v, writes %d", st, w.writeCount())
		}
	})
}
