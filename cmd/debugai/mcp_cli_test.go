package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Black-box tests through the official MCP inspector CLI and the MCP
// conformance suite (Node packages; see mcpCLI).

const cliTimeout = 2 * time.Minute

var mcpLine = regexp.MustCompile(`MCP (\S+)`)

// startServeMCP runs serve in-process with MCP on a free loopback port and
// returns the MCP URL.
func startServeMCP(t *testing.T, store string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	var errb bytes.Buffer
	go func() {
		err := run(ctx, []string{"serve", "--store", store, "--listen", "127.0.0.1:0", "--grpc-listen", "",
			"--mcp-listen", "127.0.0.1:0", "--log-level", "warn"}, strings.NewReader(""), pw, &errb)
		pw.CloseWithError(fmt.Errorf("serve returned: %v", err))
		done <- err
	}()
	br := bufio.NewReader(pr)
	var url string
	for url == "" {
		line, err := br.ReadString('\n')
		if err != nil {
			cancel()
			t.Fatalf("serve did not start: %v (stderr: %s)", err, errb.String())
		}
		if m := mcpLine.FindStringSubmatch(line); m != nil {
			url = m[1]
		}
	}
	go io.Copy(io.Discard, br)
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v (stderr: %s)", err, errb.String())
		}
	})
	return url
}

// inspect runs the inspector CLI against target (a URL, or the debugai
// command line) and decodes its JSON answer.
func inspect(t *testing.T, bin string, target []string, args ...string) map[string]any {
	t.Helper()
	out, err := npxRun(t, bin, cliTimeout, "inspector", append(append([]string{"--cli"}, target...), args...)...)
	if err != nil {
		t.Fatal(err)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("inspector output is not JSON: %v\n%.2000s", err, out)
	}
	return v
}

// checkInspector lists the tools and calls two through the inspector.
func checkInspector(t *testing.T, bin string, target []string) {
	t.Helper()
	list := inspect(t, bin, target, "--method", "tools/list")
	tools, _ := list["tools"].([]any)
	if len(tools) != 11 {
		t.Fatalf("tools/list: %d tools", len(tools))
	}
	for _, x := range tools {
		tl := x.(map[string]any)
		ann, _ := tl["annotations"].(map[string]any)
		if ann["readOnlyHint"] != true || ann["destructiveHint"] != false || tl["outputSchema"] == nil {
			t.Errorf("%v: annotations %v, output schema %v", tl["name"], ann, tl["outputSchema"] != nil)
		}
	}
	res := inspect(t, bin, target, "--method", "tools/call", "--tool-name", "list_findings", "--tool-arg", "limit=3")
	sc, _ := res["structuredContent"].(map[string]any)
	rows, _ := sc["findings"].([]any)
	if len(rows) != 3 || !strings.HasPrefix(rows[0].(map[string]any)["id"].(string), "finding:") || sc["next_cursor"] != "3" {
		t.Fatalf("list_findings: %v", res)
	}
	out, _ := npxRun(t, bin, cliTimeout, "inspector", append(append([]string{"--cli"}, target...),
		"--method", "tools/call", "--tool-name", "query_spans", "--tool-arg", "status=broken")...)
	if !strings.Contains(out, `"isError": true`) || !strings.Contains(out, "want one of unset, ok, error") {
		t.Fatalf("bad enum: %s", out)
	}
}

func debugaiCommand(t *testing.T, store string) []string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return []string{"-e", "DEBUGAI_TEST_MAIN=1", "-e", "DEBUGAI_HMAC_KEY=" + testKey, exe, "mcp", "--store", store}
}

func TestMCPInspectorStdio(t *testing.T) {
	bin := mcpCLI(t)
	checkInspector(t, bin, debugaiCommand(t, mcpStore(t)))
}

// TestMCPInspectorStdioWhileServeOwnsStore: `debugai mcp` reads through
// the running serve's API when serve holds the file.
func TestMCPInspectorStdioWhileServeOwnsStore(t *testing.T) {
	bin := mcpCLI(t)
	store := mcpStore(t)
	startServeMCP(t, store)
	checkInspector(t, bin, debugaiCommand(t, store))
}

func TestMCPInspectorHTTP(t *testing.T) {
	bin := mcpCLI(t)
	url := startServeMCP(t, mcpStore(t))
	checkInspector(t, bin, []string{url})
}

// TestMCPConformance runs the conformance suite's generic server
// scenarios against serve's /mcp.
func TestMCPConformance(t *testing.T) {
	bin := mcpCLI(t)
	url := startServeMCP(t, mcpStore(t))
	for _, sc := range []string{"server-initialize", "ping", "tools-list", "logging-set-level",
		"server-sse-multiple-streams", "dns-rebinding-protection"} {
		t.Run(sc, func(t *testing.T) {
			out, err := npxRun(t, bin, cliTimeout, "conformance", "server", "--url", url, "--scenario", sc)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(out, "0 failed") {
				t.Fatalf("conformance %s:\n%s", sc, out)
			}
		})
	}
}
