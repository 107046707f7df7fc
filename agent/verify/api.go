package verify

import (
	"context"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// Resolver resolves evidence IDs and lists stored spans (evidence.Reader
// satisfies it). The spans place evidence in services (a kernel event
// through the spans of its process, a span through its callees), check
// that a location exists, and give an operation's baseline durations.
type Resolver interface {
	Get(ctx context.Context, id string) (evidence.Item, error)
	Spans(ctx context.Context, f evidence.SpanFilter) ([]evidence.Span, error)
}

var _ Resolver = evidence.Reader(nil)

// Verdict is the verifier's answer.
type Verdict struct {
	Status  hypothesis.Status   `json:"status"` // Accepted or Rejected
	Reasons []hypothesis.Reason `json:"reasons,omitempty"`
	// Lines are the independent evidence lines the root-cause claims'
	// resolved, in-scope citations about the location's service that show
	// a change are on, sorted.
	Lines []evidence.Line `json:"lines"`
	// Resolved counts citations that resolved to stored evidence.
	Resolved int `json:"resolved"`
}
