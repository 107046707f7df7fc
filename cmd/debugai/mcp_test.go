package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// mcpStore imports the shared HotROD recording and stores detect's
// findings, through the CLI, and returns the store path.
func mcpStore(t *testing.T) string {
	t.Helper()
	src := sharedTestdata(t, "hotrod/incident_mutex_default/traces.otlp.jsonl.gz")
	t.Setenv("DEBUGAI_HMAC_KEY", testKey)
	store := filepath.Join(t.TempDir(), "evidence.duckdb")
	if _, errOut, err := runCLI(t, "import", "--store", store, src); err != nil {
		t.Fatalf("import: %v\n%s", err, errOut)
	}
	if _, errOut, err := runCLI(t, "detect", "--store", store); err != nil {
		t.Fatalf("detect: %v\n%s", err, errOut)
	}
	return store
}

// rpc is one JSON-RPC exchange with `debugai mcp` over pipes.
type rpc struct {
	in  io.Writer
	out *bufio.Reader
	id  int
}

func (r *rpc) call(t *testing.T, method string, params any) json.RawMessage {
	t.Helper()
	r.id++
	msg, _ := json.Marshal(map[string]any{"jsonrpc": "2.0", "id": r.id, "method": method, "params": params})
	if _, err := r.in.Write(append(msg, '\n')); err != nil {
		t.Fatal(err)
	}
	line, err := r.out.ReadBytes('\n')
	if err != nil {
		t.Fatalf("%s: reading response: %v", method, err)
	}
	var resp struct {
		Result json.RawMessage `json:"result"`
		Error  json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(line, &resp); err != nil || resp.Error != nil {
		t.Fatalf("%s: response %s (%v)", method, line, err)
	}
	return resp.Result
}

// TestMCPCommandOverStdio runs `debugai mcp` in-process on pipes and
// speaks MCP to it: initialize, tools/list, a tool call and a bad one.
func TestMCPCommandOverStdio(t *testing.T) {
	store := mcpStore(t)
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		err := run(context.Background(), []string{"mcp", "--store", store}, inR, outW, &errb)
		outW.Close()
		done <- err
	}()
	r := &rpc{in: inW, out: bufio.NewReader(outR)}
	r.call(t, "initialize", map[string]any{"protocolVersion": "2025-06-18", "capabilities": map[string]any{},
		"clientInfo": map[string]any{"name": "test", "version": "1"}})
	var list struct {
		Tools []struct {
			Name        string `json:"name"`
			Annotations struct {
				ReadOnly    *bool `json:"readOnlyHint"`
				Destructive *bool `json:"destructiveHint"`
			} `json:"annotations"`
		} `json:"tools"`
	}
	if err := json.Unmarshal(r.call(t, "tools/list", map[string]any{}), &list); err != nil || len(list.Tools) != 11 {
		t.Fatalf("tools/list: %d tools (%v)", len(list.Tools), err)
	}
	for _, tl := range list.Tools {
		if tl.Annotations.ReadOnly == nil || !*tl.Annotations.ReadOnly || tl.Annotations.Destructive == nil || *tl.Annotations.Destructive {
			t.Errorf("%s is not annotated read-only and non-destructive", tl.Name)
		}
	}
	res := r.call(t, "tools/call", map[string]any{"name": "list_findings", "arguments": map[string]any{"kinds": []string{"critical_path_component"}}})
	if !strings.Contains(string(res), `"kind\":\"critical_path_component\"`) || !strings.Contains(string(res), `finding:`) {
		t.Errorf("list_findings: %s", res)
	}
	res = r.call(t, "tools/call", map[string]any{"name": "get_trace", "arguments": map[string]any{"trace_id": "nope"}})
	if !strings.Contains(string(res), `"isError":true`) || !strings.Contains(string(res), "trace_id") {
		t.Errorf("bad trace id: %s", res)
	}
	inW.Close()
	if err := <-done; err != nil {
		t.Fatalf("mcp: %v (stderr %s)", err, errb.String())
	}
}

func TestServeRefusesNonLoopbackMCPWithoutToken(t *testing.T) {
	t.Setenv("DEBUGAI_MCP_TOKEN", "")
	_, _, err := runCLI(t, "serve", "--store", filepath.Join(t.TempDir(), "e.duckdb"), "--mcp-listen", "0.0.0.0:0")
	if err == nil || !strings.Contains(err.Error(), "bearer token is required") || exitCode(err, io.Discard) != 2 {
		t.Fatalf("serve --mcp-listen 0.0.0.0:0 without a token: %v", err)
	}
}

// mcpCLI returns the directory holding the inspector and conformance
// commands (node_modules/.bin of the Node 22 install .ci/run makes), and
// skips the test when there is none, unless DEBUGAI_REQUIRE_MCP_CLI=1.
func mcpCLI(t *testing.T) string {
	t.Helper()
	var dirs []string
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, ".cache", "debugai", "node22", "node_modules", ".bin"))
	}
	if p, err := exec.LookPath("inspector"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, d := range dirs {
		if nodeOK(d) {
			return d
		}
	}
	msg := "the MCP inspector and conformance CLIs with Node >= 22.19 are not installed (.ci/run installs them)"
	if os.Getenv("DEBUGAI_REQUIRE_MCP_CLI") == "1" {
		t.Fatal(msg + "; DEBUGAI_REQUIRE_MCP_CLI=1 requires them")
	}
	t.Skip(msg)
	return ""
}

var nodeVersion = regexp.MustCompile(`^v(\d+)\.(\d+)`)

// nodeOK reports whether dir holds inspector, conformance and a node of
// at least 22.19.
func nodeOK(dir string) bool {
	for _, c := range []string{"inspector", "conformance", "node"} {
		if _, err := os.Stat(filepath.Join(dir, c)); err != nil {
			return false
		}
	}
	out, err := exec.Command(filepath.Join(dir, "node"), "--version").Output()
	m := nodeVersion.FindStringSubmatch(string(out))
	if err != nil || m == nil {
		return false
	}
	var major, minor int
	fmt.Sscan(m[1], &major)
	fmt.Sscan(m[2], &minor)
	return major > 22 || (major == 22 && minor >= 19)
}

// npxRun runs a CLI from dir with dir first on PATH (the CLIs start with
// "#!/usr/bin/env node").
func npxRun(t *testing.T, dir string, timeout time.Duration, name string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(dir, name), args...)
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"), "DEBUGAI_TEST_MAIN=1",
		"DEBUGAI_HMAC_KEY="+testKey, "MCP_CATALOG_PATH="+filepath.Join(t.TempDir(), "mcp.json"))
	cmd.Dir = t.TempDir()
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err != nil {
		err = fmt.Errorf("%s %v: %w\nstdout: %.2000s\nstderr: %.2000s", name, args, err, out.String(), errb.String())
	}
	return out.String(), err
}
