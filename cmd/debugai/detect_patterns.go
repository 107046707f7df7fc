package main

import (
	"fmt"

	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/evidence"
)

// runPatternsDetector runs detect/patterns over the window; with
// --baseline-until the calls before it are the gap detectors' baseline
// (the other detectors see every span).
func runPatternsDetector(in *detectInput) ([]evidence.Finding, error) {
	pin := patterns.Input{Spans: in.spans, Events: in.kernel, Edges: in.edges, BaselineUntilNS: in.baseline}
	finds, _, err := patterns.Analyze(pin, patterns.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("patterns: %w", err)
	}
	return finds, nil
}
