package agent

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
)

var incScope = hypothesis.Scope{SinceNS: t0 - 1e9, UntilNS: t0 + 1e9, Services: []string{"bank"}}

func TestDeterministicAcceptsConvoy(t *testing.T) {
	st, ids := incidentStore(t)
	res, err := NewDeterministic(st, st).Investigate(context.Background(), Incident{Scope: incScope})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != hypothesis.Accepted || res.Hypothesis.Pattern != hypothesis.LockConvoy || res.Hypothesis.Claims[0].Citations[0] != ids["finding"] {
		t.Fatalf("result %+v, hypothesis %+v", res, res.Hypothesis)
	}
	if err := res.Hypothesis.Validate(); err != nil {
		t.Error(err)
	}
	if res.Elapsed <= 0 {
		t.Errorf("elapsed %v, want the investigation's time", res.Elapsed)
	}
}

// TestDeterministicTraceOnly: a trace-only pattern has one evidence line,
// so the best it can be is unconfirmed.
func TestDeterministicTraceOnly(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	span := evidence.Span{TraceID: evidence.TraceID{2}, SpanID: evidence.SpanID{2}, Service: "bank", Name: "list", StartNS: t0, EndNS: t0 + 5e6}
	if err := st.Write(ctx, &evidence.Batch{Spans: []evidence.Span{span}}); err != nil {
		t.Fatal(err)
	}
	refs := []evidence.Ref{{ID: span.ID(), Line: evidence.LineTrace}}
	f := evidence.Finding{ID: evidence.NewFindingID("n_plus_one", "bank/list -> db/get", refs), Kind: "n_plus_one",
		Subject: "bank/list -> db/get", Summary: "12 sequential gets", Confidence: 0.9, Score: 1, Refs: refs, StartNS: t0, EndNS: t0 + 5e6}
	if err := st.WriteFindings(ctx, []evidence.Finding{f}); err != nil {
		t.Fatal(err)
	}
	res, err := NewDeterministic(st, st).Investigate(ctx, Incident{Scope: incScope})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != hypothesis.Unconfirmed || res.Hypothesis == nil || res.Verdict.Status != hypothesis.Rejected {
		t.Fatalf("result %+v", res)
	}
	if !strings.Contains(res.StopReason, "no candidate passed") || res.Verdict.Reasons[0].Code != "insufficient_independent_lines" {
		t.Errorf("stop %q, reasons %+v", res.StopReason, res.Verdict.Reasons)
	}
}

