package agent

import (
	"context"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// TestDeterministicCandidates: the ranked candidates lead with the
// hypothesis Investigate accepts, and list every lead finding in rank
// order (a kernel-backed convoy before a trace-only N+1).
func TestDeterministicCandidates(t *testing.T) {
	ctx := context.Background()
	st, ids := incidentStore(t)
	refs := []evidence.Ref{{ID: ids["span"], Line: evidence.LineTrace}}
	n1 := evidence.Finding{ID: evidence.NewFindingID("n_plus_one", "api/list -> db/get", refs), Kind: "n_plus_one",
		Subject: "api/list -> db/get", Summary: "12 sequential gets", Confidence: 0.9, Score: 1, Refs: refs, StartNS: t0, EndNS: t0 + 5e6}
	if err := st.WriteFindings(ctx, []evidence.Finding{n1}); err != nil {
		t.Fatal(err)
	}
	d := NewDeterministic(st, st)
	inc := Incident{Scope: incScope}
	cands, err := d.Candidates(ctx, inc)
	if err != nil {
		t.Fatal(err)
	}
	want := []Candidate{
		{Lead: ids["finding"], Pattern: hypothesis.LockConvoy, Location: hypothesis.Location{Service: "bank", Lock: "0x1000"}},
		{Lead: n1.ID, Pattern: hypothesis.NPlusOne, Location: hypothesis.Location{Service: "api", Endpoint: "list -> db/get"}},
	}
	if len(cands) != len(want) {
		t.Fatalf("candidates %+v, want %+v", cands, want)
	}
	for i := range want {
		if cands[i] != want[i] {
			t.Errorf("candidate %d: %+v, want %+v", i, cands[i], want[i])
		}
	}
	res, err := d.Investigate(ctx, inc)
	if err != nil || res.Hypothesis == nil || res.Hypothesis.Location != cands[0].Location {
		t.Fatalf("investigate: %+v, %v; first candidate %+v", res.Hypothesis, err, cands[0])
	}
}
