package ingest

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func TestMemBudget(t *testing.T) {
	b := newMemBudget(100, time.Hour)
	ctx := context.Background()
	if err := b.acquire(ctx, 60); err != nil {
		t.Fatal(err)
	}
	if err := b.acquire(ctx, 101); !errors.Is(err, errNeverFits) {
		t.Fatalf("101 of 100: %v, want errNeverFits", err)
	}
	// A waits for 50; B asks for 10, which is free, but must queue behind A.
	aDone := make(chan error, 1)
	go func() { aDone <- b.acquire(ctx, 50) }()
	waitFor(t, "A to queue", func() bool { b.mu.Lock(); defer b.mu.Unlock(); return len(b.waiters) == 1 })
	bctx, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if err := b.acquire(bctx, 10); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("B jumped the queue: %v", err)
	}
	b.release(60)
	if err := <-aDone; err != nil {
		t.Fatal(err)
	}
	if st := b.stats(); st.Used != 50 || st.Peak != 60 {
		t.Fatalf("stats %+v, want 50 used, peak 60", st)
	}
	// The wait ends in ErrOverBudget and leaves nothing behind.
	short := newMemBudget(100, time.Millisecond)
	if err := short.acquire(ctx, 100); err != nil {
		t.Fatal(err)
	}
	if err := short.acquire(ctx, 1); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("%v, want ErrOverBudget", err)
	}
	short.release(100)
	if st := short.stats(); st.Used != 0 || st.Refused != 1 || len(short.waiters) != 0 {
		t.Fatalf("stats %+v, waiters %d", st, len(short.waiters))
	}
	var nilBudget *memBudget
	if err := nilBudget.acquire(ctx, 1<<40); err != nil {
		t.Fatalf("nil budget: %v", err)
	}
}

// budgetServer starts a server with small limits: 1 MiB bodies, 4 MiB
// decompressed, 1 MiB gRPC messages and the given budget.
func budgetServer(t *testing.T, w *recordingWriter, budget int64, wait time.Duration) *Server {
	return startTestServer(t, w, func(c *Config) {
		c.HTTP.MaxRequestBytes, c.HTTP.MaxDecompressedBytes = 1<<20, 4<<20
		c.GRPC.MaxRecvMsgBytes = 1 << 20
		c.MemoryBudgetBytes, c.BudgetWait = budget, wait
	})
}

// TestGzipBombIsAccounted: one bomb's decompressed buffer is reserved as it
// grows (the peak covers the 4 MiB limit) and returned after the 413.
func TestGzipBombIsAccounted(t *testing.T) {
	s := budgetServer(t, &recordingWriter{}, 64<<20, time.Second)
	bomb := gzipBytes(t, make([]byte, 64<<20))
	code, _, _ := postOTLP(t, nil, "http://"+s.HTTPAddr()+TracesPath, contentTypeProto, "gzip", bomb)
	if code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", code)
	}
	st := s.Stats().Budget
	if st.Peak < 4<<20 || st.Used != 0 {
		t.Fatalf("budget %+v: want a peak of at least the 4 MiB buffer and nothing left", st)
	}
}

