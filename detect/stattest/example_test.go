package stattest_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/stattest"
)

// Did request latency (ms) shift after a deploy?
func ExampleKS2Samp() {
	before := []float64{92, 95, 91, 97, 93, 94, 96, 90}
	after := []float64{120, 95, 131, 128, 99, 125, 140, 133, 129}
	res, err := stattest.KS2Samp(before, after, stattest.KSOptions{
		Alternative: stattest.Greater, // ECDF of before above that of after: after is slower
		Method:      stattest.Exact,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("D=%.4f p=%.4f (%s)\n", res.Statistic, res.PValue, res.Method)
	// Output: D=0.8889 p=0.0004 (exact)
}

func ExampleBenjaminiHochberg() {
	res, err := stattest.BenjaminiHochberg([]float64{0.01, 0.04, 0.03, 0.005}, 0.05)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Reject, res.Adjusted)
	// Output: [true true true true] [0.02 0.04 0.04 0.02]
}
