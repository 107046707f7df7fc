package prompts

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
)

//go:embed templates/*.tmpl
var templateFS embed.FS

// HypothesisSchema is the JSON schema of the hypothesis the submit tool
// takes (debugai.hypothesis/v1 without the verifier's status and reasons).
//
//go:embed hypothesis.schema.json
var HypothesisSchema string

// SubmitTool is the default name of the tool an investigator calls with its
// hypothesis.
const SubmitTool = "submit_hypothesis"

// ErrData wraps every check of a renderer's data.
var ErrData = errors.New("invalid prompt data")

var templates = template.Must(template.New("prompts").
	Option("missingkey=error").
	Funcs(template.FuncMap{
		"json":  jsonString,
		"time":  formatTime,
		"join":  joinAny,
		"inc":   func(i int) int { return i + 1 },
		"lines": joinLines,
	}).
	ParseFS(templateFS, "templates/*.tmpl"))

// render executes the named template into a string.
func render(name string, data any) (string, error) {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return "", fmt.Errorf("rendering prompt %s: %w", name, err)
	}
	return b.String(), nil
}

// jsonString renders v as compact JSON: a quoted, escaped string for
// strings. Stored values reach prompts only through it.
func jsonString(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// formatTime renders unix ns as RFC 3339 UTC with milliseconds; 0 is
// "unbounded".
func formatTime(ns int64) string {
	if ns == 0 {
		return "unbounded"
	}
	return time.Unix(0, ns).UTC().Format("2006-01-02T15:04:05.000Z07:00")
}

// joinAny joins strings or string-kinded values with ", ".
func joinAny(v any) (string, error) {
	switch xs := v.(type) {
	case []string:
		return strings.Join(xs, ", "), nil
	case []evidence.Line:
		return joinLines(xs), nil
	}
	return "", fmt.Errorf("join: unsupported %T", v)
}

func joinLines(ls []evidence.Line) string {
	s := make([]string, len(ls))
	for i, l := range ls {
		s[i] = string(l)
	}
	return strings.Join(s, " + ")
}

// Tool is a tool the investigator may call, as the tool registry
// describes it.
type Tool struct {
	Name        string
	Description string
}

// PatternRule is one root-cause pattern and the evidence lines a
// hypothesis of that pattern must cite (besides the two-line rule).
type PatternRule struct {
	Pattern hypothesis.Pattern
	// Lines must all be cited by the root-cause claims.
	Lines []evidence.Line
	// Meaning says in a few words what the pattern is.
	Meaning string
}

// patternMeaning says in a few words what each pattern is.
var patternMeaning = map[hypothesis.Pattern]string{
	hypothesis.LockInversion:   "two code paths take the same locks in opposite orders",
	hypothesis.LockConvoy:      "requests queue on one hot lock",
	hypothesis.Starvation:      "runnable threads wait for a CPU",
	hypothesis.RetransmitTail:  "TCP retransmits stretch the latency tail",
	hypothesis.IOLatency:       "block I/O or fsync waits",
	hypothesis.PageFaultStorm:  "major page faults stall threads",
	hypothesis.GCOrCPU:         "CPU saturation or garbage collection",
	hypothesis.NetworkGap:      "time lost between a client span and its server span",
	hypothesis.NPlusOne:        "one request issues many sequential similar calls",
	hypothesis.PoolSaturation:  "requests wait for a pooled resource",
	hypothesis.RegressionOther: "a version or config change slowed an operation in another way",
	hypothesis.CodeFault:       "an error return or exception changed the call structure (calls missing, traces ending early)",
	hypothesis.RetryStorm:      "failures or timeouts make callers repeat their calls",
}

// DefaultPatterns returns the rule for every hypothesis.Patterns entry, in
// that order, with the lines the verifier requires (verify.RequiredLines:
// one table for the prompt and the check).
func DefaultPatterns() []PatternRule {
	out := make([]PatternRule, 0, len(hypothesis.Patterns))
	for _, p := range hypothesis.Patterns {
		out = append(out, PatternRule{Pattern: p, Lines: verify.RequiredLines[p], Meaning: patternMeaning[p]})
	}
	return out
}

// checkPatterns rejects an empty list and unknown patterns.
func checkPatterns(ps []PatternRule) error {
	if len(ps) == 0 {
		return fmt.Errorf("%w: no patterns", ErrData)
	}
	for _, p := range ps {
		if !p.Pattern.Valid() || len(p.Lines) == 0 {
			return fmt.Errorf("%w: pattern %q: unknown or without lines", ErrData, p.Pattern)
		}
	}
	return nil
}

// checkTools rejects tools without a name or description.
func checkTools(ts []Tool) error {
	for i, t := range ts {
		if t.Name == "" || t.Description == "" {
			return fmt.Errorf("%w: tool %d (%q): needs a name and a description", ErrData, i, t.Name)
		}
	}
	return nil
}
