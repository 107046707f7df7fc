package correlate

import (
	"fmt"

	"github.com/debugai/debugai/evidence"
)

// Accuracy scores the overlap join against hook stamps.
type Accuracy struct {
	// Truth counts the events whose stamp resolves to one of the spans:
	// the scored events. Other events have no known answer.
	Truth int
	// Assigned counts scored events that the overlap join (stamps hidden)
	// assigned to some span; Correct those it assigned to the stamped span.
	Assigned, Correct int
	// NearEdge and NearEdgeCorrect count the assigned events flagged
	// NearEdge and how many of them were right.
	NearEdge, NearEdgeCorrect int
	// ByMethod counts the correct assignments per method (overlap, pid).
	ByMethod map[Method]int
	// Precision is Correct/Assigned, Recall is Correct/Truth (1 when the
	// denominator is 0).
	Precision, Recall float64
	// Stats is the overlap join's.
	Stats Stats
}

// String formats the figures on one line.
func (a Accuracy) String() string {
	return fmt.Sprintf("truth=%d assigned=%d correct=%d precision=%.4f recall=%.4f near-edge=%d (%d correct)",
		a.Truth, a.Assigned, a.Correct, a.Precision, a.Recall, a.NearEdge, a.NearEdgeCorrect)
}

// Evaluate measures the precision and recall of the overlap join: the
// events that span hooks stamped with a known span are the truth; Evaluate
// joins all events again with the stamps hidden (Config.IgnoreStamps) and
// compares. Only stamped events are scored, so the figures say how well
// the overlap join stands in for hooks on runtimes that have none.
func Evaluate(spans []evidence.Span, events []evidence.KernelEvent, cfg Config) (Accuracy, error) {
	cfg.IgnoreStamps = false
	truth, _, err := Join(spans, events, cfg)
	if err != nil {
		return Accuracy{}, err
	}
	cfg.IgnoreStamps = true
	got, st, err := Join(spans, events, cfg)
	if err != nil {
		return Accuracy{}, err
	}
	acc := Accuracy{ByMethod: map[Method]int{}, Stats: st}
	for i, want := range truth {
		if want.Method != MethodStamped {
			continue
		}
		acc.Truth++
		g := got[i]
		if g.Method == MethodNone {
			continue
		}
		acc.Assigned++
		ok := g.SpanIndex == want.SpanIndex
		if ok {
			acc.Correct++
			acc.ByMethod[g.Method]++
		}
		if g.NearEdge {
			acc.NearEdge++
			if ok {
				acc.NearEdgeCorrect++
			}
		}
	}
	acc.Precision, acc.Recall = ratio(acc.Correct, acc.Assigned), ratio(acc.Correct, acc.Truth)
	return acc, nil
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
