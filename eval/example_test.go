package eval_test

import (
	"fmt"

	"github.com/debugai/debugai/eval"
)

// ExampleScoreOutcome scores an investigation whose second candidate is
// on the root-cause service and whose accepted answer is not.
func ExampleScoreOutcome() {
	truth, err := eval.ParseTruth([]byte(`{"root_cause_service": "ledger", "pattern": "lock_convoy"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	frontend := eval.Candidate{Service: "frontend", Operation: "POST /transfer", Pattern: "network_gap"}
	ledger := eval.Candidate{Service: "ledger", Pattern: "lock_convoy"}
	s := eval.ScoreOutcome(truth, eval.Outcome{Accepted: true, Answer: &frontend, Candidates: []eval.Candidate{frontend, ledger}})
	fmt.Println("service rank:", s.ServiceRank, "pattern rank:", *s.PatternRank, "false root cause:", s.FalseRootCause)
	// Output: service rank: 2 pattern rank: 2 false root cause: true
}
