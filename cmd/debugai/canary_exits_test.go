package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mark3labs/mcp-go/client"
	"github.com/mark3labs/mcp-go/client/transport"
	"github.com/mark3labs/mcp-go/mcp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/debugai/debugai/evidence"
	"github.com/debugai/debugai/evidence/duckdb"
	"github.com/debugai/debugai/report"
)

// allCanaries are both corpora's planted values: identifiers, cards,
// secrets, people's names and e-mail keys.
func allCanaries() []string { return append(append([]string{}, canaries...), nameCanaries...) }

func assertNoneOf(t *testing.T, where string, b []byte) {
	t.Helper()
	assertNoneOfExcept(t, where, b, "")
}

// assertNoneOfExcept is assertNoneOf for the canaries that are not part of
// sent (the caller's own words, where an answer is meant to carry them).
func assertNoneOfExcept(t *testing.T, where string, b []byte, sent string) {
	t.Helper()
	for _, c := range allCanaries() {
		if sent != "" && strings.Contains(sent, c) {
			continue
		}
		if i := bytes.Index(b, []byte(c)); i >= 0 {
			lo, hi := max(0, i-80), min(len(b), i+len(c)+80)
			t.Errorf("canary %q found in %s: ...%q...", c, where, b[lo:hi])
		}
	}
}

// canaryArgs are the values planted in every string argument of every MCP
// tool and prompt: an e-mail, a card, a person's name and a forged id.
var canaryArgs = []string{"alice.canary@example.org", "4111 1111 1111 1111", "Zebulon Winterbottom", "span:Okonkwo/Quillfeather"}

// malformedCanaryBodies are OTLP/JSON bodies that fail to decode at or
// after a planted value: a bad trace id, a string where a number goes, a
// key that is an e-mail address, a truncated string, a bad enum.
var malformedCanaryBodies = []string{
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"Zebulon Winterbottom 4111 1111 1111 1111","name":"x"}]}]}]}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"alice.canary@example.org","startTimeUnixNano":"8675309 Okonkwo"}]}]}]}`,
	`{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"intValue":"4111111111111111x"}}]}}]}`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","status":{"message":"Quillfeather 078-05-1120`,
	`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"x","kind":"Zebulon"}]}]}]}`,
	`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"Winterbottom"},"severityNumber":"alice.canary@example.org"}]}]}]}`,
	`{"zeb.canary@example.net":{"Okonkwo":[1,2,{"Quillfeather":`,
}

