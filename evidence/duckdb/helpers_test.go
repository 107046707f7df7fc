package duckdb

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/debugai/debugai/evidence"
)

// lockChildEnv makes the test binary act as a second process that holds a
// store open (see TestOpenLockedByOtherProcess).
const (
	lockChildEnv  = "DEBUGAI_DUCKDB_LOCK_CHILD"
	childWriteEnv = "DEBUGAI_DUCKDB_CHILD_WRITE"
)

func TestMain(m *testing.M) {
	if path := os.Getenv(lockChildEnv); path != "" {
		os.Exit(lockChild(path))
	}
	os.Exit(m.Run())
}

// lockChild opens path read-write (writing fullBatch first when
// childWriteEnv is set), says "ready" and holds it until its stdin closes.
func lockChild(path string) int {
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		fmt.Println("error:", err)
		return 1
	}
	if os.Getenv(childWriteEnv) != "" {
		if err := s.Write(context.Background(), fullBatch()); err != nil {
			fmt.Println("error:", err)
			return 1
		}
	}
	fmt.Println("ready")
	r := bufio.NewReader(os.Stdin)
	_, _ = r.ReadString('\n')
	if err := s.Close(); err != nil {
		return 1
	}
	return 0
}

func openTemp(t testing.TB) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "evidence.duckdb")
	s, err := Open(context.Background(), path, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

func traceID(n uint64) evidence.TraceID {
	var t evidence.TraceID
	binary.BigEndian.PutUint64(t[:8], n*0x9E3779B97F4A7C15+1)
	binary.BigEndian.PutUint64(t[8:], n)
	return t
}

func spanID(n uint64) evidence.SpanID {
	var s evidence.SpanID
	binary.BigEndian.PutUint64(s[:], n*0xBF58476D1CE4E5B9+7)
	return s
}

var (
	benchServices = []string{"checkout", "cart", "payments", "inventory", "frontend"}
	benchRoutes   = []string{"/api/cart/{id}", "/api/checkout", "/api/items/{sku}", "/healthz"}
)

// makeSpans builds n realistic spans starting at id first: traces of 8
// spans, ~5 kept attributes and one event each.
func makeSpans(first, n int, baseNS int64) []evidence.Span {
	spans := make([]evidence.Span, n)
	for i := range spans {
		k := uint64(first + i)
		sp := &spans[i]
		sp.TraceID = traceID(k / 8)
		sp.SpanID = spanID(k)
		if k%8 != 0 {
			sp.ParentSpanID = spanID(k - k%8)
		}
		svc := benchServices[k%uint64(len(benchServices))]
		sp.ResourceID = "res:" + svc
		sp.Service, sp.Version, sp.Host = svc, "v1.4.2", "node-1"
		sp.Name = "GET " + benchRoutes[k%uint64(len(benchRoutes))]
		sp.Kind = evidence.KindServer
		sp.StartNS = baseNS + int64(k)*1000
		sp.EndNS = sp.StartNS + 250_000 + int64(k%97)*1000
		sp.ThreadID = int64(k % 16)
		sp.ProcessPID = 4242
		sp.HTTPRoute = benchRoutes[k%uint64(len(benchRoutes))]
		sp.HTTPMethod = "GET"
		sp.HTTPStatusCode = 200
		sp.Attrs = evidence.Attrs{
			{Key: "net.peer.port", Value: evidence.IntValue(int64(40000 + k%1000))},
			{Key: "http.response_content_length", Value: evidence.IntValue(int64(k % 5000))},
			{Key: "user.id", Value: evidence.StringValue("tok:k1:AbCdEfGhIjKlMnOp")},
			{Key: "sampling.ratio", Value: evidence.FloatValue(0.25)},
			{Key: "cache.hit", Value: evidence.BoolValue(k%3 == 0)},
		}
		sp.Events = []evidence.SpanEvent{{
			Index: 0, TimeNS: sp.StartNS + 1000, Name: "message",
			Attrs: evidence.Attrs{{Key: "message.type", Value: evidence.StringValue("SENT")}},
		}}
	}
	return spans
}

// fullBatch returns a batch that sets every field of every type.
func fullBatch() *evidence.Batch {
	tid, sid := traceID(77), spanID(77)
	attrs := evidence.Attrs{
		{Key: "s", Value: evidence.StringValue("quote\" back\\ tab\t nl\n ctl\x01 é")},
		{Key: "i", Value: evidence.IntValue(-42)},
		{Key: "f", Value: evidence.FloatValue(3)},
		{Key: "f2", Value: evidence.FloatValue(1.5e300)},
		{Key: "b", Value: evidence.BoolValue(true)},
		{Key: "nan", Value: evidence.FloatValue(math.Inf(-1))},
	}
	return &evidence.Batch{
		Resources: []evidence.Resource{{ID: "res:abc", Service: "checkout", Version: "v2",
			Environment: "prod", Host: "h1", Node: "n1", Attrs: attrs}},
		Spans: []evidence.Span{{
			TraceID: tid, SpanID: sid, ParentSpanID: spanID(78), ResourceID: "res:abc",
			Service: "checkout", Version: "v2", Host: "h1", Name: "POST /pay",
			Kind: evidence.KindClient, StatusCode: evidence.StatusError, StatusMessage: "boom",
			StartNS: 1_700_000_000_000_000_000, EndNS: 1_700_000_000_500_000_000,
			ThreadID: 12, ProcessPID: 34, HTTPRoute: "/pay", HTTPMethod: "POST", HTTPStatusCode: 503,
			RPCSystem: "grpc", RPCService: "Pay", RPCMethod: "Charge", DBSystem: "postgresql",
			DBStatement: "SELECT * FROM t WHERE id = ?", DBQueryID: "q1", PeerService: "bank",
			ExceptionType: "TimeoutError", Attrs: attrs,
			Events: []evidence.SpanEvent{
				{Index: 0, TimeNS: 1_700_000_000_100_000_000, Name: "retry", Attrs: attrs[:2]},
				{Index: 1, TimeNS: 1_700_000_000_200_000_000, Name: "exception"},
			},
		}},
		KernelEvents: []evidence.KernelEvent{{
			Node: "n1", Stream: "futex/0", Seq: math.MaxUint64 - 1, Type: evidence.KernelFutexWait,
			ResourceID: "res:abc", Service: "checkout", TimeNS: 1_700_000_000_300_000_000,
			DurationNS: 5_000_000, PID: 34, TID: 12, CgroupID: 1<<63 | 5, TraceID: tid, SpanID: sid,
			Addr: 0xffff_8000_dead_beef, WakerTID: 13, Value: 7, Attrs: attrs[4:],
		}},
		LockEdges: []evidence.LockEdge{{Node: "n1", ResourceID: "res:abc", Service: "checkout", PID: 34,
			Held: "mu<A>", Acquiring: "mu>B", HeldSite: "a.go:1", AcquiringSite: "b.go:2",
			Count: 3, FirstNS: 100, LastNS: 200}},
		Logs: []evidence.LogRecord{{ID: "log:f00d", ResourceID: "res:abc", Service: "checkout",
			TimeNS: 1_700_000_000_400_000_000, Severity: 17, SeverityText: "ERROR", EventName: "payment.failed",
			TraceID: tid, SpanID: sid, Attrs: attrs[:1]}},
		Audit: []evidence.AuditCount{{Source: "span", Key: "user.id", Action: "tokenize", Count: 5}},
	}
}
