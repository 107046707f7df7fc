package tools

import (
	"context"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/debugai/debugai/prompts"
)

func investigatePrompt() mcp.Prompt {
	return mcp.NewPrompt("investigate",
		mcp.WithPromptDescription("Investigate a latency or error incident with debugai's tools and submit a verified root-cause hypothesis."),
		mcp.WithArgument("symptom", mcp.ArgumentDescription("what is wrong, in a few words, e.g. 'p95 of GET /dispatch x3' (optional)")),
		mcp.WithArgument("service", mcp.ArgumentDescription("service where the symptom shows (optional)")),
		mcp.WithArgument("endpoint", mcp.ArgumentDescription("endpoint or operation, e.g. 'GET /dispatch' (optional)")),
		mcp.WithArgument("since", mcp.ArgumentDescription("incident window start: RFC 3339 time or a duration before the end of the data (optional)")),
		mcp.WithArgument("until", mcp.ArgumentDescription("incident window end (optional)")),
	)
}

// investigateHandler renders the prompt from the embedded template
// (prompts.MCPInvestigate), listing ts's tools.
func investigateHandler(ts *Toolset) func(context.Context, mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	var list []prompts.Tool
	for _, s := range ts.Specs() {
		if s.Name != prompts.SubmitTool {
			list = append(list, prompts.Tool{Name: s.Name, Description: s.Description})
		}
	}
	return func(_ context.Context, req mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
		a := req.Params.Arguments
		symptom := strings.TrimSpace(a["symptom"])
		if symptom == "" && strings.TrimSpace(a["service"]+a["endpoint"]) == "" {
			symptom = "the latest incident in the stored data"
		}
		text, err := prompts.MCPInvestigate(prompts.MCPInvestigateData{
			Symptom: symptom, Service: strings.TrimSpace(a["service"]), Endpoint: strings.TrimSpace(a["endpoint"]),
			Since: strings.TrimSpace(a["since"]), Until: strings.TrimSpace(a["until"]),
			SubmitTool: prompts.SubmitTool, Patterns: prompts.DefaultPatterns(), Tools: list,
		})
		if err != nil {
			return nil, fmt.Errorf("rendering the investigate prompt: %w", err)
		}
		return &mcp.GetPromptResult{
			Description: "Investigate an incident with debugai",
			Messages:    []mcp.PromptMessage{mcp.NewPromptMessage(mcp.RoleUser, mcp.NewTextContent(text))},
		}, nil
	}
}
