package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"time"

	openai "github.com/sashabaranov/go-openai"

	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
)

// LLMConfig configures the model loop.
type LLMConfig struct {
	// BaseURL of the OpenAI-compatible API ("http://127.0.0.1:11434/v1"
	// for Ollama, "http://127.0.0.1:8080/v1" for llama.cpp's server).
	BaseURL string
	Model   string
	APIKey  string // empty for local servers
	// Budgets: model calls, total tokens (as the server reports usage),
	// wall time.
	MaxSteps  int
	MaxTokens int
	MaxWall   time.Duration
	// Temperature and Seed make runs reproducible where the server allows.
	// go-openai drops a zero temperature, so the default is tiny, not 0.
	Temperature float32
	Seed        int
	// Stream asks for server-sent events and reports progress as they come.
	Stream bool
	// Retries of a model call on 429, 5xx and connection errors, with
	// exponential backoff from RetryBase (a Retry-After header wins).
	Retries   int
	RetryBase time.Duration
	// MaxToolBytes truncates a tool output before it reaches the model.
	MaxToolBytes int
	// Progress receives one line per step (nil: none).
	Progress io.Writer
	Logger   *slog.Logger
	// HTTPClient overrides the client (tests).
	HTTPClient *http.Client
	// Rejected, when set, renders the follow-up message sent after a
	// rejected hypothesis (prompts.Rejected); the verdict itself is the
	// submit call's tool result either way.
	Rejected func(v verify.Verdict, attempt int) (string, error)
}

// LLMConfigFromEnv reads DEBUGAI_LLM_BASE_URL, DEBUGAI_LLM_MODEL and
// DEBUGAI_LLM_API_KEY (or OPENAI_API_KEY) over the defaults.
func LLMConfigFromEnv() LLMConfig {
	c := DefaultLLMConfig()
	if v := os.Getenv("DEBUGAI_LLM_BASE_URL"); v != "" {
		c.BaseURL = v
	}
	if v := os.Getenv("DEBUGAI_LLM_MODEL"); v != "" {
		c.Model = v
	}
	c.APIKey = os.Getenv("DEBUGAI_LLM_API_KEY")
	if c.APIKey == "" {
		c.APIKey = os.Getenv("OPENAI_API_KEY")
	}
	return c
}

// DefaultLLMConfig has budgets fit for one incident.
func DefaultLLMConfig() LLMConfig {
	return LLMConfig{
		MaxSteps: 16, MaxTokens: 200_000, MaxWall: 5 * time.Minute,
		Temperature: 1e-6, Seed: 7, Retries: 4, RetryBase: 500 * time.Millisecond,
		MaxToolBytes: 16 << 10,
	}
}

// Validate reports the first invalid field.
func (c LLMConfig) Validate() error {
	u, err := url.Parse(c.BaseURL)
	switch {
	case c.BaseURL == "":
		return errors.New("llm: no base URL (set --llm-base-url or DEBUGAI_LLM_BASE_URL)")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("llm: base URL %q: want http(s)://host[:port]/v1", c.BaseURL)
	case c.Model == "":
		return errors.New("llm: no model (set --llm-model or DEBUGAI_LLM_MODEL)")
	case c.MaxSteps < 1 || c.MaxTokens < 1 || c.MaxWall <= 0:
		return errors.New("llm: step, token and time budgets must be positive")
	case c.Retries < 0 || c.RetryBase < 0 || c.MaxToolBytes < 256:
		return errors.New("llm: retries and backoff must not be negative; tool output bound at least 256 bytes")
	}
	return nil
}

// LLM is the model-driven investigator.
type LLM struct {
	cfg    LLMConfig
	client *openai.Client
	tools  Dispatcher
	res    verify.Resolver
	vcfg   verify.Config
	log    *slog.Logger
}

// NewLLM builds the investigator; system is the system prompt.
func NewLLM(cfg LLMConfig, tools Dispatcher, res verify.Resolver, vcfg verify.Config) (*LLM, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	oc := openai.DefaultConfig(cfg.APIKey)
	oc.BaseURL = cfg.BaseURL
	if cfg.HTTPClient != nil {
		oc.HTTPClient = cfg.HTTPClient
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LLM{cfg: cfg, client: openai.NewClientWithConfig(oc), tools: tools, res: res, vcfg: vcfg, log: log}, nil
}

// toolDefs converts the dispatcher's specs, adding SubmitTool's schema if
// the dispatcher lacks it.
func (l *LLM) toolDefs() []openai.Tool {
	var out []openai.Tool
	var haveSubmit bool
	for _, s := range l.tools.Specs() {
		haveSubmit = haveSubmit || s.Name == SubmitTool
		out = append(out, openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: s.Name, Description: s.Description, Parameters: s.Parameters}})
	}
	if !haveSubmit {
		out = append(out, openai.Tool{Type: openai.ToolTypeFunction, Function: &openai.FunctionDefinition{
			Name: SubmitTool, Description: "Submit a root-cause hypothesis (debugai.hypothesis/v1 JSON) to the verifier.",
			Parameters: json.RawMessage(`{"type":"object","properties":{"hypothesis":{"type":"object"}},"required":["hypothesis"]}`)}})
	}
	return out
}

