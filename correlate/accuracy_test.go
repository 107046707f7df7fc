package correlate

import (
	"math/rand/v2"
	"testing"
)

// TestAccuracy scores the overlap join against hook stamps on synthetic
// workloads and asserts lower bounds. Run with -v for the figures.
func TestAccuracy(t *testing.T) {
	const offset = 750_000 // node n2's event clock runs 750 µs ahead
	tpr := shape{node: "n1", pid: 1000, threads: 32, requests: 60, jitter: 1500, minGap: 1000}
	ahead := tpr
	ahead.node, ahead.offset = "n2", offset
	noTID := shape{node: "n1", pid: 2000, threads: 8, requests: 60, noTID: true, jitter: 1500, minGap: 1000}
	single := shape{node: "n1", pid: 3000, threads: 1, requests: 400, noTID: true, jitter: 1500, minGap: 1000}
	gor := shape{node: "n1", pid: 4000, threads: 4, requests: 30, jitter: 1500, minGap: 1000}
	gen := func(f func(*workload, *rand.Rand)) *workload {
		w := &workload{}
		f(w, rand.New(rand.NewPCG(7, 11)))
		return w
	}
	withOffset := func(c *Config) { c.NodeOffsetNS = map[string]int64{"n2": -offset} }
	cases := []struct {
		name              string
		w                 *workload
		cfg               func(*Config)
		precision, recall float64 // lower bounds
	}{
		{"thread-per-request", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, tpr) }), nil, 0.99, 0.99},
		{"thread-per-request, anchor start", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, tpr) }),
			func(c *Config) { c.Anchor = AnchorStart }, 0.85, 0.85},
		{"thread-per-request, anchor end", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, tpr) }),
			func(c *Config) { c.Anchor = AnchorEnd }, 0.85, 0.85},
		{"node offset corrected", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, ahead) }), withOffset, 0.99, 0.99},
		{"node offset ignored", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, ahead) }), nil, 0, 0},
		{"no thread.id, multi-threaded", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, noTID) }), nil, 1, 0},
		{"no thread.id, multi-threaded, pid fallback", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, noTID) }),
			func(c *Config) { c.PIDFallback = true }, 0, 0},
		{"no thread.id, single-threaded, pid fallback", gen(func(w *workload, r *rand.Rand) { w.threadPerRequest(r, single) }),
			func(c *Config) { c.PIDFallback = true }, 0.99, 0.99},
		{"goroutines migrating between threads", gen(func(w *workload, r *rand.Rand) { w.goroutines(r, gor, 32) }), nil, 0.6, 0.6},
		{"mixed", gen(func(w *workload, r *rand.Rand) {
			w.threadPerRequest(r, tpr)
			w.threadPerRequest(r, ahead)
			w.threadPerRequest(r, noTID)
			w.goroutines(r, gor, 32)
		}), withOffset, 0.9, 0.5},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			acc, err := Evaluate(tc.w.spans, tc.w.events, cfg)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d spans, %d events: %v; precision away from edges %.4f", len(tc.w.spans), len(tc.w.events), acc,
				ratio(acc.Correct-acc.NearEdgeCorrect, acc.Assigned-acc.NearEdge))
			if acc.Truth == 0 {
				t.Fatal("no stamped events")
			}
			if acc.Precision < tc.precision || acc.Recall < tc.recall {
				t.Errorf("precision %.4f recall %.4f: want at least %.2f and %.2f", acc.Precision, acc.Recall, tc.precision, tc.recall)
			}
			// Events between requests carry no stamp: the generator knows
			// they belong to no span.
			cfg.IgnoreStamps = true
			as, _, err := Join(tc.w.spans, tc.w.events, cfg)
			if err != nil {
				t.Fatal(err)
			}
			idle, wrong := 0, 0
			for i, want := range tc.w.truth {
				if want < 0 {
					idle++
					if as[i].SpanIndex >= 0 {
						wrong++
					}
				}
			}
			t.Logf("idle events: %d, assigned to a span: %d", idle, wrong)
			if tc.precision >= 0.99 && wrong > idle/100 {
				t.Errorf("%d of %d idle events assigned to a span", wrong, idle)
			}
		})
	}
}
