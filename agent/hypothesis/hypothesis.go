// Package hypothesis is the root-cause hypothesis an investigator (LLM or
// deterministic) writes and the verifier judges: a versioned JSON document
// whose every claim cites stored evidence IDs (ARCHITECTURE.md, "Evidence
// contract"). It has no behaviour beyond validation of its shape.
package hypothesis

import (
	"errors"
	"fmt"
	"strings"
)

// Schema is the value of Hypothesis.Schema for this version.
const Schema = "debugai.hypothesis/v1"

// Pattern names the kind of root cause.
type Pattern string

// Patterns. Each has evidence lines the verifier requires (package verify).
const (
	LockInversion   Pattern = "lock_inversion"
	LockConvoy      Pattern = "lock_convoy"
	Starvation      Pattern = "starvation"
	RetransmitTail  Pattern = "retransmit_tail"
	IOLatency       Pattern = "io_latency"
	PageFaultStorm  Pattern = "page_fault_storm"
	GCOrCPU         Pattern = "gc_or_cpu"
	NetworkGap      Pattern = "network_gap"
	NPlusOne        Pattern = "n_plus_one"
	PoolSaturation  Pattern = "pool_saturation"
	RegressionOther Pattern = "regression_other"
	// CodeFault: an error return or exception changed the traces' shape
	// (downstream calls missing, traces ending early, errors) more than
	// their latency.
	CodeFault Pattern = "code_fault"
	// RetryStorm: a callee's failures or timeouts make its callers repeat
	// calls (extra child calls per parent).
	RetryStorm Pattern = "retry_storm"
)

// Patterns lists every known pattern.
var Patterns = []Pattern{LockInversion, LockConvoy, Starvation, RetransmitTail, IOLatency,
	PageFaultStorm, GCOrCPU, NetworkGap, NPlusOne, PoolSaturation, RegressionOther, CodeFault, RetryStorm}

// Valid reports whether p is a known pattern.
func (p Pattern) Valid() bool {
	for _, q := range Patterns {
		if p == q {
			return true
		}
	}
	return false
}

// Status is the verifier's verdict.
type Status string

const (
	// Accepted: every check passed; the hypothesis may be published as the
	// root cause.
	Accepted Status = "accepted"
	// Rejected: a check failed; Reasons say which. It goes back to the
	// investigator for another round.
	Rejected Status = "rejected"
	// Unconfirmed: the investigation ended without an accepted hypothesis;
	// reports show it as such, never as the root cause.
	Unconfirmed Status = "unconfirmed"
)

// Hypothesis is a root-cause hypothesis.
type Hypothesis struct {
	Schema  string  `json:"schema"`
	Summary string  `json:"summary"`
	Pattern Pattern `json:"pattern"`
	// Location is where the cause is, as precisely as known.
	Location Location `json:"location"`
	// Confidence is the investigator's, in [0, 1].
	Confidence float64 `json:"confidence"`
	// Claims carry the argument; each cites evidence IDs. Claims with
	// RootCause set are the ones the two-line rule applies to.
	Claims      []Claim         `json:"claims"`
	Timeline    []TimelineEntry `json:"timeline,omitempty"`
	Remediation string          `json:"remediation,omitempty"`
	Risk        string          `json:"risk,omitempty"`
	// Status and Reasons are the verifier's; an investigator leaves them
	// empty.
	Status  Status   `json:"status,omitempty"`
	Reasons []Reason `json:"reasons,omitempty"`
}

// Location is where a root cause sits.
type Location struct {
	Service  string `json:"service,omitempty"`
	Endpoint string `json:"endpoint,omitempty"`
	Version  string `json:"version,omitempty"`
	Node     string `json:"node,omitempty"`
	Lock     string `json:"lock,omitempty"`      // lock symbol or identity
	CodeSite string `json:"code_site,omitempty"` // function file:line
}

// Claim is one statement and the evidence IDs behind it.
type Claim struct {
	Text      string   `json:"text"`
	Citations []string `json:"citations"`
	RootCause bool     `json:"root_cause,omitempty"`
}

// TimelineEntry is one dated step of the incident, citing evidence.
type TimelineEntry struct {
	TimeNS   int64  `json:"time_ns"`
	Text     string `json:"text"`
	Citation string `json:"citation,omitempty"`
}

// Reason is one machine-readable rejection reason.
type Reason struct {
	Code string `json:"code"`
	// Claim is the index of the claim concerned, -1 for the whole
	// hypothesis.
	Claim    int    `json:"claim"`
	Citation string `json:"citation,omitempty"`
	Detail   string `json:"detail"`
}

// Scope is the incident a hypothesis must stay inside: citations outside
// it do not count.
type Scope struct {
	// SinceNS and UntilNS bound the incident window (unix ns); zero is
	// unbounded.
	SinceNS, UntilNS int64
	// Services, when not empty, are the services in scope.
	Services []string
	// Baseline holds the windows the incident is compared with (a bundle's
	// baseline files, or the window before the incident on a live store);
	// empty when there is none. Their spans are not incident evidence: a
	// root-cause citation must show a change against them.
	Baseline []Window `json:",omitempty"`
}

// Window is a time range [SinceNS, UntilNS) in unix ns.
type Window struct {
	SinceNS int64 `json:"since_ns"`
	UntilNS int64 `json:"until_ns"`
}

// Contains reports whether t lies in w.
func (w Window) Contains(t int64) bool { return t >= w.SinceNS && t < w.UntilNS }

// ErrInvalid wraps shape errors from Validate.
var ErrInvalid = errors.New("invalid hypothesis")

// Validate checks the document's shape (not its evidence: that is the
// verifier's job).
func (h *Hypothesis) Validate() error {
	var errs []string
	if h.Schema != Schema {
		errs = append(errs, fmt.Sprintf("schema %q, want %q", h.Schema, Schema))
	}
	if strings.TrimSpace(h.Summary) == "" {
		errs = append(errs, "empty summary")
	}
	if !h.Pattern.Valid() {
		errs = append(errs, fmt.Sprintf("unknown pattern %q", h.Pattern))
	}
	if h.Confidence < 0 || h.Confidence > 1 || h.Confidence != h.Confidence {
		errs = append(errs, fmt.Sprintf("confidence %v not in [0, 1]", h.Confidence))
	}
	if len(h.Claims) == 0 {
		errs = append(errs, "no claims")
	}
	var root bool
	for i, c := range h.Claims {
		if strings.TrimSpace(c.Text) == "" {
			errs = append(errs, fmt.Sprintf("claim %d: empty text", i))
		}
		if len(c.Citations) == 0 {
			errs = append(errs, fmt.Sprintf("claim %d: no citations", i))
		}
		root = root || c.RootCause
	}
	if len(h.Claims) > 0 && !root {
		errs = append(errs, "no claim is marked root_cause")
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %s", ErrInvalid, strings.Join(errs, "; "))
	}
	return nil
}
