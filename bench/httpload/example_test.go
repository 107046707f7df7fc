package httpload_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/debugai/debugai/bench/httpload"
)

// Offer 200 requests per second for half a second, whatever the server's
// latency, and read what it achieved.
func ExampleRun() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	cfg := httpload.DefaultConfig()
	cfg.URL, cfg.Rate, cfg.Duration = srv.URL, 200, 500*time.Millisecond
	res, err := httpload.Run(context.Background(), cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("offered %d, answered %d, errors %d\n", res.Offered, res.OK, res.Errors)
	// Output: offered 100, answered 100, errors 0
}
