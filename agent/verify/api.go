package verify

import (
	"context"
	"slices"

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

// About returns the services the cited item id is about, as the verifier
// resolves them for a root-cause citation (docs/verifier.md, "What a
// citation is about"): sorted, empty for an unlocated item. An
// investigator uses it to keep evidence about other services out of its
// root-cause claims. The error wraps evidence.ErrNotFound or ErrBadID for
// an unknown or malformed ID.
func About(ctx context.Context, r Resolver, scope hypothesis.Scope, id string) ([]string, error) {
	item, err := r.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if item.ID == "" {
		item.ID = id
	}
	parts, err := newLocator(r, scope, DefaultConfig().ScopeSlackNS).parts(ctx, item)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, p := range parts {
		out = append(out, p.services...)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
