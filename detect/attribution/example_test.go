package attribution_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/attribution"
)

func ExampleAttribute() {
	components := []string{"cpu", "lock", "net"}
	// Per-trace component times in ns. In v2 one request in four waits
	// 6ms on a lock, and the network gets 100µs faster.
	var v1, v2 [][]float64
	for i := range 200 {
		cpu := float64(2_000_000 + 10_000*(i%50))
		v1 = append(v1, []float64{cpu, 50_000, 1_000_000})
		lock := 50_000.0
		if i%4 == 0 {
			lock += 6_000_000
		}
		v2 = append(v2, []float64{cpu, lock, 900_000})
	}
	att, err := attribution.Attribute(components, v1, v2, attribution.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%s: %.2fms -> %.2fms\n", att.Statistic, att.StatA/1e6, att.StatB/1e6)
	for _, c := range att.Contributions {
		fmt.Printf("%-4s %+6.2fms %4.0f%%\n", c.Component, c.Delta/1e6, 100*c.Share)
	}
	fs, err := att.Findings(attribution.Scope{
		Endpoint: "checkout GET /cart", From: "v1", To: "v2",
		ExemplarIDs: []string{"span:4bf92f3577b34da6a3ce929d0e0e4736/00f067aa0ba902b7"},
		DeployIDs:   []string{"deploy:checkout/v2"},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(fs[0].Summary)
	// cpu is unchanged per request, yet gets a small negative share: items
	// are paired by rank of total, and v2's tail is made of lock-waiting
	// requests with typical CPU time rather than v1's most CPU-heavy ones.

	// Output:
	// p95: 3.52ms -> 9.33ms
	// lock  +5.96ms  102%
	// net   -0.10ms   -2%
	// cpu   -0.04ms   -1%
	// checkout GET /cart v1..v2: p95 latency rose +5.8ms (3.5ms to 9.3ms); lock +6ms (102%), net -100µs (-2%), cpu -45µs (-1%)
}

func ExampleSlice() {
	var items []attribution.Item
	for i := range 600 {
		host := fmt.Sprintf("h%d", i%6)
		slow := i%15 == 0 || (host == "h2" && (i/6)%3 != 0)
		items = append(items, attribution.Item{
			ID:   fmt.Sprintf("span:%032x/%016x", i, i),
			Slow: slow,
			Dims: map[string]string{"host": host, "region": []string{"eu", "us"}[(i/6)%2]},
		})
	}
	rep, err := attribution.Slice(items, attribution.DefaultConfig())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, o := range rep.Significant {
		fmt.Printf("%s: %d/%d slow, lift %.2f, %s p=%.1e q=%.1e\n", o.Subject(), o.Slow, o.Items, o.Lift, o.Test, o.P, o.Q)
	}
	for _, f := range rep.Findings(nil) {
		fmt.Println(f.Kind, f.Subject, len(f.Refs), "refs on the", f.Refs[0].Line, "line")
	}
	// Output:
	// host=h2: 66/100 slow, lift 3.74, fisher p=9.9e-35 q=7.9e-34
	// dimension_overrepresented host=h2 5 refs on the trace line
}
