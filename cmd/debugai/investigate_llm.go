package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/debugai/debugai/agent"
	"github.com/debugai/debugai/agent/hypothesis"
	"github.com/debugai/debugai/agent/verify"
	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/prompts"
	"github.com/debugai/debugai/tools"
)

// toolDispatcher adapts the tool registry to the agent's Dispatcher. The
// agent verifies submissions itself against the incident scope, so the
// registry's submit_hypothesis is not offered twice.
type toolDispatcher struct{ ts *tools.Toolset }

func (d toolDispatcher) Specs() []agent.ToolSpec {
	var out []agent.ToolSpec
	for _, s := range d.ts.Specs() {
		if s.Name == agent.SubmitTool {
			continue
		}
		out = append(out, agent.ToolSpec{Name: s.Name, Description: s.Description, Parameters: s.InputSchema})
	}
	return out
}

func (d toolDispatcher) Call(ctx context.Context, name string, args json.RawMessage) (json.RawMessage, error) {
	return d.ts.Call(ctx, name, args)
}

// investigateLLM runs the model loop with the read-only tools over r.
func investigateLLM(ctx context.Context, r evidence.Reader, fr agent.FindingLister, scope hypothesis.Scope, cfg agent.LLMConfig, logger *slog.Logger) (agent.Result, error) {
	ts, err := tools.New(r, tools.DefaultConfig(), logger)
	if err != nil {
		return agent.Result{}, err
	}
	disp := toolDispatcher{ts}
	var ptools []prompts.Tool
	for _, s := range disp.Specs() {
		ptools = append(ptools, prompts.Tool{Name: s.Name, Description: s.Description})
	}
	sd := prompts.DefaultSystemData(ptools)
	system, err := prompts.System(sd)
	if err != nil {
		return agent.Result{}, fmt.Errorf("rendering the system prompt: %w", err)
	}
	fs, err := fr.Findings(ctx, evidence.FindingFilter{SinceNS: scope.SinceNS, UntilNS: scope.UntilNS, Limit: 100})
	if err != nil {
		return agent.Result{}, fmt.Errorf("listing findings: %w", err)
	}
	top, omitted := prompts.FindingsFrom(fs, 10)
	brief, err := prompts.Incident(prompts.IncidentData{
		Title:   fmt.Sprintf("incident %s .. %s", time.Unix(0, scope.SinceNS).UTC().Format(time.RFC3339), time.Unix(0, scope.UntilNS).UTC().Format(time.RFC3339)),
		SinceNS: scope.SinceNS, UntilNS: scope.UntilNS, Services: scope.Services, Findings: top, Omitted: omitted,
	})
	if err != nil {
		return agent.Result{}, fmt.Errorf("rendering the incident prompt: %w", err)
	}
	cfg.Rejected = func(v verify.Verdict, attempt int) (string, error) {
		return prompts.Rejected(prompts.RejectedData{Round: attempt, MaxRounds: max(sd.MaxRounds, attempt),
			Reasons: v.Reasons, Lines: v.Lines, SubmitTool: agent.SubmitTool})
	}
	l, err := agent.NewLLM(cfg, disp, r, verify.DefaultConfig())
	if err != nil {
		return agent.Result{}, err
	}
	res, err := l.Investigate(ctx, system, agent.Incident{Scope: scope, Brief: brief})
	if err != nil {
		return res, fmt.Errorf("model %s at %s: %w", cfg.Model, cfg.BaseURL, err)
	}
	return res, nil
}
