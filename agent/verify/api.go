package verify

import (
	"context"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// Resolver resolves evidence IDs (evidence.Reader satisfies it).
type Resolver interface {
	Get(ctx context.Context, id string) (evidence.Item, error)
}

// Verdict is the verifier's answer.
type Verdict struct {
	Status  hypothesis.Status   `json:"status"` // Accepted or Rejected
	Reasons []hypothesis.Reason `json:"reasons,omitempty"`
	// Lines are the independent evidence lines the root-cause claims'
	// resolved, in-scope citations are on, sorted.
	Lines []evidence.Line `json:"lines"`
	// Resolved counts citations that resolved to stored evidence.
	Resolved int `json:"resolved"`
}
