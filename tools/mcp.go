package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/debugai/debugai/evidence"
)

// ServerName is the MCP server's implementation name.
const ServerName = "debugai"

// ReportURIPrefix is the URI prefix of stored reports as MCP resources.
const ReportURIPrefix = "debugai://reports/"

// maxListedReports bounds the reports resources/list shows (newest first).
const maxListedReports = 200

const instructions = `debugai exposes a store of payload-free evidence: OpenTelemetry spans, eBPF kernel events joined to spans, lock-order edges and detector findings. All tools are read-only. Start with list_findings, drill down with get_trace, critical_path, kernel_overlays, lock_graph, changepoints, compare_versions and slice_dimensions, resolve IDs with get_evidence, and submit a root-cause hypothesis citing evidence IDs with submit_hypothesis: it is accepted only with two independent evidence lines. Every answer starts with a summary, is paged (pass next_cursor back as cursor) and carries evidence IDs.`

// NewMCPServer returns an MCP server exposing ts's tools (annotated
// read-only, with input and output schemas), the stored reports as
// resources (debugai://reports/<id>) and the investigate prompt.
func NewMCPServer(ts *Toolset, version string) *server.MCPServer {
	rs := &reportResources{ts: ts}
	hooks := &server.Hooks{}
	hooks.AddBeforeListResources(func(ctx context.Context, _ any, _ *mcp.ListResourcesRequest) { rs.sync(ctx) })
	s := server.NewMCPServer(ServerName, version,
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithPromptCapabilities(false),
		server.WithLogging(),
		server.WithRecovery(),
		server.WithInstructions(instructions),
		server.WithHooks(hooks),
	)
	rs.srv = s
	for _, tl := range ts.tools {
		s.AddTool(mcpTool(tl), ts.mcpHandler(tl.name))
	}
	s.AddResourceTemplate(mcp.NewResourceTemplate(ReportURIPrefix+"{+id}", "debugai report",
		mcp.WithTemplateDescription("A stored investigation report (JSON): hypothesis, verdict, cited evidence."),
		mcp.WithTemplateMIMEType("application/json")), rs.read)
	s.AddPrompt(investigatePrompt(), investigateHandler(ts))
	return s
}

func mcpTool(tl *tool) mcp.Tool {
	t := mcp.NewTool(tl.name,
		mcp.WithDescription(tl.desc),
		mcp.WithToolTitle(tl.title),
		mcp.WithRawOutputSchema(tl.output),
		mcp.WithTitleAnnotation(tl.title),
		mcp.WithReadOnlyHintAnnotation(true),
		mcp.WithDestructiveHintAnnotation(false),
		mcp.WithIdempotentHintAnnotation(true),
		mcp.WithOpenWorldHintAnnotation(false),
	)
	t.InputSchema, t.RawInputSchema = mcp.ToolInputSchema{}, tl.input
	return t
}

// mcpHandler runs a tool through Call: bad arguments, unknown IDs and
// failed queries come back as tool error results (IsError) the model can
// read, never as protocol errors.
func (t *Toolset) mcpHandler(name string) server.ToolHandlerFunc {
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		raw, err := json.Marshal(req.GetRawArguments())
		if err != nil {
			return mcp.NewToolResultError("encoding arguments: " + err.Error()), nil
		}
		out, err := t.Call(ctx, name, raw)
		if err != nil {
			var ae *ArgError
			if !errors.As(err, &ae) && !errors.Is(err, evidence.ErrNotFound) && !errors.Is(err, evidence.ErrBadID) {
				t.log.Warn("tool failed", "tool", name, "err", err)
			}
			return mcp.NewToolResultError(err.Error()), nil
		}
		return mcp.NewToolResultStructured(json.RawMessage(out), string(out)), nil
	}
}

// reportResources lists and reads the stored reports.
type reportResources struct {
	ts  *Toolset
	srv *server.MCPServer
}

// sync replaces the listed resources with the newest stored reports.
func (rs *reportResources) sync(ctx context.Context) {
	if rs.ts.rr == nil {
		return
	}
	reps, err := rs.ts.rr.Reports(ctx, evidence.ReportFilter{Limit: maxListedReports})
	if err != nil {
		rs.ts.log.Warn("listing reports", "err", err)
		return
	}
	res := make([]server.ServerResource, 0, len(reps))
	for _, r := range reps {
		name := fmtNS(r.CreatedNS) + " " + r.Status + ": " + truncate(r.Title, 100)
		res = append(res, server.ServerResource{
			Resource: mcp.NewResource(ReportURIPrefix+r.ID, name,
				mcp.WithResourceDescription(fmt.Sprintf("debugai report %s (%s)", r.ID, r.Status)),
				mcp.WithMIMEType("application/json")),
			Handler: rs.read,
		})
	}
	rs.srv.SetResources(res...)
}

func (rs *reportResources) read(ctx context.Context, req mcp.ReadResourceRequest) ([]mcp.ResourceContents, error) {
	id, ok := strings.CutPrefix(req.Params.URI, ReportURIPrefix)
	if !ok || id == "" {
		return nil, fmt.Errorf("resource URI: want %s<id>", ReportURIPrefix)
	}
	if rs.ts.rr == nil {
		return nil, fmt.Errorf("this store keeps no reports: %w", evidence.ErrNotFound)
	}
	r, err := rs.ts.rr.Report(ctx, id)
	if err != nil {
		return nil, err
	}
	return []mcp.ResourceContents{mcp.TextResourceContents{URI: req.Params.URI, MIMEType: "application/json", Text: string(r.Body)}}, nil
}