// Investigate runs the loop: the model calls tools until it submits a
// hypothesis the verifier accepts, or a budget runs out.
func (l *LLM) Investigate(ctx context.Context, system string, inc Incident) (res Result, err error) {
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, l.cfg.MaxWall)
	defer cancel()
	msgs := []openai.ChatCompletionMessage{
		{Role: openai.ChatMessageRoleSystem, Content: system},
		{Role: openai.ChatMessageRoleUser, Content: inc.Brief},
	}
	defs := l.toolDefs()
	res = Result{Status: hypothesis.Unconfirmed}
	defer func() { res.Elapsed = time.Since(start) }() // named result: the caller sees it
	for {
		if res.Steps >= l.cfg.MaxSteps {
			res.StopReason = "budget: steps"
			return res, nil
		}
		if res.Tokens >= l.cfg.MaxTokens {
			res.StopReason = "budget: tokens"
			return res, nil
		}
		res.Steps++
		msg, tokens, err := l.complete(ctx, msgs, defs, res.Steps)
		res.Tokens += tokens
		if err != nil {
			if ctx.Err() != nil {
				res.StopReason = "budget: time"
				return res, nil
			}
			return res, err
		}
		msgs = append(msgs, msg)
		if len(msg.ToolCalls) == 0 {
			// The model answered in prose: remind it of the contract.
			msgs = append(msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser,
				Content: "Answer only by calling tools; finish by calling " + SubmitTool + " with a hypothesis whose claims cite evidence IDs."})
			continue
		}
		done, err := l.runCalls(ctx, inc, msg.ToolCalls, &msgs, &res)
		if err != nil {
			return res, err
		}
		if done {
			return res, nil
		}
	}
}

// runCalls executes one assistant turn's tool calls and appends their
// results; done is true once a hypothesis was accepted.
func (l *LLM) runCalls(ctx context.Context, inc Incident, calls []openai.ToolCall, msgs *[]openai.ChatCompletionMessage, res *Result) (bool, error) {
	var accepted bool
	var followUp []string
	defer func() {
		for _, f := range followUp {
			*msgs = append(*msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleUser, Content: f})
		}
	}()
	for _, tc := range calls {
		res.ToolCalls++
		var out string
		if tc.Function.Name == SubmitTool {
			v, h, text := l.submit(ctx, inc, tc.Function.Arguments)
			res.Attempts++
			if h != nil {
				res.Hypothesis, res.Verdict = h, v
			}
			if h != nil && v.Status == hypothesis.Accepted {
				accepted = true
				res.Status = hypothesis.Accepted
			}
			out = text
			l.progress("step %d: hypothesis %d %s", res.Steps, res.Attempts, statusText(h, v))
			if h != nil && v.Status != hypothesis.Accepted && l.cfg.Rejected != nil {
				if f, err := l.cfg.Rejected(v, res.Attempts); err == nil {
					followUp = append(followUp, f)
				} else {
					l.log.Warn("rendering the rejection follow-up", "err", err)
				}
			}
		} else {
			out = l.call(ctx, tc.Function.Name, tc.Function.Arguments)
			l.progress("step %d: %s", res.Steps, tc.Function.Name)
		}
		*msgs = append(*msgs, openai.ChatCompletionMessage{Role: openai.ChatMessageRoleTool, ToolCallID: tc.ID, Name: tc.Function.Name, Content: out})
		if ctx.Err() != nil {
			return accepted, nil
		}
	}
	return accepted, nil
}

func statusText(h *hypothesis.Hypothesis, v verify.Verdict) string {
	if h == nil {
		return "unreadable"
	}
	if v.Status == hypothesis.Accepted {
		return "accepted"
	}
	codes := make([]string, 0, len(v.Reasons))
	for _, r := range v.Reasons {
		codes = append(codes, r.Code)
	}
	return fmt.Sprintf("rejected %v", codes)
}

// call runs a non-submit tool; errors go back to the model as text.
func (l *LLM) call(ctx context.Context, name, args string) string {
	if !json.Valid([]byte(args)) {
		return errorJSON(fmt.Sprintf("arguments of %s are not valid JSON", name))
	}
	out, err := l.tools.Call(ctx, name, json.RawMessage(args))
	if err != nil {
		return errorJSON(err.Error())
	}
	if len(out) > l.cfg.MaxToolBytes {
		return string(out[:l.cfg.MaxToolBytes]) + "\n[truncated: ask for fewer rows or the next page]"
	}
	return string(out)
}

func errorJSON(msg string) string {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return string(b)
}

// submit parses and verifies a hypothesis against the incident's scope.
func (l *LLM) submit(ctx context.Context, inc Incident, args string) (verify.Verdict, *hypothesis.Hypothesis, string) {
	h, err := parseSubmission(args)
	if err != nil {
		return verify.Verdict{}, nil, errorJSON("hypothesis not readable: " + err.Error())
	}
	h.Status, h.Reasons = "", nil
	v, err := verify.Verify(ctx, l.res, h, inc.Scope, l.vcfg)
	if err != nil {
		return verify.Verdict{}, nil, errorJSON("verifier failed: " + err.Error())
	}
	b, _ := json.Marshal(v)
	return v, h, string(b)
}

// parseSubmission accepts {"hypothesis": {...}} or the hypothesis itself.
func parseSubmission(args string) (*hypothesis.Hypothesis, error) {
	var wrapped struct {
		Hypothesis *hypothesis.Hypothesis `json:"hypothesis"`
	}
	if err := json.Unmarshal([]byte(args), &wrapped); err == nil && wrapped.Hypothesis != nil {
		return wrapped.Hypothesis, nil
	}
	var h hypothesis.Hypothesis
	if err := json.Unmarshal([]byte(args), &h); err != nil {
		return nil, err
	}
	return &h, nil
}

func (l *LLM) progress(format string, args ...any) {
	if l.cfg.Progress != nil {
		fmt.Fprintf(l.cfg.Progress, "investigate: "+format+"\n", args...)
	}
}
