package agent

import (
	"context"
	"path/filepath"
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

// TestLeadRankCallConvoy: a convoy qualified only by releases that follow
// the process's calls ranks after the kernel causes that slow calls.
func TestLeadRankCallConvoy(t *testing.T) {
	blocked := evidence.Finding{Kind: "lock_convoy", Attrs: map[string]float64{"holder_blocked_share": 0.9}}
	calls := evidence.Finding{Kind: "lock_convoy", Attrs: map[string]float64{"holder_blocked_share": 0, "call_release_share": 0.98}}
	retx := evidence.Finding{Kind: "retransmit_tail"}
	if !(leadRank(blocked) < leadRank(retx) && leadRank(retx) < leadRank(calls)) {
		t.Errorf("ranks: blocked convoy %d, retransmit_tail %d, call convoy %d; want blocked < retransmit < call",
			leadRank(blocked), leadRank(retx), leadRank(calls))
	}
}
