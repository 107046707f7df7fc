package agent

import (
	"context"
	"encoding/json"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
)

// SubmitTool is the name of the tool through which an investigator
// submits a hypothesis. The agent verifies it itself, against the
// incident's scope, whatever the model puts in the call.
const SubmitTool = "submit_hypothesis"

// ToolSpec describes a tool to the model.
type ToolSpec struct {
	Name        string
	Description string
	// Parameters is the JSON schema of the tool's input object.
	Parameters json.RawMessage
}

// Dispatcher runs tools by name (package tools provides one).
type Dispatcher interface {
	Specs() []ToolSpec
	Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error)
}

// Incident is what to investigate.
type Incident struct {
	Scope hypothesis.Scope
	// Brief is the incident description given to the investigator: the
	// window, the services and the top findings (prompts renders it).
	Brief string
}

// Result is the outcome of an investigation.
type Result struct {
	// Status is Accepted when a hypothesis passed the verifier, else
	// Unconfirmed.
	Status hypothesis.Status
	// Hypothesis is the accepted one, or the last one submitted (nil if
	// none was).
	Hypothesis *hypothesis.Hypothesis
	Verdict    verify.Verdict
	// Attempts counts submitted hypotheses; Steps model calls (LLM) or
	// findings tried (deterministic).
	Attempts, Steps, ToolCalls int
	Tokens                     int
	Elapsed                    time.Duration
	// StopReason says why an unconfirmed investigation ended: "budget:
	// steps", "budget: tokens", "budget: time", "no candidate", ...
	StopReason string
}
