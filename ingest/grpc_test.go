package ingest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/debugai/debugai/evidence"
)

func dialGRPC(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dialing %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func TestGRPCTracesAndLogs(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	conn := dialGRPC(t, s.GRPCAddr())
	ctx := context.Background()

	td := buildTraces("g", 4)
	td.ResourceSpans().At(0).ScopeSpans().At(0).Spans().AppendEmpty().SetName("reject-me")
	resp, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td), grpc.UseCompressor("gzip"))
	if err != nil {
		t.Fatalf("Export traces: %v", err)
	}
	if ps := resp.PartialSuccess(); ps.RejectedSpans() != 1 || !strings.Contains(ps.ErrorMessage(), "refused") {
		t.Errorf("partial success %d %q, want 1 rejected span with the reason", ps.RejectedSpans(), ps.ErrorMessage())
	}
	if got := w.spanNames(); !slices.Equal(got, names("g", 4)) {
		t.Errorf("written spans %v", got)
	}

	lresp, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(buildLogs("l1", "l2", "reject")))
	if err != nil {
		t.Fatalf("Export logs: %v", err)
	}
	if lresp.PartialSuccess().RejectedLogRecords() != 1 {
		t.Errorf("rejected logs %d, want 1", lresp.PartialSuccess().RejectedLogRecords())
	}
	if got := w.logBodies(); !slices.Equal(got, []string{"l1", "l2"}) {
		t.Errorf("written logs %v", got)
	}
	if st := s.Stats().GRPC; st.Accepted != 2 || st.AcceptedItems != 6 || st.RejectedItems != 2 {
		t.Errorf("grpc stats %+v", st)
	}
}

func TestGRPCMalformed(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, nil)
	conn := dialGRPC(t, s.GRPCAddr())
	for _, m := range []struct{ method, what string }{{traceExportMethod, "traces"}, {logsExportMethod, "logs"}} {
		err := conn.Invoke(context.Background(), m.method, &rawMessage{b: []byte{0x0a, 0xff, 0xff, 0xff}}, &rawMessage{})
		st := status.Convert(err)
		if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "decoding protobuf "+m.what+" export request") {
			t.Errorf("%s: %v %q, want InvalidArgument naming the decoding failure", m.method, st.Code(), st.Message())
		}
	}
	if w.writeCount() != 0 || s.Stats().GRPC.Malformed != 2 {
		t.Errorf("writes %d, stats %+v", w.writeCount(), s.Stats().GRPC)
	}
}

func TestGRPCTooLarge(t *testing.T) {
	w := &recordingWriter{}
	s := startTestServer(t, w, func(c *Config) { c.GRPC.MaxRecvMsgBytes = 1024 })
	conn := dialGRPC(t, s.GRPCAddr())
	_, err := ptraceotlp.NewGRPCClient(conn).Export(context.Background(), ptraceotlp.NewExportRequestFromTraces(buildTraces("big", 100)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Errorf("err %v, want ResourceExhausted", err)
	}
	if w.writeCount() != 0 {
		t.Error("an oversized message was written")
	}
}

func retryDelay(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func TestGRPCBackpressureAndShutdown(t *testing.T) {
	w := &recordingWriter{gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	s := startTestServer(t, w, func(c *Config) { c.Pipeline.MaxQueueItems = 4; c.Pipeline.RetryAfter = 2 * time.Second })
	client := ptraceotlp.NewGRPCClient(dialGRPC(t, s.GRPCAddr()))
	ctx := context.Background()

	first := make(chan error, 1)
	go func() {
		_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(buildTraces("first", 3)))
		first <- err
	}()
	<-w.entered

	_, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(buildTraces("second", 2)))
	if status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err %v, want ResourceExhausted", err)
	}
	if d, ok := retryDelay(err); !ok || d != 2*time.Second {
		t.Errorf("RetryInfo %v %v, want 2s", d, ok)
	}

	// Shutdown waits for the accepted batch; meanwhile new RPCs are refused.
	shut := make(chan error, 1)
	go func() {
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		shut <- s.Shutdown(sctx)
	}()
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) while an accepted batch was uncommitted", err)
	case err := <-first:
		t.Fatalf("first export answered (%v) before commit", err)
	default:
	}
	close(w.gate)
	if err := <-first; err != nil {
		t.Errorf("first export: %v", err)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if got := w.spanNames(); !slices.Equal(got, names("first", 3)) {
		t.Errorf("written %v", got)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
	// After Shutdown: the listener is gone and the pipeline refuses.
	if _, err := client.Export(ctx, ptraceotlp.NewExportRequestFromTraces(buildTraces("late", 1))); status.Code(err) != codes.Unavailable {
		t.Errorf("export after shutdown: %v, want Unavailable", err)
	}
	if err := s.pipe.Submit(ctx, &evidence.Batch{Spans: make([]evidence.Span, 1)}); !errors.Is(err, ErrShuttingDown) {
		t.Errorf("Submit after shutdown: %v, want ErrShuttingDown", err)
	}
	if got := w.spanNames(); !slices.Equal(got, names("first", 3)) {
		t.Errorf("written after shutdown %v", got)
	}
}
