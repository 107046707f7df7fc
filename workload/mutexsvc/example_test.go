package mutexsvc_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/debugai/debugai/workload/mutexsvc"
)

// Serve the demo workload and send it one request; under a load generator
// its mutex is contended and the node collector sees futex waits.
func Example() {
	svc, err := mutexsvc.New(mutexsvc.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(svc)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 ok 1
}
