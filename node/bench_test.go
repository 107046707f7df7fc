package node

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/debugai/debugai/bpf"
	"github.com/debugai/debugai/bpf/symbolize"
)

// BenchmarkEncodeExport measures the node's user-space path per record:
// encoding a futex wait (wall time, evidence ID) and exporting it in
// OTLP/HTTP protobuf batches (gzip) to a loopback endpoint that reads and
// discards the body. records/s is the sustained rate one core carries.
func BenchmarkEncodeExport(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
	}))
	defer srv.Close()
	cfg := DefaultConfig()
	cfg.Endpoint, cfg.BatchRecords, cfg.QueueRecords = srv.URL+"/v1/logs", 1024, 1<<20
	x := newExporter(cfg, resourceAttrs("bench"), slog.New(slog.DiscardHandler))
	enc := newEncoder("bench", testRing(b), symbolize.New(), bpf.Clock{}, time.Unix(0, 0))
	ev := bpf.FutexWait{TID: 11, PID: 1 << 30, CgroupID: 5, Addr: 0, Duration: time.Millisecond, EndNS: 1, WakerTID: 12}
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		ev.EndNS = uint64(i)
		rec, _ := enc.encode(ev)
		x.add(rec)
		if i%cfg.BatchRecords == cfg.BatchRecords-1 {
			x.flush(context.Background())
		}
	}
	x.flush(context.Background())
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "records/s")
	if _, sent, dropped, _ := x.stats(); sent != uint64(b.N) || dropped != 0 {
		b.Fatalf("sent %d dropped %d of %d", sent, dropped, b.N)
	}
}
