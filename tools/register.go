package tools

import (
	"github.com/debugai/debugai/agent/hypothesis"
)

// register builds the tool list, in the order Specs returns it.
func (t *Toolset) register() error {
	patterns := make([]string, len(hypothesis.Patterns))
	for i, p := range hypothesis.Patterns {
		patterns[i] = string(p)
	}
	builders := []func() (*tool, error){
		func() (*tool, error) {
			return def("list_findings", "List findings",
				"Start here. Lists the detectors' stored findings (critical-path dominance, lock inversions, change points, KS tests, patterns such as lock convoys or retransmit tails), highest score first (the share of the incident's change its location explains), each with its cited evidence IDs.",
				map[string][]string{"kinds": FindingKinds}, t.ListFindings)
		},
		func() (*tool, error) {
			return def("query_spans", "Query spans",
				"Lists spans by service, name, version, trace, time window (default: the last 5 minutes of data), minimum duration and status, oldest or newest first.",
				map[string][]string{"status": statusNames, "order": spanOrders}, t.QuerySpans)
		},
		func() (*tool, error) {
			return def("get_trace", "Get trace timeline",
				"Returns one trace as a timeline (depth, offset, duration per span) with the kernel time joined to each span: futex waits, run-queue delay, off-CPU, block I/O, TCP retransmits, major faults, citing kernel event IDs.",
				nil, t.GetTrace)
		},
		func() (*tool, error) {
			return def("critical_path", "Critical path",
				"With trace_id: that trace's critical path, segment by segment. Without: each operation's share of all critical-path time over a window (default the last 5 minutes of data), with exemplar spans.",
				nil, t.CriticalPath)
		},
		func() (*tool, error) {
			return def("kernel_overlays", "Kernel overlays",
				"Joins the kernel events of a window (or one trace) to its spans and lists the spans with the most kernel wait time, citing kernel event IDs.",
				map[string][]string{"sort": overlaySorts}, t.KernelOverlays)
		},
		func() (*tool, error) {
			return def("lock_graph", "Lock graph",
				"Builds the lock-order graph of the stored lock edges and reports its cycles (lock-order inversions, citing edge IDs on the lock line) and edges.",
				nil, t.LockGraph)
		},
		func() (*tool, error) {
			return def("changepoints", "Change points",
				"Lists the stored latency change points, critical-path component change points and trend breaks per series, with their cp: IDs and numbers.",
				nil, t.Changepoints)
		},
		func() (*tool, error) {
			return def("compare_versions", "Compare versions",
				"Lists the stored comparisons between versions (or baseline and current windows): two-sample KS tests with Benjamini–Hochberg q-values and the attribution of the latency change to critical-path components.",
				nil, t.CompareVersions)
		},
		func() (*tool, error) {
			return def("slice_dimensions", "Slice dimensions",
				"Labels the slowest spans of a window and finds the dimension values (service, operation, version, host, route, status, peer, database) over-represented among them.",
				nil, t.SliceDimensions)
		},
		func() (*tool, error) {
			return def("get_evidence", "Get evidence",
				"Resolves up to 20 evidence IDs (span:, sev:, kev:, edge:, log:, res:, finding:, cp:, ks:) to the stored facts and their evidence lines.",
				nil, t.GetEvidence)
		},
		func() (*tool, error) {
			return def("submit_hypothesis", "Submit hypothesis",
				"Runs the verifier on a root-cause hypothesis: accepted only if every citation resolves to stored evidence in scope, the pattern's required evidence lines are cited and two independent lines back the root cause; otherwise rejected with reasons. Stores nothing.",
				map[string][]string{"hypothesis.pattern": patterns}, t.SubmitHypothesis)
		},
	}
	t.byName = make(map[string]*tool, len(builders))
	for _, b := range builders {
		tl, err := b()
		if err != nil {
			return err
		}
		t.tools = append(t.tools, tl)
		t.byName[tl.name] = tl
	}
	return nil
}
