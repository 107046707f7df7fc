package duckdb_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

func Example() {
	dir, err := os.MkdirTemp("", "debugai-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	store, err := duckdb.Open(ctx, filepath.Join(dir, "evidence.duckdb"), duckdb.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer store.Close()

	trace, _ := evidence.ParseTraceID("4bf92f3577b34da6a3ce929d0e0e4736")
	span, _ := evidence.ParseSpanID("00f067aa0ba902b7")
	batch := &evidence.Batch{Spans: []evidence.Span{{
		TraceID: trace, SpanID: span, Service: "checkout", Name: "GET /cart",
		Kind: evidence.KindServer, StartNS: 1_000, EndNS: 251_000,
		Attrs: evidence.Attrs{{Key: "http.response_content_length", Value: evidence.IntValue(512)}},
	}}}
	// Writing the same batch twice stores it once.
	for range 2 {
		if err := store.Write(ctx, batch); err != nil {
			fmt.Println(err)
			return
		}
	}

	item, err := store.Get(ctx, "span:4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(item.Line, item.Span.Service, item.Span.Name, item.Span.DurationNS(), item.Span.Attrs[0].Value)
	stats, _ := store.Stats(ctx)
	fmt.Println("spans:", stats.Spans)
	// Output:
	// trace checkout GET /cart 250000 512
	// spans: 1
}
