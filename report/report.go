package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
)

// Schema is the value of Report.Schema for this version of the JSON form.
const Schema = "debugai.report/v1"

// Status is what a report may present.
type Status string

const (
	// StatusAccepted: the verifier accepted the hypothesis; the report
	// presents it as the root cause.
	StatusAccepted Status = "accepted"
	// StatusUnconfirmed: no accepted hypothesis; the report presents the
	// leading hypothesis as unconfirmed, with the verifier's reasons.
	StatusUnconfirmed Status = "unconfirmed"
)

// Errors.
var (
	// ErrSchema reports JSON of another schema version.
	ErrSchema = errors.New("unsupported report schema")
	// ErrOptions wraps Options.Validate failures.
	ErrOptions = errors.New("invalid report options")
)

// Report is an incident report. Field order is the JSON order.
type Report struct {
	Schema string `json:"schema"`
	Title  string `json:"title"`
	Status Status `json:"status"`
	// GeneratedAt is RFC 3339 UTC (Options.GeneratedAtNS), empty when not
	// given, so that builds of the same data are identical.
	GeneratedAt string `json:"generated_at,omitempty"`
	Scope       Scope  `json:"scope"`
	// Hypothesis is the investigator's document as submitted.
	Hypothesis hypothesis.Hypothesis `json:"hypothesis"`
	// Verdict is the verifier's answer.
	Verdict verify.Verdict `json:"verdict"`
	// Reasons are why the hypothesis is not accepted (empty when accepted).
	Reasons []hypothesis.Reason `json:"reasons,omitempty"`
	// Claims are the hypothesis's claims with their citations resolved.
	Claims   []Claim  `json:"claims"`
	Affected Affected `json:"affected"`
	// Findings are the top stored findings in scope; FindingsOmitted
	// counts the others.
	Findings        []FindingSummary `json:"findings,omitempty"`
	FindingsOmitted int              `json:"findings_omitted,omitempty"`
	// Causes are the shares of the change the ranking model found, the
	// root cause's and the secondary causes', most explained first.
	Causes    []Cause         `json:"causes,omitempty"`
	Timeline  []TimelineEntry `json:"timeline"`
	CodeSites []CodeSite      `json:"code_sites,omitempty"`
	Commits   []CommitLink    `json:"commits,omitempty"`
	Charts    Charts          `json:"charts"`
}

// Scope is the incident's scope.
type Scope struct {
	SinceNS  int64    `json:"since_ns,omitempty"`
	UntilNS  int64    `json:"until_ns,omitempty"`
	Services []string `json:"services,omitempty"`
	// Compared says what the incident was compared with.
	Compared string `json:"compared,omitempty"`
}

// Claim is one hypothesis claim with resolved citations.
type Claim struct {
	Text      string     `json:"text"`
	RootCause bool       `json:"root_cause,omitempty"`
	Citations []Citation `json:"citations"`
}

// Citation is one cited evidence ID, resolved through the store.
type Citation struct {
	ID string `json:"id"`
	// Line is the stored item's evidence line (empty for a finding: ID or
	// an unresolved one).
	Line evidence.Line `json:"line,omitempty"`
	// Resolved reports whether the ID names stored evidence.
	Resolved bool `json:"resolved"`
	// Text describes the stored item from its stored fields only.
	Text string `json:"text,omitempty"`
	// TimeNS is the item's time (see Build), 0 when it has none.
	TimeNS int64 `json:"time_ns,omitempty"`
}

// Affected lists what the cited evidence and the hypothesis's location
// touch, each sorted and distinct.
type Affected struct {
	Services  []string `json:"services,omitempty"`
	Endpoints []string `json:"endpoints,omitempty"`
	// Versions are "service@version".
	Versions []string `json:"versions,omitempty"`
	Nodes    []string `json:"nodes,omitempty"`
}

// FindingSummary is a stored finding as the report lists it.
type FindingSummary struct {
	ID         string          `json:"id"`
	Kind       string          `json:"kind"`
	Subject    string          `json:"subject"`
	Summary    string          `json:"summary"`
	Score      float64         `json:"score"`
	Confidence float64         `json:"confidence"`
	Lines      []evidence.Line `json:"lines,omitempty"`
	// Cited reports whether the hypothesis cites the finding.
	Cited bool `json:"cited,omitempty"`
}

// Timeline entry sources.
const (
	SourceHypothesis = "hypothesis" // an entry of the hypothesis's timeline
	SourceEvidence   = "evidence"   // a cited item, described from the store
)

// TimelineEntry is one dated step of the evidence timeline.
type TimelineEntry struct {
	TimeNS    int64      `json:"time_ns"`
	Text      string     `json:"text"`
	Source    string     `json:"source"`
	Citations []Citation `json:"citations,omitempty"`
}

// CodeSite is a code location implicated by the hypothesis or the evidence.
type CodeSite struct {
	Site string `json:"site"`
	// Lock is the lock taken there, for lock-edge sites.
	Lock string `json:"lock,omitempty"`
	// Source is "hypothesis" or the evidence ID the site comes from.
	Source string `json:"source"`
}

// CommitLink is a revision of a service, with a link when the repository
// URL allows one.
type CommitLink struct {
	Service    string `json:"service"`
	Version    string `json:"version,omitempty"`
	Repository string `json:"repository,omitempty"`
	Revision   string `json:"revision"`
	URL        string `json:"url,omitempty"`
	// Source is the evidence ID the attributes were read from.
	Source string `json:"source"`
}

// JSON encodes the report, indented, with a trailing newline. Field order
// is the struct order; finding attributes are not included.
func JSON(r Report) ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding report: %w", err)
	}
	return append(b, '\n'), nil
}

// Parse decodes a report written by JSON, rejecting other schema versions
// and unknown fields.
func Parse(b []byte) (Report, error) {
	var r Report
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return Report{}, fmt.Errorf("decoding report: %w", err)
	}
	if r.Schema != Schema {
		return Report{}, fmt.Errorf("%w: %q, want %q", ErrSchema, r.Schema, Schema)
	}
	return r, nil
}
