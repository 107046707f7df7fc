package prompts_test

import (
	"fmt"
	"strings"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/prompts"
)

func ExampleRejected() {
	text, err := prompts.Rejected(prompts.RejectedData{
		Round: 1, MaxRounds: 3, SubmitTool: prompts.SubmitTool,
		Reasons: []hypothesis.Reason{{Code: "single_line", Claim: -1, Detail: "only the trace line is cited"}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(strings.SplitN(text, "\n", 2)[0])
	// Output:
	// The verifier rejected hypothesis 1 of 3. Reasons, one JSON object per line
}
