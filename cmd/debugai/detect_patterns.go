package main

import (
	"fmt"

	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/evidence"
)

// runPatternsDetector runs detect/patterns over the window; with
// a baseline its spans are the gap detectors' baseline
// (the other detectors see every span).
func runPatternsDetector(in *detectInput) ([]evidence.Finding, error) {
	pin := patterns.Input{Spans: in.spans, Events: in.kernel, Edges: in.edges, IsBaseline: in.baselinePredicate()}
	finds, _, err := patterns.Analyze(pin, patterns.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("patterns: %w", err)
	}
	return finds, nil
}