// TestCanariesLeaveNoTraceThroughEveryExit plants both canary corpora
// (identifiers, cards, secrets, names, e-mail keys) and looks for them in
// everything debugai answers or writes from that store: the investigation
// report in every format (Markdown, JSON, SVG charts, ticket payloads) and
// its output, `debugai audit`, every MCP tool, resource and prompt answer
// read by a real MCP client from serve (with the canaries also planted in
// every argument), the MCP endpoint's 403s for a bad Host or Origin, and
// the error output of import, serve's OTLP/HTTP receiver and the record
// receiver for bodies that fail to decode at a planted value.
func TestCanariesLeaveNoTraceThroughEveryExit(t *testing.T) {
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	ctx := context.Background()
	capture := &captureOTLP{}
	srv := httptest.NewServer(capture)
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(srv.URL+"/v1/traces"), otlptracehttp.WithInsecure())
	if err != nil {
		t.Fatal(err)
	}
	sc := emitCanaryTraces(t, exp, "exits")
	emitCanaryLogs(t, srv.URL, sc)
	emitNameCanaries(t, srv.URL)
	srv.Close()
	dir := t.TempDir()
	tracesFile, logsFile := filepath.Join(dir, "traces.binpb"), filepath.Join(dir, "logs.binpb")
	writeLengthPrefixed(t, tracesFile, capture.traces)
	writeLengthPrefixed(t, logsFile, capture.logs)
	store := filepath.Join(dir, "ev.duckdb")
	out, errOut, err := runCLI(t, "import", "--store", store, tracesFile, logsFile)
	if err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	assertNoneOf(t, "import output", []byte(out+errOut))
	ids := canaryConvoy(t, store, sc)

	// The investigation: a convoy on the canary service's root span.
	repDir := filepath.Join(dir, "report")
	out, errOut, err = runCLI(t, "investigate", "--store", store, "--no-detect", "--out", repDir, "--json", "--jira-project", "OPS")
	if code := exitCode(err, io.Discard); code != 0 {
		t.Fatalf("investigate: exit %d (%v)\n%s", code, err, errOut)
	}
	assertNoneOf(t, "investigate output", []byte(out+errOut))
	rep, err := report.Parse([]byte(out))
	if err != nil || rep.Status != report.StatusAccepted || rep.Hypothesis.Location.Service != "canary-svc" {
		t.Fatalf("report on the canary service: status %q, location %+v, %v; the scan would prove little", rep.Status, rep.Hypothesis.Location, err)
	}
	files, err := os.ReadDir(repDir)
	if err != nil {
		t.Fatal(err)
	}
	var svgs, tickets int
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(repDir, f.Name()))
		if err != nil {
			t.Fatal(err)
		}
		assertNoneOf(t, "report file "+f.Name(), b)
		switch {
		case strings.HasSuffix(f.Name(), ".svg"):
			svgs++
		case strings.HasSuffix(f.Name(), "-issue.json"):
			tickets++
		}
	}
	if svgs == 0 || tickets != 2 {
		t.Errorf("report folder holds %d SVG charts and %d ticket payloads, want charts and both payloads: %v", svgs, tickets, files)
	}
	out, errOut, err = runCLI(t, "investigate", "--store", store, "--no-detect", "--out", filepath.Join(dir, "report-md"))
	if err != nil || !strings.Contains(out, "canary-svc") {
		t.Fatalf("investigate (Markdown): %v\n%s\n%s", err, out, errOut)
	}
	assertNoneOf(t, "investigate Markdown output", []byte(out+errOut))
	out, errOut, err = runCLI(t, "audit", "--store", store)
	if err != nil {
		t.Fatal(err)
	}
	assertNoneOf(t, "audit output", []byte(out+errOut))

	// Import's error output for bodies that fail at a planted value.
	for i, body := range malformedCanaryBodies {
		f := filepath.Join(dir, fmt.Sprintf("bad%d.otlp.jsonl", i))
		if err := os.WriteFile(f, []byte(body+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		out, errOut, err := runCLI(t, "import", "--store", filepath.Join(dir, fmt.Sprintf("bad%d.duckdb", i)), f)
		if err == nil {
			t.Errorf("import of malformed body %d succeeded", i)
			continue
		}
		assertNoneOf(t, fmt.Sprintf("import error for body %d", i), []byte(out+errOut+err.Error()))
	}

	for i, body := range malformedCanaryBodies {
		// The same bytes as a protobuf message in the file exporter's
		// length-prefixed layout: a resource_spans field whose length runs
		// past the planted values.
		f := filepath.Join(dir, fmt.Sprintf("bad%d.binpb", i))
		writeLengthPrefixed(t, f, [][]byte{append([]byte{0x0a, 0xff, 0x01}, body...)})
		out, errOut, err := runCLI(t, "import", "--store", filepath.Join(dir, fmt.Sprintf("badpb%d.duckdb", i)), f)
		if err == nil {
			t.Errorf("import of malformed protobuf %d succeeded", i)
			continue
		}
		assertNoneOf(t, fmt.Sprintf("import error for protobuf %d", i), []byte(out+errOut+err.Error()))
	}

	// serve: its OTLP/HTTP errors, the MCP endpoint's refusals and every
	// MCP answer.
	sp := startServe(t, store, "--mcp-listen", "127.0.0.1:0")
	if sp.mcpURL == "" {
		t.Fatal("serve printed no MCP URL")
	}
	for i, body := range malformedCanaryBodies {
		path := "/v1/traces"
		if strings.Contains(body, "resourceLogs") {
			path = "/v1/logs"
		}
		status, b := postCanary(t, sp.httpURL+path, "application/json", body, nil)
		if status/100 != 4 {
			t.Errorf("serve: malformed body %d answered %d", i, status)
		}
		assertNoneOf(t, fmt.Sprintf("serve's %d answer to body %d", status, i), b)
		status, b = postCanary(t, sp.httpURL+"/v1/traces", "application/x-protobuf", "\x0a\x05"+body, nil)
		if status/100 != 4 {
			t.Errorf("serve: malformed protobuf %d answered %d", i, status)
		}
		assertNoneOf(t, fmt.Sprintf("serve's %d answer to protobuf %d", status, i), b)
	}
	for _, h := range []map[string]string{
		{"Host": "alice.canary@example.org"},
		{"Host": "zebulon-winterbottom.example"},
		{"Origin": "http://zeb.canary@example.net"},
		{"Origin": "http://okonkwo.quillfeather.example"},
	} {
		status, b := postCanary(t, sp.mcpURL, "application/json", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, h)
		if status != http.StatusForbidden {
			t.Errorf("MCP with %v: status %d, want 403", h, status)
		}
		assertNoneOf(t, fmt.Sprintf("MCP's %d answer to %v", status, h), bytes.ToLower(b))
		assertNoneOf(t, fmt.Sprintf("MCP's %d answer to %v", status, h), b)
		for _, v := range h {
			if bytes.Contains(bytes.ToLower(b), []byte(strings.ToLower(strings.TrimPrefix(v, "http://")))) {
				t.Errorf("MCP's %d answer quotes the header value %q: %s", status, v, b)
			}
		}
		status, b = postCanary(t, sp.httpURL+"/v1/traces", "application/json", `{}`, h)
		if status != http.StatusForbidden {
			t.Errorf("OTLP/HTTP with %v: status %d, want 403", h, status)
		}
		assertNoneOf(t, fmt.Sprintf("OTLP/HTTP's %d answer to %v", status, h), b)
	}
	mcpAnswers(t, sp.mcpURL, sc, ids)
	sp.stop(t)

	// The record receiver's 400s.
	rec, err := startRecorder(t.TempDir(), "incident", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	defer rec.close()
	for i, body := range malformedCanaryBodies {
		path := "/v1/traces"
		if strings.Contains(body, "resourceLogs") {
			path = "/v1/logs"
		}
		status, b := postCanary(t, rec.url+path, "application/json", body, nil)
		if status != http.StatusBadRequest {
			t.Errorf("record receiver: malformed body %d answered %d", i, status)
		}
		assertNoneOf(t, fmt.Sprintf("record receiver's %d answer to body %d", status, i), b)
	}
}

// postCanary sends body and returns the status and answer.
func postCanary(t *testing.T, url, contentType, body string, headers map[string]string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json, text/event-stream")
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// canaryConvoy adds to store a lock convoy on the canary trace's root
// span (a futex wait stamped with it, and a finding citing both), so that
// an investigation reports on the canary service, and returns the IDs.
func canaryConvoy(t *testing.T, store string, sc trace.SpanContext) []string {
	t.Helper()
	ctx := context.Background()
	st, err := duckdb.Open(ctx, store, duckdb.Options{})
	if err != nil {
		t.Fatal(err)
	}
	spans, err := st.Trace(ctx, evidence.TraceID(sc.TraceID()))
	if err != nil {
		t.Fatal(err)
	}
	var root *evidence.Span
	for i := range spans {
		if spans[i].SpanID == evidence.SpanID(sc.SpanID()) {
			root = &spans[i]
		}
	}
	if root == nil || root.Service != "canary-svc" {
		t.Fatalf("canary root span not stored (%d spans)", len(spans))
	}
	d := max(root.EndNS-root.StartNS, 1000)
	wait := evidence.KernelEvent{Node: "n1", Stream: "futex_wait-c", Type: evidence.KernelFutexWait, TimeNS: root.StartNS + d*9/10,
		DurationNS: d * 3 / 4, PID: 4242, TID: 4243, Addr: 0x2000, WakerTID: 4250, TraceID: root.TraceID, SpanID: root.SpanID}
	if err := st.Write(ctx, &evidence.Batch{KernelEvents: []evidence.KernelEvent{wait}}); err != nil {
		t.Fatal(err)
	}
	refs := []evidence.Ref{{ID: wait.ID(), Line: evidence.LineKernelFutex}, {ID: root.ID(), Line: evidence.LineTrace}}
	f := evidence.Finding{ID: evidence.NewFindingID("lock_convoy", "0x2000", refs), Kind: "lock_convoy", Subject: "0x2000",
		Summary: "requests wait behind one holder", Confidence: 0.9, Score: 1, Refs: refs, StartNS: root.StartNS, EndNS: root.EndNS}
	if err := st.WriteFindings(ctx, []evidence.Finding{f}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	return []string{f.ID, wait.ID(), root.ID()}
}

// mcpAnswers speaks MCP to serve with mcp-go's streamable HTTP client and
// scans every answer: each tool with its defaults, with the canary trace
// and IDs, and with canaries in every string argument; the resources and
// the prompts.
func mcpAnswers(t *testing.T, url string, sc trace.SpanContext, ids []string) {
	t.Helper()
	ctx := context.Background()
	c, err := client.NewStreamableHttpClient(url, transport.WithHTTPHeaders(map[string]string{}))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	init := mcp.InitializeRequest{}
	init.Params.ProtocolVersion = mcp.LATEST_PROTOCOL_VERSION
	init.Params.ClientInfo = mcp.Implementation{Name: "canary", Version: "1"}
	if _, err := c.Initialize(ctx, init); err != nil {
		t.Fatalf("initialize: %v", err)
	}
	scan := func(where string, v any, err error) {
		t.Helper()
		if err != nil {
			assertNoneOf(t, where+" (protocol error)", []byte(err.Error()))
			return
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		assertNoneOf(t, where, b)
	}
	tools, err := c.ListTools(ctx, mcp.ListToolsRequest{})
	if err != nil || len(tools.Tools) == 0 {
		t.Fatalf("tools/list: %v", err)
	}
	var withData int
	for _, tl := range tools.Tools {
		type prop struct {
			Type  any `json:"type"`
			Items struct {
				Type any `json:"type"`
			} `json:"items"`
		}
		props := map[string]prop{}
		for name, raw := range tl.InputSchema.Properties {
			b, _ := json.Marshal(raw)
			var p prop
			if err := json.Unmarshal(b, &p); err != nil {
				t.Fatalf("%s: property %s: %v", tl.Name, name, err)
			}
			props[name] = p
		}
		if len(props) == 0 {
			t.Logf("%s takes no arguments", tl.Name)
		}
		call := func(what string, args map[string]any) {
			req := mcp.CallToolRequest{}
			req.Params.Name, req.Params.Arguments = tl.Name, args
			res, err := c.CallTool(ctx, req)
			scan(fmt.Sprintf("tools/call %s %s", tl.Name, what), res, err)
			if err == nil && !res.IsError {
				b, _ := json.Marshal(res)
				if bytes.Contains(b, []byte("canary-svc")) {
					withData++
				}
			}
		}
		call("with defaults", map[string]any{})
		real := map[string]any{}
		for name, p := range props {
			switch {
			case strings.Contains(name, "trace"):
				real[name] = evidence.TraceID(sc.TraceID()).String()
			case name == "ids":
				real[name] = ids
			case name == "service" || name == "services":
				if p.Type == "array" {
					real[name] = []string{"canary-svc"}
				} else {
					real[name] = "canary-svc"
				}
			}
		}
		if len(real) > 0 {
			call("with the canary trace", real)
		}
		for _, v := range canaryArgs {
			args := map[string]any{}
			for name, p := range props {
				switch {
				case p.Type == "string":
					args[name] = v
				case p.Type == "array" && p.Items.Type == "string":
					args[name] = []string{v}
				}
			}
			call("with "+v+" in every string argument", args)
			for name := range args { // one at a time: the first bad one may hide the others
				call("with "+v+" in "+name, map[string]any{name: args[name]})
			}
		}
		call("with an unknown argument", map[string]any{"zeb.canary@example.net": "Okonkwo"})
	}
	if withData == 0 {
		t.Error("no tool answered with the canary service's data: the scan would prove little")
	}
	res, err := c.ListResources(ctx, mcp.ListResourcesRequest{})
	scan("resources/list", res, err)
	if err != nil || len(res.Resources) == 0 {
		t.Fatalf("resources/list: %d resources (%v), want the stored report", len(res.Resources), err)
	}
	uris := []string{}
	for _, r := range res.Resources {
		uris = append(uris, r.URI)
	}
	// Report ids with canaries that a URI can hold. (A "URI" with spaces
	// matches no template, and mcp-go itself quotes it back to the client
	// that sent it, in its "handler not found" protocol error.)
	for _, v := range []string{"alice.canary@example.org", "Zebulon.Winterbottom", "4111-1111-1111-1111", "span:Okonkwo/Quillfeather"} {
		uris = append(uris, "debugai://reports/"+v)
	}
	for _, u := range uris {
		req := mcp.ReadResourceRequest{}
		req.Params.URI = u
		rr, err := c.ReadResource(ctx, req)
		scan("resources/read "+u, rr, err)
	}
	tmpl, err := c.ListResourceTemplates(ctx, mcp.ListResourceTemplatesRequest{})
	scan("resources/templates/list", tmpl, err)
	prompts, err := c.ListPrompts(ctx, mcp.ListPromptsRequest{})
	scan("prompts/list", prompts, err)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range prompts.Prompts {
		req := mcp.GetPromptRequest{}
		req.Params.Name = p.Name
		pr, err := c.GetPrompt(ctx, req)
		scan("prompts/get "+p.Name, pr, err)
		for _, v := range canaryArgs {
			req.Params.Arguments = map[string]string{}
			for _, a := range p.Arguments {
				req.Params.Arguments[a.Name] = v
			}
			// The prompt is the caller's request to its own model: it carries
			// the caller's symptom, service and endpoint back, and nothing
			// else of the canaries (the store's data does not reach it).
			pr, err := c.GetPrompt(ctx, req)
			b, _ := json.Marshal(pr)
			if err != nil {
				b = []byte(err.Error())
			}
			assertNoneOfExcept(t, "prompts/get "+p.Name+" with "+v, b, v)
		}
	}
}
