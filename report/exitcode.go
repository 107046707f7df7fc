package report

import (
	"errors"
	"fmt"
)

// Exit codes for CI gates (see the package doc).
const (
	ExitOK          = 0
	ExitError       = 1 // reserved for main: the investigation failed
	ExitUsage       = 2 // reserved for main: bad flags
	ExitRootCause   = 3 // an accepted root cause was found
	ExitUnconfirmed = 4 // only an unconfirmed hypothesis was found
)

// FailOn is a --fail-on policy: which report statuses fail a CI gate.
type FailOn string

// Policies.
const (
	FailOnNone     FailOn = "none"     // never fail
	FailOnAccepted FailOn = "accepted" // fail on an accepted root cause
	FailOnAny      FailOn = "any"      // fail on any hypothesis, accepted or not
)

// ErrPolicy reports an unknown --fail-on value or report status.
var ErrPolicy = errors.New("invalid exit-code policy")

// ParseFailOn parses a --fail-on value.
func ParseFailOn(s string) (FailOn, error) {
	switch p := FailOn(s); p {
	case FailOnNone, FailOnAccepted, FailOnAny:
		return p, nil
	}
	return "", fmt.Errorf("%w: --fail-on %q: want none, accepted or any", ErrPolicy, s)
}

// ExitCode maps a report status (empty: no hypothesis was produced) and a
// policy to the process exit code.
func ExitCode(s Status, p FailOn) (int, error) {
	if _, err := ParseFailOn(string(p)); err != nil {
		return ExitUsage, err
	}
	switch s {
	case "":
		return ExitOK, nil
	case StatusAccepted:
		if p == FailOnNone {
			return ExitOK, nil
		}
		return ExitRootCause, nil
	case StatusUnconfirmed:
		if p == FailOnAny {
			return ExitUnconfirmed, nil
		}
		return ExitOK, nil
	}
	return ExitError, fmt.Errorf("%w: status %q", ErrPolicy, s)
}
