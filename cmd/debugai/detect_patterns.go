package main

import (
	"fmt"

	"github.com/debugai/debugai/detect/patterns"
	"github.com/debugai/debugai/evidence"
)

// runPatternsDetector runs detect/patterns over the window; with
// --baseline-until the spans before it are the network-gap baseline and
// the rest the spans to explain.
func runPatternsDetector(in *detectInput) ([]evidence.Finding, error) {
	pin := patterns.Input{Spans: in.spans, Events: in.kernel, Edges: in.edges}
	if in.baseline != 0 {
		pin.Spans, pin.Baseline = nil, nil
		for i := range in.spans {
			if in.spans[i].StartNS < in.baseline {
				pin.Baseline = append(pin.Baseline, in.spans[i])
			} else {
				pin.Spans = append(pin.Spans, in.spans[i])
			}
		}
	}
	finds, _, err := patterns.Analyze(pin, patterns.DefaultConfig())
	if err != nil {
		return nil, fmt.Errorf("patterns: %w", err)
	}
	return finds, nil
}
