package loadgen_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/debugai/debugai/bench/loadgen"
	"github.com/debugai/debugai/bench/loadgen/loadgentest"
)

// Generate the bodies once, then replay them against a server: here a fake
// on loopback; in a benchmark, `debugai serve` or a Collector.
func ExampleRun() {
	sink := &loadgentest.Sink{}
	srv := httptest.NewServer(sink)
	defer srv.Close()

	bodies, err := loadgen.Generate(loadgen.BodyConfig{Bodies: 4, SpansPerBody: 1000, Seed: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	res, err := loadgen.Run(context.Background(), loadgen.RunConfig{
		URL:         srv.URL + "/v1/traces",
		Bodies:      bodies,
		Concurrency: 2,
		MaxRequests: 10, // or Duration: 10 * time.Second
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("acknowledged %d spans in %d requests; the server counted %d\n",
		res.Spans, res.Requests, sink.Counts().Spans)
	// Output: acknowledged 10000 spans in 10 requests; the server counted 10000
}
