package changepoint_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/changepoint"
)

// A latency series that steps from ~100 ms to ~250 ms.
func ExamplePELT() {
	latency := []float64{101, 99, 102, 98, 100, 103, 97, 101, 99, 100,
		251, 248, 252, 249, 250, 253, 247, 251, 249, 250}
	ends, err := changepoint.PELT(latency, changepoint.DefaultPELTConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("segment ends:", ends)
	fmt.Println("change points:", changepoint.Clean(ends, len(latency)))
	// Output:
	// segment ends: [9 19]
	// change points: [9]
}
