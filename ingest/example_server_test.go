package ingest

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/debugai/debugai/evidence"
)

// ExampleServer starts both OTLP receivers on ephemeral loopback ports,
// adds a health route, and shuts down, flushing what was acknowledged.
func ExampleServer() {
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.GRPCAddr = "127.0.0.1:0", "127.0.0.1:0"
	store := evidence.WriterFunc(func(ctx context.Context, b *evidence.Batch) error {
		return nil // the DuckDB store in the real binary
	})
	s, err := NewServer(cfg, stubConverter{}, store, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = s.Handle("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	if err := s.Start(context.Background()); err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fmt.Println(s.Shutdown(ctx))
	// Output: <nil>
}
