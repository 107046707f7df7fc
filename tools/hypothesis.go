package tools

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/debugai/debugai/agent/hypothesis"
)

// SubmitHypothesisInput is a hypothesis and the incident scope it must stay
// inside.
type SubmitHypothesisInput struct {
	Hypothesis hypothesis.Hypothesis `json:"hypothesis" jsonschema:"the root-cause hypothesis (schema debugai.hypothesis/v1); every claim cites evidence IDs, claims with root_cause set must cite at least two independent evidence lines"`
	Since      string                `json:"since,omitempty" jsonschema:"incident window start: RFC 3339 time or a duration before the end of the stored data"`
	Until      string                `json:"until,omitempty" jsonschema:"incident window end (same forms)"`
	Services   []string              `json:"services,omitempty" jsonschema:"services in scope (default: all); the location's service must be one of them"`
	// BaselineSince and BaselineUntil give the window the incident is
	// compared with; without them a cited span's change is not judged.
	BaselineSince string `json:"baseline_since,omitempty" jsonschema:"start of the baseline window the incident is compared with (same forms as since); root-cause citations must show a change against it"`
	BaselineUntil string `json:"baseline_until,omitempty" jsonschema:"end of the baseline window (same forms); required with baseline_since"`
}

// ReasonRow is one rejection reason.
type ReasonRow = hypothesis.Reason

// SubmitHypothesisOutput is the verifier's verdict.
type SubmitHypothesisOutput struct {
	Summary  string      `json:"summary"`
	Status   string      `json:"status" jsonschema:"accepted or rejected"`
	Reasons  []ReasonRow `json:"reasons,omitempty" jsonschema:"why it was rejected, per claim and citation"`
	Lines    []string    `json:"lines" jsonschema:"independent evidence lines the root-cause claims' resolved citations are on"`
	Resolved int         `json:"resolved" jsonschema:"citations that resolved to stored evidence"`
}

// SubmitHypothesis runs the verifier on a hypothesis: it is accepted only
// when every citation resolves to stored evidence inside the scope, the
// location names a stored service (and endpoint) inside the scope, the
// root-cause citations are about that service and show a change against
// the baseline (when one is given), the pattern's required lines are cited
// and at least two independent evidence lines back the root-cause claims
// (docs/verifier.md). It stores nothing.
func (t *Toolset) SubmitHypothesis(ctx context.Context, in SubmitHypothesisInput) (SubmitHypothesisOutput, error) {
	out := SubmitHypothesisOutput{Lines: []string{}}
	h := in.Hypothesis
	if h.Schema == "" {
		h.Schema = hypothesis.Schema
	}
	h.Status, h.Reasons = "", nil
	w, err := t.window(ctx, in.Since, in.Until, false)
	if err != nil {
		return out, err
	}
	scope := hypothesis.Scope{SinceNS: w.since, UntilNS: w.until, Services: in.Services}
	if in.BaselineSince != "" || in.BaselineUntil != "" {
		if in.BaselineSince == "" || in.BaselineUntil == "" {
			return out, argErrorf("baseline_since", "baseline_since and baseline_until go together")
		}
		b, err := t.window(ctx, in.BaselineSince, in.BaselineUntil, false)
		if ae := (*ArgError)(nil); errors.As(err, &ae) {
			ae.Field = "baseline_" + ae.Field
		}
		if err != nil {
			return out, err
		}
		scope.Baseline = []hypothesis.Window{{SinceNS: b.since, UntilNS: b.until}}
	}
	v, err := t.cfg.Verify(ctx, t.r, &h, scope)
	if err != nil {
		return out, fmt.Errorf("verifying: %w", err)
	}
	out.Status, out.Reasons, out.Resolved = string(v.Status), v.Reasons, v.Resolved
	for _, l := range v.Lines {
		out.Lines = append(out.Lines, string(l))
	}
	out.Summary = fmt.Sprintf("%s: %d citations resolved; root-cause claims on %d independent lines (%s)",
		v.Status, v.Resolved, len(v.Lines), strings.Join(out.Lines, ", "))
	if len(v.Reasons) > 0 {
		out.Summary += fmt.Sprintf("; %d reasons, first: %s", len(v.Reasons), v.Reasons[0].Detail)
	}
	return out, nil
}
