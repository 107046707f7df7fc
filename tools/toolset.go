// Package tools is debugai's read-only tool surface over the evidence store:
// list_findings, query_spans, get_trace, critical_path, kernel_overlays,
// lock_graph, changepoints, compare_versions, slice_dimensions,
// get_evidence and submit_hypothesis. Each tool is plain Go — a typed input
// struct, a typed output struct and a method on Toolset — so the
// deterministic investigator calls the methods, an LLM loop dispatches
// through Call and Specs, and NewMCPServer exposes the same tools (plus the
// stored reports as resources and the investigate prompt) over MCP.
//
// Every answer is bounded (a page of rows, a summary line first, a cursor
// for the next page), every row carries evidence IDs that get_evidence
// resolves, and every input is validated: a bad enum value, time, ID or
// limit comes back as an *ArgError, never as a crash. Outputs hold only
// stored data, which is tokenized and payload-free.
package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
)

// Config bounds what one tool call reads and returns.
type Config struct {
	// DefaultLimit is the page size when a call gives no limit; MaxLimit
	// the largest limit a call may ask for.
	DefaultLimit, MaxLimit int
	// MaxScanSpans and MaxScanEvents bound the spans and kernel events one
	// window analysis (critical_path, kernel_overlays, slice_dimensions)
	// loads; a larger window is analysed on its latest spans and the answer
	// says it was truncated.
	MaxScanSpans, MaxScanEvents int
	// DefaultWindow is the window an analysis covers when a call gives no
	// since: the last DefaultWindow of stored data.
	DefaultWindow time.Duration
	// Verify runs the verifier for submit_hypothesis; nil means
	// verify.Verify with verify.DefaultConfig().
	Verify VerifyFunc
}

// VerifyFunc judges a hypothesis against the evidence r resolves.
type VerifyFunc func(ctx context.Context, r verify.Resolver, h *hypothesis.Hypothesis, scope hypothesis.Scope) (verify.Verdict, error)

// DefaultConfig returns pages of 20 rows (at most 100), window analyses
// over at most 5,000 spans and 20,000 kernel events (so that a call stays
// near 100 ms on 2 cores), and a default window of the last 5 minutes of
// stored data.
func DefaultConfig() Config {
	return Config{DefaultLimit: 20, MaxLimit: 100, MaxScanSpans: 5_000, MaxScanEvents: 20_000,
		DefaultWindow: 5 * time.Minute}
}

// ErrConfig wraps every Config.Validate failure.
var ErrConfig = errors.New("invalid tools config")

// Validate reports the first invalid field.
func (c Config) Validate() error {
	switch {
	case c.DefaultLimit < 1 || c.DefaultLimit > c.MaxLimit:
		return fmt.Errorf("DefaultLimit %d: want 1..MaxLimit (%d): %w", c.DefaultLimit, c.MaxLimit, ErrConfig)
	case c.MaxLimit > 1000:
		return fmt.Errorf("MaxLimit %d: want at most 1000: %w", c.MaxLimit, ErrConfig)
	case c.MaxScanSpans < 1 || c.MaxScanEvents < 1:
		return fmt.Errorf("MaxScanSpans %d, MaxScanEvents %d: want at least 1: %w", c.MaxScanSpans, c.MaxScanEvents, ErrConfig)
	case c.DefaultWindow <= 0:
		return fmt.Errorf("DefaultWindow %s: must be positive: %w", c.DefaultWindow, ErrConfig)
	}
	return nil
}

// Toolset answers the tools over one evidence reader. It is safe for
// concurrent use.
type Toolset struct {
	r   evidence.Reader
	fr  evidence.FindingReader  // nil when r lists no findings
	lr  evidence.LockEdgeReader // nil when r lists no lock edges
	rr  evidence.ReportReader   // nil when r stores no reports
	cfg Config
	log *slog.Logger

	tools  []*tool
	byName map[string]*tool

	mu      sync.Mutex // guards end, endAt
	end     int64      // cached end of the stored data (latest span end + 1)
	endAt   time.Time
	nowFunc func() time.Time
}

