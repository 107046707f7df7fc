package eval

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

func intp(i int) *int    { return &i }
func boolp(b bool) *bool { return &b }

func TestEvalScoreOutcome(t *testing.T) {
	convoy := Truth{RootCauseService: "ledger", RootCauseOperation: "POST /entries", Pattern: "lock_convoy"}
	ledgerLock := Candidate{Service: "ledger", Pattern: "lock_convoy"}
	ledgerOp := Candidate{Service: "Ledger", Operation: "POST /entries network", Pattern: "regression_other"}
	frontend := Candidate{Service: "frontend", Operation: "POST /entries", Pattern: "network_gap"}
	tests := []struct {
		name  string
		truth Truth
		out   Outcome
		want  Score
	}{
		{"accepted at rank 1", convoy, Outcome{Accepted: true, Answer: &ledgerLock, Candidates: []Candidate{ledgerLock, frontend, ledgerOp}, Baseline: &frontend},
			Score{ServiceRank: 1, OperationRank: intp(3), PatternRank: intp(1), Accepted: true, AcceptedCorrect: true, BaselineOperationHit: boolp(false)}},
		{"accepted on the wrong service", convoy, Outcome{Accepted: true, Answer: &frontend, Candidates: []Candidate{frontend, ledgerOp}, Baseline: &ledgerOp},
			Score{ServiceRank: 2, OperationRank: intp(2), PatternRank: intp(0), Accepted: true, FalseRootCause: true, BaselineHit: true, BaselineOperationHit: boolp(true)}},
		{"missed, unconfirmed", Truth{RootCauseService: "mysql"}, Outcome{Answer: &frontend, Candidates: []Candidate{frontend}},
			Score{}},
		{"control, nothing accepted", Truth{RootCauseService: "none", Pattern: "none"}, Outcome{Answer: &frontend, Candidates: []Candidate{frontend}},
			Score{}},
		{"control, accepted", Truth{RootCauseService: "none"}, Outcome{Accepted: true, Answer: &frontend, Candidates: []Candidate{frontend}},
			Score{Accepted: true, FalseRootCause: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ScoreOutcome(tt.truth, tt.out)
			if s, w := scoreText(got), scoreText(tt.want); s != w {
				t.Errorf("score\n got %s\nwant %s", s, w)
			}
		})
	}
}

// scoreText prints a score with its pointers dereferenced.
func scoreText(s Score) string {
	deref := func(p *int) string {
		if p == nil {
			return "n/a"
		}
		return fmt.Sprint(*p)
	}
	bop := "n/a"
	if s.BaselineOperationHit != nil {
		bop = fmt.Sprint(*s.BaselineOperationHit)
	}
	op, pat := deref(s.OperationRank), deref(s.PatternRank)
	s.OperationRank, s.PatternRank, s.BaselineOperationHit = nil, nil, nil
	return fmt.Sprintf("%+v op=%s pattern=%s baseline-op=%s", s, op, pat, bop)
}

// resolverFunc adapts a function to Resolver.
type resolverFunc func(ctx context.Context, id string) (evidence.Item, error)

func (f resolverFunc) Get(ctx context.Context, id string) (evidence.Item, error) { return f(ctx, id) }

func TestEvalCitations(t *testing.T) {
	h := &hypothesis.Hypothesis{
		Claims:   []hypothesis.Claim{{Citations: []string{"ok1", "gone", "ok1"}}, {Citations: []string{"bad"}}},
		Timeline: []hypothesis.TimelineEntry{{Citation: "ok2"}, {Citation: ""}, {Citation: "gone"}},
	}
	r := resolverFunc(func(_ context.Context, id string) (evidence.Item, error) {
		switch {
		case strings.HasPrefix(id, "ok"):
			return evidence.Item{}, nil
		case id == "gone":
			return evidence.Item{}, evidence.ErrNotFound
		case id == "bad":
			return evidence.Item{}, evidence.ErrBadID
		}
		return evidence.Item{}, errors.New("store down")
	})
	cited, resolved, err := Citations(context.Background(), r, h)
	if err != nil || cited != 4 || resolved != 2 {
		t.Fatalf("cited %d resolved %d, %v; want 4, 2", cited, resolved, err)
	}
	h.Claims[0].Citations = append(h.Claims[0].Citations, "down")
	if _, _, err := Citations(context.Background(), r, h); err == nil || !strings.Contains(err.Error(), "resolving down") {
		t.Fatalf("store error: %v", err)
	}
}

func TestEvalSummarize(t *testing.T) {
	ledger := &Truth{RootCauseService: "ledger", RootCauseOperation: "GET /balance"}
	rs := []Result{
		{Truth: ledger, Cited: 4, Resolved: 4, TotalMS: 10, Score: &Score{ServiceRank: 1, OperationRank: intp(2), Accepted: true, AcceptedCorrect: true, BaselineHit: true, BaselineOperationHit: boolp(true)}},
		{Truth: ledger, Cited: 2, Resolved: 1, TotalMS: 5, Score: &Score{ServiceRank: 4, OperationRank: intp(0), BaselineOperationHit: boolp(false)}},
		{Truth: &Truth{RootCauseService: "none"}, Cited: 2, Resolved: 2, Score: &Score{Accepted: true, FalseRootCause: true}},
		{Cited: 2, Resolved: 2, Tokens: 7},
	}
	s := Summarize(rs)
	want := Summary{Bundles: 4, Scored: 3, Controls: 1,
		Service:   AC{N: 2, At1: 0.5, At3: 0.5, At5: 1},
		Operation: AC{N: 2, At1: 0, At3: 0.5, At5: 0.5},
		Accepted:  2, AcceptedCorrect: 1, FalseRootCauses: 1, CitationsOK: 0.9, TotalMS: 15, Tokens: 7,
		Baseline: AC{N: 2, At1: 0.5, At3: 0.5, At5: 0.5}, BaselineOperation: AC{N: 2, At1: 0.5, At3: 0.5, At5: 0.5}}
	if s != want {
		t.Errorf("summary\n got %+v\nwant %+v", s, want)
	}
	var b strings.Builder
	WriteTable(&b, rs, s)
	for _, w := range []string{"| service AC@1 / AC@3 / AC@5 (n=2) | 50% / 50% / 100% | 50% |", "| accepted false root causes | 1 |", "| citations that resolve | 90% |"} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("table lacks %q:\n%s", w, b.String())
		}
	}
}