func TestDeterministicNoFindings(t *testing.T) {
	ctx := context.Background()
	st, err := duckdb.Open(ctx, filepath.Join(t.TempDir(), "ev.duckdb"), duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	res, err := NewDeterministic(st, st).Investigate(ctx, Incident{Scope: incScope})
	if err != nil || res.Status != hypothesis.Unconfirmed || res.Hypothesis != nil || !strings.HasPrefix(res.StopReason, "no candidate") {
		t.Fatalf("result %+v, %v", res, err)
	}
}

// TestRankByExplainedShare: one score orders the leads, whatever their
// kind: the location that explains more of the change leads; within it,
// the mechanism that covers more of it; pre-existing findings come last.
func TestRankByExplainedShare(t *testing.T) {
	at := func(id, kind string, score, mech, pre float64) evidence.Finding {
		return evidence.Finding{ID: id, Kind: kind, Score: score, Confidence: 0.9,
			Attrs: map[string]float64{"mechanism_share": mech, evidence.AttrPreExisting: pre}}
	}
	fs := []evidence.Finding{
		at("a", "lock_inversion", 0.05, 1, 0),      // a kernel cause that explains little
		at("b", "latency_ks", 0.7, 0, 0),           // the big change, generic
		at("c", "n_plus_one", 0.9, 0, 1),           // a loop that was always there
		at("d", "io_latency", 0.7, 0.8, 0),         // the big change, its mechanism
		at("e", "critical_path_dominant", 0, 0, 0), // not a lead-worthy kind? it is; no share
	}
	var got []string
	for _, f := range rank(fs) {
		got = append(got, f.ID)
	}
	if want := []string{"d", "b", "a", "e", "c"}; !slices.Equal(got, want) {
		t.Errorf("rank %v, want %v", got, want)
	}
	if p := patternFor(evidence.Finding{Kind: "trace_shape", Attrs: map[string]float64{"extra_calls": 1}}); p != hypothesis.RetryStorm {
		t.Errorf("extra calls: pattern %s", p)
	}
	if p := patternFor(evidence.Finding{Kind: "change_explained", Attrs: map[string]float64{"mechanism": 4}}); p != hypothesis.NetworkGap {
		t.Errorf("network mechanism: pattern %s", p)
	}
}

// A hypothesis led by a measured change takes the pattern of the
// mechanism found at its service that covers most of the change, and
// cites it; mechanisms elsewhere, pre-existing, or whose components did
// not grow do not count; a mechanism lead keeps its own.
func TestRefinePattern(t *testing.T) {
	const located, elsewhere = "svc-a", "svc-b" // any two services
	mk := func(id, kind, svc string, share, pre float64) evidence.Finding {
		return evidence.Finding{ID: id, Kind: kind, Subject: svc + "/op", Service: svc, Summary: kind, Score: 0.9,
			Attrs: map[string]float64{"mechanism_share": share, evidence.AttrPreExisting: pre}}
	}
	lead := mk("finding:lead", "change_explained", located, 0.25, 0)
	lead.Attrs["mechanism"] = 4 // network
	all := []evidence.Finding{lead,
		mk("finding:retx", "retransmit_tail", elsewhere, 1, 0),    // elsewhere
		mk("finding:convoy", "lock_convoy", located, 0, 0),        // its component did not grow
		mk("finding:old", "io_latency", located, 0.9, 1),          // pre-existing
		mk("finding:throttle", "starvation", located, 0.8, 0),     // the one
		mk("finding:weaker", "page_fault_storm", located, 0.6, 0), // covers less
	}
	h := &hypothesis.Hypothesis{Pattern: patternFor(lead), Location: hypothesis.Location{Service: located},
		Claims: []hypothesis.Claim{{Citations: []string{lead.ID}, RootCause: true}}}
	refinePattern(h, lead, all)
	if h.Pattern != hypothesis.Starvation || len(h.Claims) != 2 || h.Claims[1].Citations[0] != "finding:throttle" || !h.Claims[1].RootCause {
		t.Fatalf("pattern %s, claims %+v; want starvation, citing its finding as root-cause evidence", h.Pattern, h.Claims)
	}
	convoyLead := mk("finding:c", "lock_convoy", located, 0.9, 0)
	h = &hypothesis.Hypothesis{Pattern: hypothesis.LockConvoy, Location: hypothesis.Location{Service: located},
		Claims: []hypothesis.Claim{{Citations: []string{convoyLead.ID}, RootCause: true}}}
	refinePattern(h, convoyLead, all)
	if h.Pattern != hypothesis.LockConvoy || len(h.Claims) != 1 {
		t.Errorf("a mechanism lead changed: %s %+v", h.Pattern, h.Claims)
	}

	// A convoy names where it is caused (its holder's endpoint): a lead
	// that measured where the time was lost takes that endpoint; a
	// starvation finding's operation only says where threads waited, and
	// does not move the location.
	for _, tc := range []struct {
		kind, want string
	}{{"lock_convoy", "POST /holder"}, {"starvation", "GET /felt"}} {
		lead := mk("finding:lead", "change_explained", located, 0.25, 0)
		lead.Operation = "GET /felt"
		mech := mk("finding:mech", tc.kind, located, 0.8, 0)
		mech.Operation = "POST /holder"
		h := &hypothesis.Hypothesis{Location: locationOf(lead), Claims: []hypothesis.Claim{{Citations: []string{lead.ID}, RootCause: true}}}
		refinePattern(h, lead, []evidence.Finding{lead, mech})
		if h.Location.Endpoint != tc.want || h.Pattern != patternFor(mech) {
			t.Errorf("%s: endpoint %q pattern %s, want %q and the mechanism's pattern", tc.kind, h.Location.Endpoint, h.Pattern, tc.want)
		}
	}
	if loc := locationOf(evidence.Finding{Kind: "lock_convoy", Subject: "0x1@n/1", Service: located, Operation: "POST /holder"}); loc.Endpoint != "POST /holder" || loc.Lock != "0x1@n/1" {
		t.Errorf("a convoy lead located at %+v, want its holder's endpoint and its lock", loc)
	}
}

// TestDeterministicTriesOnlyTheTopService: the ranking puts mail first
// (its finding explains more of the change) but mail's evidence is one
// line; bank's well-evidenced convoy explains less and is not tried: a
// weaker location is not the root cause because it is better evidenced.
func TestDeterministicTriesOnlyTheTopService(t *testing.T) {
	ctx := context.Background()
	st, _ := incidentStore(t)
	span := evidence.Span{TraceID: evidence.TraceID{3}, SpanID: evidence.SpanID{3}, Service: "mail", Name: "send", Kind: evidence.KindServer,
		StartNS: t0, EndNS: t0 + 90e6}
	if err := st.Write(ctx, &evidence.Batch{Spans: []evidence.Span{span}}); err != nil {
		t.Fatal(err)
	}
	refs := []evidence.Ref{{ID: span.ID(), Line: evidence.LineTrace}}
	f := evidence.Finding{ID: evidence.NewFindingID("trace_shape", "mail send", refs), Kind: "trace_shape", Subject: "mail send",
		Service: "mail", Operation: "send", Summary: "mail stops calling", Confidence: 0.9, Score: 2, Refs: refs, StartNS: t0, EndNS: t0 + 90e6}
	if err := st.WriteFindings(ctx, []evidence.Finding{f}); err != nil {
		t.Fatal(err)
	}
	res, err := NewDeterministic(st, st).Investigate(ctx, Incident{Scope: hypothesis.Scope{SinceNS: t0 - 1e9, UntilNS: t0 + 1e9}})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != hypothesis.Unconfirmed || res.Hypothesis == nil || res.Hypothesis.Location.Service != "mail" || res.Attempts != 1 {
		t.Fatalf("status %s, attempts %d, hypothesis %+v; want mail's, unconfirmed, the convoy not tried", res.Status, res.Attempts, res.Hypothesis)
	}
}