// New returns the tools over r. Findings, lock edges and reports are read
// when r also implements evidence.FindingReader, LockEdgeReader and
// ReportReader (the DuckDB store and the remote client do). A nil logger
// discards.
func New(r evidence.Reader, cfg Config, logger *slog.Logger) (*Toolset, error) {
	if r == nil {
		return nil, fmt.Errorf("tools: nil reader: %w", ErrConfig)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Verify == nil {
		cfg.Verify = defaultVerify
	}
	t := &Toolset{r: r, cfg: cfg, log: logger.With("component", "tools"), nowFunc: time.Now}
	t.fr, _ = r.(evidence.FindingReader)
	t.lr, _ = r.(evidence.LockEdgeReader)
	t.rr, _ = r.(evidence.ReportReader)
	if err := t.register(); err != nil {
		return nil, err
	}
	return t, nil
}

func defaultVerify(ctx context.Context, r verify.Resolver, h *hypothesis.Hypothesis, scope hypothesis.Scope) (verify.Verdict, error) {
	return verify.Verify(ctx, r, h, scope, verify.DefaultConfig())
}

// Spec describes one tool for a model: its name, what it does and the JSON
// schemas of its arguments and result.
type Spec struct {
	Name         string          `json:"name"`
	Title        string          `json:"title"`
	Description  string          `json:"description"`
	InputSchema  json.RawMessage `json:"input_schema"`
	OutputSchema json.RawMessage `json:"output_schema"`
}

// Specs lists the tools in a fixed order.
func (t *Toolset) Specs() []Spec {
	out := make([]Spec, len(t.tools))
	for i, tl := range t.tools {
		out[i] = Spec{Name: tl.name, Title: tl.title, Description: tl.desc, InputSchema: tl.input, OutputSchema: tl.output}
	}
	return out
}

// ErrUnknownTool reports a Call of a tool that does not exist.
var ErrUnknownTool = errors.New("unknown tool")

// Call runs the named tool on JSON arguments (an object; empty or null
// means no arguments) and returns its JSON result. Arguments that do not
// decode or validate return an *ArgError; an unknown name ErrUnknownTool.
func (t *Toolset) Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	tl, ok := t.byName[name]
	if !ok {
		names := make([]string, 0, len(t.byName))
		for n := range t.byName {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%q (have %v): %w", name, names, ErrUnknownTool)
	}
	start := time.Now()
	out, err := tl.call(ctx, args)
	t.log.Debug("tool call", "tool", name, "elapsed", time.Since(start), "bytes", len(out), "err", err)
	return out, err
}

// tool is one registered tool.
type tool struct {
	name, title, desc string
	input, output     json.RawMessage
	call              func(ctx context.Context, args json.RawMessage) (json.RawMessage, error)
}

// def builds a tool from a typed method. enums names the input properties
// restricted to fixed values (for the schema; the method validates them).
func def[In, Out any](name, title, desc string, enums map[string][]string, fn func(context.Context, In) (Out, error)) (*tool, error) {
	in, err := schemaFor[In](enums)
	if err != nil {
		return nil, fmt.Errorf("tool %s: input schema: %w", name, err)
	}
	out, err := schemaFor[Out](nil)
	if err != nil {
		return nil, fmt.Errorf("tool %s: output schema: %w", name, err)
	}
	call := func(ctx context.Context, raw json.RawMessage) (json.RawMessage, error) {
		var args In
		if err := decodeArgs(raw, &args); err != nil {
			return nil, &ArgError{Tool: name, Msg: err.Error()}
		}
		res, err := fn(ctx, args)
		if err != nil {
			var ae *ArgError
			if errors.As(err, &ae) && ae.Tool == "" {
				ae.Tool = name
			}
			return nil, err
		}
		return json.Marshal(res)
	}
	return &tool{name: name, title: title, desc: desc, input: in, output: out, call: call}, nil
}

// decodeArgs decodes a JSON object strictly: unknown fields are errors, so
// a misspelt argument is reported rather than ignored.
func decodeArgs(raw json.RawMessage, v any) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		raw = []byte("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding arguments: %s", argDecodeReason(err))
	}
	if dec.More() {
		return errors.New("decoding arguments: trailing data after the object")
	}
	return nil
}

// argDecodeReason says why arguments did not decode without quoting them:
// the JSON decoder's errors name unknown keys and syntax errors the
// offending character, which are the caller's text.
func argDecodeReason(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("not a JSON object (syntax error at byte %d)", syn.Offset)
	case errors.As(err, &typ) && typ.Field != "":
		// Field is a path of the input struct's JSON names: schema text.
		return fmt.Sprintf("argument %s: a JSON %s, want %s", typ.Field, typ.Value, typ.Type)
	case errors.As(err, &typ):
		return fmt.Sprintf("a JSON %s, want an object", typ.Value)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "an argument the tool does not take (its input schema lists them)"
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		return "truncated JSON"
	case errors.Is(err, evidence.ErrBadID):
		return "malformed id (" + strings.TrimSuffix(err.Error(), ": "+evidence.ErrBadID.Error()) + ")"
	default:
		return "malformed arguments"
	}
}

// ArgError reports an argument the caller must fix. The MCP server returns
// it as a tool error result the model can read.
type ArgError struct {
	Tool  string // set by Call
	Field string // the argument, when one is at fault
	Msg   string
}

func (e *ArgError) Error() string {
	s := "invalid arguments"
	if e.Tool != "" {
		s = e.Tool + ": " + s
	}
	if e.Field != "" {
		s += ": " + e.Field
	}
	return s + ": " + e.Msg
}

// argErrorf returns an *ArgError for field.
func argErrorf(field, format string, args ...any) error {
	return &ArgError{Field: field, Msg: fmt.Sprintf(format, args...)}
}
