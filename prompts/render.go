package prompts

import (
	"fmt"
	"slices"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/evidence"
)

// SystemData fills the system prompt.
type SystemData struct {
	// Tools are the read-only evidence tools the investigator may call,
	// from the tool registry (the submit tool is named separately).
	Tools []Tool
	// SubmitTool is the tool that takes the hypothesis (SubmitTool).
	SubmitTool string
	// Patterns list the patterns with their required lines
	// (DefaultPatterns()).
	Patterns []PatternRule
	// Schema is the submit tool's JSON schema (HypothesisSchema).
	Schema string
	// MaxRounds is how many hypotheses the investigator may submit.
	MaxRounds int
}

// DefaultSystemData returns SystemData with the default submit tool,
// patterns, schema and 3 rounds; the caller adds its Tools.
func DefaultSystemData(tools []Tool) SystemData {
	return SystemData{Tools: tools, SubmitTool: SubmitTool, Patterns: DefaultPatterns(),
		Schema: HypothesisSchema, MaxRounds: 3}
}

// System renders the investigator's system prompt.
func System(d SystemData) (string, error) {
	switch {
	case d.SubmitTool == "":
		return "", fmt.Errorf("%w: system: no submit tool", ErrData)
	case d.Schema == "":
		return "", fmt.Errorf("%w: system: no schema", ErrData)
	case d.MaxRounds < 1:
		return "", fmt.Errorf("%w: system: max rounds %d < 1", ErrData, d.MaxRounds)
	case len(d.Tools) == 0:
		return "", fmt.Errorf("%w: system: no tools", ErrData)
	}
	if err := checkPatterns(d.Patterns); err != nil {
		return "", err
	}
	if err := checkTools(d.Tools); err != nil {
		return "", err
	}
	return render("system.tmpl", d)
}

// Finding is a detector finding as the incident prompt lists it.
type Finding struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Subject    string          `json:"subject"`
	Summary    string          `json:"summary"`
	Score      float64         `json:"score"`
	Confidence float64         `json:"confidence"`
	Lines      []evidence.Line `json:"lines"`
}

// FindingsFrom converts up to n stored findings (all when n <= 0), each
// with the sorted, distinct lines of its refs, and returns how many were
// left out.
func FindingsFrom(fs []evidence.Finding, n int) ([]Finding, int) {
	if n <= 0 || n > len(fs) {
		n = len(fs)
	}
	out := make([]Finding, 0, n)
	for _, f := range fs[:n] {
		var lines []evidence.Line
		for _, r := range f.Refs {
			lines = append(lines, r.Line)
		}
		slices.Sort(lines)
		out = append(out, Finding{ID: f.ID, Kind: f.Kind, Subject: f.Subject, Summary: f.Summary,
			Score: f.Score, Confidence: f.Confidence, Lines: slices.Compact(lines)})
	}
	return out, len(fs) - n
}

// IncidentData fills the user prompt that opens an investigation.
type IncidentData struct {
	// Title is the symptom in a few words, e.g. "p95 of POST /orders x6".
	Title string
	// SinceNS and UntilNS bound the incident window (unix ns; 0 unbounded).
	SinceNS, UntilNS int64
	// Services and Endpoints in scope (empty: all).
	Services, Endpoints []string
	// Findings are the top detector findings; Omitted counts the others.
	Findings []Finding
	Omitted  int
}

// Incident renders the user prompt for an incident.
func Incident(d IncidentData) (string, error) {
	switch {
	case d.Title == "":
		return "", fmt.Errorf("%w: incident: no title", ErrData)
	case d.UntilNS != 0 && d.UntilNS <= d.SinceNS:
		return "", fmt.Errorf("%w: incident: window end %d not after start %d", ErrData, d.UntilNS, d.SinceNS)
	case d.Omitted < 0:
		return "", fmt.Errorf("%w: incident: omitted %d < 0", ErrData, d.Omitted)
	}
	for i, f := range d.Findings {
		if evidence.IDKind(f.ID) == "" {
			return "", fmt.Errorf("%w: incident: finding %d: id %q", ErrData, i, f.ID)
		}
	}
	return render("incident.tmpl", d)
}

// RejectedData fills the follow-up after a rejected hypothesis.
type RejectedData struct {
	// Round is the round that was rejected (1-based); MaxRounds the limit.
	Round, MaxRounds int
	// Reasons are the verifier's (verify.Verdict.Reasons).
	Reasons []hypothesis.Reason
	// Lines are the independent lines the resolved, in-scope root-cause
	// citations were on (verify.Verdict.Lines).
	Lines []evidence.Line
	// SubmitTool names the submit tool (SubmitTool).
	SubmitTool string
}

// Rejected renders the "rejected, here is why, try again" message.
func Rejected(d RejectedData) (string, error) {
	switch {
	case len(d.Reasons) == 0:
		return "", fmt.Errorf("%w: rejected: no reasons", ErrData)
	case d.Round < 1 || d.Round >= d.MaxRounds:
		return "", fmt.Errorf("%w: rejected: round %d of %d leaves no round to retry", ErrData, d.Round, d.MaxRounds)
	case d.SubmitTool == "":
		return "", fmt.Errorf("%w: rejected: no submit tool", ErrData)
	}
	return render("rejected.tmpl", d)
}

// MCPInvestigateData fills the MCP "investigate" prompt. Its fields are the
// prompt's arguments as the IDE user typed them; empty ones are left out.
type MCPInvestigateData struct {
	Symptom  string
	Service  string
	Endpoint string
	// Since and Until are as given (RFC 3339, or durations like "30m").
	Since, Until string
	// SubmitTool names the submit tool (SubmitTool).
	SubmitTool string
	// Patterns list the patterns (DefaultPatterns()).
	Patterns []PatternRule
	// Tools, when given, are listed by name and purpose.
	Tools []Tool
}

// MCPInvestigate renders the MCP "investigate" prompt text.
func MCPInvestigate(d MCPInvestigateData) (string, error) {
	if d.Symptom == "" && d.Service == "" && d.Endpoint == "" {
		return "", fmt.Errorf("%w: investigate: give a symptom, a service or an endpoint", ErrData)
	}
	if d.SubmitTool == "" {
		return "", fmt.Errorf("%w: investigate: no submit tool", ErrData)
	}
	if err := checkPatterns(d.Patterns); err != nil {
		return "", err
	}
	if err := checkTools(d.Tools); err != nil {
		return "", err
	}
	return render("mcp_investigate.tmpl", d)
}
