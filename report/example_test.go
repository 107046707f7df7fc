package report_test

import (
	"fmt"

	"github.com/debugai/debugai/report"
)

func ExampleExitCode() {
	policy, err := report.ParseFailOn("any")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, s := range []report.Status{report.StatusAccepted, report.StatusUnconfirmed, ""} {
		code, _ := report.ExitCode(s, policy)
		fmt.Printf("%q -> %d\n", s, code)
	}
	// Output:
	// "accepted" -> 3
	// "unconfirmed" -> 4
	// "" -> 0
}
