package lockgraph_test

import (
	"fmt"

	"github.com/debugai/debugai/detect/lockgraph"
	"github.com/debugai/debugai/evidence"
)

func ExampleAnalyze() {
	edge := func(held, acq, heldSite, acqSite string, n int64) evidence.LockEdge {
		return evidence.LockEdge{Node: "n1", Service: "bank", PID: 42, Held: held, Acquiring: acq,
			HeldSite: heldSite, AcquiringSite: acqSite, Count: n}
	}
	edges := []evidence.LockEdge{
		edge("main.muA", "main.muB", "main.transfer bank.go:41", "main.transfer bank.go:45", 40),
		edge("main.muB", "main.muA", "main.audit bank.go:80", "main.audit bank.go:82", 10),
		edge("main.muB", "main.muC", "main.audit bank.go:82", "main.log bank.go:90", 7), // no cycle
	}
	cfg := lockgraph.DefaultConfig()
	// Waits on each lock, e.g. from Go semacquire uprobes, out of 2s of
	// critical-path time.
	waits := &lockgraph.Waits{TotalNS: 2e9, ByLock: map[string]lockgraph.Wait{
		cfg.LockName("main.muA", "n1", "bank", 42): {NS: 300e6, Refs: []evidence.Ref{{ID: "kev:n1/sem/17", Line: evidence.LineKernelSched}}},
		cfg.LockName("main.muB", "n1", "bank", 42): {NS: 100e6},
	}}
	report, findings, err := lockgraph.Analyze(edges, waits, cfg)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d locks, %d edges, %d cycle(s)\n", report.Stats.Locks, report.Stats.Edges, len(report.Cycles))
	for _, f := range findings {
		fmt.Println(f.Kind, f.Subject)
		fmt.Println(f.Summary)
		fmt.Printf("confidence %.2f, score %.2f, share %.2f\n", f.Confidence, f.Score, f.Attrs["share"])
		for _, r := range f.Refs {
			fmt.Println(" ", r.Line, r.ID)
		}
	}
	// Output:
	// 3 locks, 3 edges, 1 cycle(s)
	// lock_inversion main.muA<->main.muB
	// lock-order inversion main.muA<->main.muB: main.muA->main.muB 40x (held at main.transfer bank.go:41, acquiring at main.transfer bank.go:45); main.muB->main.muA 10x (held at main.audit bank.go:80, acquiring at main.audit bank.go:82); waits on these locks are 20.0% of 2s
	// confidence 0.67, score 0.17, share 0.20
	//   kernel.sched kev:n1/sem/17
	//   lock edge:main.muA>main.muB
	//   lock edge:main.muB>main.muA
}
