package shape

import "slices"

// retried marks the blames of a retry storm: an operation blamed for its
// own errors that its callers call more times per request than in the
// baseline (a significant more_calls test on an edge that reaches it).
// The errors are the callee's; the multiplication is its callers'; the
// deepest-span blame sees only the first, so the edge tests are joined
// here, and cited in the blame's tests and reasons.
func (t *tree) retried(blames []Blame, tests []Test) {
	reach := map[Op][]*Test{} // callee op -> more_calls tests that reach it
	for k := range tests {
		tst := &tests[k]
		if !tst.Significant || tst.Change != MoreCalls {
			continue
		}
		for _, callee := range t.calleeOps(tst.Parent, tst.Child) {
			reach[callee] = append(reach[callee], tst)
		}
	}
	for i := range blames {
		b := &blames[i]
		more := reach[b.Op]
		if len(more) == 0 || !slices.ContainsFunc(b.Tests, func(x *Test) bool { return x.Change == MoreErrors && x.Parent == b.Op }) {
			continue
		}
		b.Retried = true
		for _, tst := range more {
			if !slices.Contains(b.Tests, tst) {
				b.Tests = append(b.Tests, tst)
				b.Because = append(b.Because, "its callers call it more often: "+describe(tst))
			}
		}
	}
}

// calleeOps lists the operations of another service that child calls of
// parent reach in the incident: the child itself when it runs in another
// service, else its children that do.
func (t *tree) calleeOps(parent, child Op) []Op {
	var out []Op
	for i := range t.spans {
		if t.win[i] != 1 || t.ops[i] != child || t.parent[i] < 0 || t.ops[t.parent[i]] != parent {
			continue
		}
		if c := t.callee(int(t.parent[i]), int32(i)); c >= 0 && !slices.Contains(out, t.ops[c]) {
			out = append(out, t.ops[c])
		}
	}
	return out
}

// extraCalls fills ExtraCallsTo: for a blame whose deviations are mostly
// extra calls (and not a retried failure), the operations of other
// services its significant more_calls and new_calls tests reach.
func (t *tree) extraCalls(blames []Blame) {
	for i := range blames {
		b := &blames[i]
		if !b.Increase || b.Retried {
			continue
		}
		for _, tst := range b.Tests {
			if !tst.Significant || tst.Change != MoreCalls && tst.Change != NewCalls {
				continue
			}
			for _, op := range t.calleeOps(tst.Parent, tst.Child) {
				if op.Service != b.Op.Service && !slices.Contains(b.ExtraCallsTo, op) {
					b.ExtraCallsTo = append(b.ExtraCallsTo, op)
				}
			}
		}
		slices.SortFunc(b.ExtraCallsTo, cmpOp)
	}
}