// TestConcurrentBombsStayWithinBudget sends 16 gzip bombs at once against a
// budget that holds about one bomb's buffers: every bomb is answered 413 or
// 429 with Retry-After, the reserved bytes never exceed the budget, nothing
// stays reserved, and a normal request is committed afterwards.
func TestConcurrentBombsStayWithinBudget(t *testing.T) {
	const budget = 24 << 20 // bodies get 8 MiB: one bomb's last doubling (2 + 4.5 MiB) at a time
	w := &recordingWriter{}
	s := budgetServer(t, w, budget, 200*time.Millisecond)
	url := "http://" + s.HTTPAddr() + TracesPath
	bomb := gzipBytes(t, make([]byte, 64<<20))
	var wg sync.WaitGroup
	codes := make(chan int, 16)
	for range 16 {
		wg.Go(func() {
			code, hdr, _ := postOTLP(t, nil, url, contentTypeProto, "gzip", bomb)
			if code == http.StatusTooManyRequests && hdr.Get("Retry-After") == "" {
				t.Errorf("429 without Retry-After")
			}
			codes <- code
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != http.StatusRequestEntityTooLarge && c != http.StatusTooManyRequests {
			t.Errorf("a bomb got %d, want 413 or 429", c)
		}
	}
	st := s.Stats()
	if st.Budget.Peak > budget || st.Budget.Used != 0 {
		t.Fatalf("budget %+v: peak over the limit or bytes left reserved", st.Budget)
	}
	if st.HTTP.TooLarge+st.HTTP.Refused != 16 {
		t.Errorf("stats %+v: want 16 bombs refused", st.HTTP)
	}
	if code, _, rb := postOTLP(t, nil, url, contentTypeProto, "", tracesBody(t, buildTraces("after", 10), encProto)); code != http.StatusOK {
		t.Fatalf("after the bombs: %d %q", code, rb)
	}
}

// TestOverloadStaysWithinBudget: 32 concurrent senders of 4,000-span
// requests (protobuf and JSON) against a budget that decodes one or two at
// a time: each is committed or refused with 429 and Retry-After, the budget
// is never exceeded and holds nothing afterwards.
func TestOverloadStaysWithinBudget(t *testing.T) {
	proto := tracesBody(t, buildTraces("load", 4000), encProto)
	json := tracesBody(t, buildTraces("load", 4000), encJSON)
	// The smallest valid budget: six times the largest request, which
	// decodes one or two requests at a time.
	limit := int64(len(json))
	budget := 6 * limit
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) {
		c.HTTP.MaxRequestBytes, c.HTTP.MaxDecompressedBytes, c.GRPC.MaxRecvMsgBytes = limit, limit, int(limit)
		c.MemoryBudgetBytes, c.BudgetWait = budget, 5*time.Second
	})
	url := "http://" + s.HTTPAddr() + TracesPath
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			body, ct := proto, contentTypeProto
			if i%2 == 1 {
				body, ct = json, contentTypeJSON
			}
			code, hdr, rb := postOTLP(t, nil, url, ct, "", body)
			switch {
			case code == http.StatusOK:
			case code == http.StatusTooManyRequests && hdr.Get("Retry-After") != "":
			default:
				t.Errorf("status %d (Retry-After %q): %q", code, hdr.Get("Retry-After"), rb)
			}
		})
	}
	wg.Wait()
	st := s.Stats()
	if st.Budget.Peak > budget || st.Budget.Used != 0 || st.Budget.Peak < int64(len(proto)) {
		t.Fatalf("budget %+v (limit %d)", st.Budget, budget)
	}
	t.Logf("budget %+v; accepted %d, refused %d", st.Budget, st.HTTP.Accepted, st.HTTP.Refused)
	if st.HTTP.Accepted == 0 || st.HTTP.Accepted+st.HTTP.Refused != 32 {
		t.Errorf("stats %+v", st.HTTP)
	}
}

// TestGRPCMessagesAreAccounted: a gRPC request reserves its message and
// what decoding it holds, gives it back once converted, and one that could
// never fit the budget is refused with RESOURCE_EXHAUSTED.
func TestGRPCMessagesAreAccounted(t *testing.T) {
	body := tracesBody(t, buildTraces("g", 2000), encProto)
	s := budgetServer(t, &recordingWriter{}, 64<<20, time.Second)
	client := dialGRPC(t, s.GRPCAddr())
	if err := client.Invoke(context.Background(), traceExportMethod, &rawMessage{b: body}, &rawMessage{}); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats().Budget; st.Peak < int64(len(body))*(1+decodeFactorProto) || st.Used != 0 {
		t.Fatalf("budget %+v for a %d-byte message", st, len(body))
	}

	small := budgetServer(t, &recordingWriter{}, 6<<20, time.Second) // the minimum; decoding gets 4 MiB
	big := tracesBody(t, buildTraces("big", 10000), encProto)
	if len(big)*decodeFactorProto <= 4<<20 || len(big) > 1<<20 {
		t.Fatalf("test message of %d bytes does not exceed the budget", len(big))
	}
	err := dialGRPC(t, small.GRPCAddr()).Invoke(context.Background(), traceExportMethod, &rawMessage{b: big}, &rawMessage{})
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("%v, want RESOURCE_EXHAUSTED", err)
	}
	if _, ok := retryDelay(err); ok {
		t.Errorf("a request that can never fit must not ask for a retry")
	}
}
